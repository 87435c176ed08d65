"""The quota widget and the staff usage desk, headless, against a fake service answering as
docs/usage-api.md says; and the spawn form's allocation notes."""

from __future__ import annotations

import base64
import copy
import html
from datetime import UTC, date, datetime

import ipywidgets as w

from aifactory_hub.hubside.spawn_form import render_form
from aifactory_hub.policy import Hours, project_quota
from aifactory_hub.site import load_site
from aifactory_widgets import FactoryError, QuotaView, UsageDesk
from aifactory_widgets.usage.desk import preset_period
from aifactory_widgets.usage.quota import freshness, projection_text
from tests.unit.test_widgets_apply import FakeClient
from tests.unit.test_widgets_status import texts, walk

XSS = "<img src=x onerror=alert(1)>"
COLLECTOR = {"last_run_at": "2026-11-27T16:40:00+00:00", "last_success_at":
             "2026-11-27T16:40:00+00:00", "last_error": "", "watermark": None,
             "interval_s": 60, "stale": False}  # fmt: skip
H = {"gpu_hours": 0.0, "cpu_hours": 0.0}
PROJECT = {
    "account": "pg-dave", "title": XSS, "pi": "dave", "access_mode": "playground",
    "status": "active", "starts_on": "2026-11-20", "ends_on": "2026-12-20",
    "as_of": "2026-11-27T16:40:00+00:00", "has_allocation": True, "level": "80",
    "fraction_used": 0.85, "granted": {"gpu_hours": 10.0, "cpu_hours": 100.0},
    "used": {"gpu_hours": 8.5, "cpu_hours": 12.0},
    "remaining": {"gpu_hours": 1.5, "cpu_hours": 88.0},
    "partitions": [
        {"partition": "cpu", "granted": {"gpu_hours": 0.0, "cpu_hours": 100.0},
         "used": {"gpu_hours": 0.0, "cpu_hours": 4.0},
         "remaining": {"gpu_hours": 0.0, "cpu_hours": 96.0}},
        {"partition": "gpu", "granted": {"gpu_hours": 10.0, "cpu_hours": 0.0},
         "used": {"gpu_hours": 8.5, "cpu_hours": 8.0},
         "remaining": {"gpu_hours": 1.5, "cpu_hours": -8.0}},
    ],
    "burn_per_day": {"gpu_hours": 1.2, "cpu_hours": 1.7},
    "exhaustion": {"gpu": "2026-11-28", "cpu": None}, "runs_out_before_end": True,
    "daily": [{"day": "2026-11-26", "gpu_hours": 4.0, "cpu_hours": 6.0},
              {"day": "2026-11-27", "gpu_hours": 8.5, "cpu_hours": 12.0}],
    "charged": False, "charge": None,
    "members": [{"username": "dave", "role": "pi", "gpu_hours": 8.5, "cpu_hours": 12.0}],
}  # fmt: skip


class TextClient(FakeClient):
    def text(self, path: str) -> str:
        return self._answer("GET", path, None)


def bars(widget: w.Widget) -> dict[str, w.FloatProgress]:
    return {b.description: b for b in walk(widget) if isinstance(b, w.FloatProgress)}


def htmls(widget: w.Widget) -> str:
    return "".join(c.value for c in walk(widget) if isinstance(c, w.HTML))


def test_the_quota_view_shows_the_figures_bars_projection_plot_and_members():
    view = QuotaView(FakeClient({("GET", "api/usage"): {"collector": COLLECTOR,
                                                       "projects": [PROJECT]}}))  # fmt: skip
    (card,) = view.cards.children
    found = bars(card)
    assert set(found) == {"cpu CPU-hours", "gpu GPU-hours"}
    assert (found["gpu GPU-hours"].value, found["gpu GPU-hours"].max) == (8.5, 10.0)
    assert found["gpu GPU-hours"].bar_style == "warning"
    assert "Warning: over 80 %" in card.warning.value
    assert "8.50 of 10.00 used, 1.50 left" in texts(card)
    assert "run out on 2026-11-28, before the end on 2026-12-20" in card.projection.value
    assert card.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert card.members is not None and "dave" in card.members.value
    assert XSS not in htmls(card) and XSS in card.heading.value  # a Label: shown as text
    assert "Figures as of 2026-11-27 16:40 UTC" in view.status.value


def test_a_member_sees_no_breakdown_and_a_site_project_no_allocation():
    member = {**PROJECT, "members": None}
    site = {**copy.deepcopy(PROJECT), "account": "ai-alpha", "has_allocation": False,
            "level": "none", "granted": H, "exhaustion": {}, "ends_on": None}  # fmt: skip
    view = QuotaView(FakeClient({("GET", "api/usage"): {"collector": COLLECTOR,
                                                       "projects": [member, site]}}))  # fmt: skip
    first, second = view.cards.children
    assert first.members is None
    assert bars(second) == {} and any("No recorded allocation" in t for t in texts(second))
    assert "no projection" in projection_text(site)


def test_stale_figures_and_refusals_are_said():
    stale = {**COLLECTOR, "last_error": "sacct: Connection refused", "stale": True}
    line, is_stale = freshness({"collector": stale})
    assert is_stale and "could not be read since 2026-11-27 16:40 UTC" in line
    view = QuotaView(FakeClient({("GET", "api/usage"): FactoryError(0, "did not answer")}))
    assert "Could not read your usage" in view.status.value


REPORT = {
    "from": "2026-11-01", "to": "2026-11-27", "as_of": "2026-11-27T16:40:00+00:00",
    "collector": COLLECTOR, "currency": "EUR",
    "rates": {"gpu_hour_eur": 2.0, "cpu_hour_eur": 0.02, "currency": "EUR"},
    "rows": [{"account": "prj-2", "title": XSS, "pi": "carol", "organisation": "B",
              "access_mode": "fast_lane", "applicant_type": "industry", "status": "active",
              "starts_on": "2026-11-01", "ends_on": "2027-04-30",
              "granted": {"gpu_hours": 100.0, "cpu_hours": 400.0},
              "period": {"gpu_hours": 3.0, "cpu_hours": 10.0},
              "total": {"gpu_hours": 3.0, "cpu_hours": 10.0}, "fraction_used": 0.03,
              "level": "none", "charged": True, "charge": "6.20"}],
    "totals": {"gpu_hours": 3.0, "cpu_hours": 10.0, "charge": "6.20"},
}  # fmt: skip
FUNDER = {"by_access_mode": [{"key": "fast_lane", "label": "Fast lane", "projects": 1,
                              "granted": {"gpu_hours": 100.0, "cpu_hours": 400.0},
                              "used": {"gpu_hours": 3.0, "cpu_hours": 10.0}}],
          "by_applicant_type": [{"key": "industry", "label": "Industry", "projects": 1,
                                 "granted": {"gpu_hours": 100.0, "cpu_hours": 400.0},
                                 "used": {"gpu_hours": 3.0, "cpu_hours": 10.0}}]}  # fmt: skip
CSV = "account,title\r\nprj-2,x\r\n"


def desk_client(query: str) -> TextClient:
    return TextClient({
        ("GET", f"api/usage/billing?{query}"): REPORT,
        ("GET", f"api/usage/billing.csv?{query}"): CSV,
        ("GET", f"api/usage/funder?{query}"): FUNDER,
        ("POST", "api/usage/collect"): COLLECTOR,
    })  # fmt: skip


def test_the_usage_desk_shows_billing_csv_and_funder_report_for_a_period():
    today = date(2026, 11, 27)
    client = desk_client("from=2026-11-01&to=2026-11-27")
    desk = UsageDesk(client, today=today)
    assert "6.20 EUR" in desk.billing.value and html.escape(XSS) in desk.billing.value
    assert "charges 6.20 EUR" in desk.totals.value
    assert desk.download.value == ""  # the CSV is fetched when asked for
    desk.export_button.click()
    encoded = desk.download.value.split("base64,")[1].split('"')[0]
    assert base64.b64decode(encoded).decode() == CSV
    assert 'download="usage-2026-11-01-2026-11-27.csv"' in desk.download.value
    assert "Fast lane" in desk.by_mode.value and "Industry" in desk.by_type.value
    # another period asks again, for that period
    client.answers.update(desk_client("from=2026-10-01&to=2026-10-31").answers)
    desk.preset.value = "Last month"
    assert (desk.first.value, desk.last.value) == (date(2026, 10, 1), date(2026, 10, 31))
    assert ("GET", "api/usage/funder?from=2026-10-01&to=2026-10-31", None) in client.calls
    desk.collect_button.click()
    assert client.sent("POST", "api/usage/collect") == [{}]


def test_period_presets():
    today = date(2026, 1, 15)
    assert preset_period("Last month", today) == (date(2025, 12, 1), date(2025, 12, 31))
    assert preset_period("Last 30 days", today) == (date(2025, 12, 17), today)
    assert preset_period("This year", today) == (date(2026, 1, 1), today)


def test_the_spawn_form_shows_what_is_left_and_warns():
    site = load_site()
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    projects = site.projects_of("bob")
    quotas = {"ai-alpha": project_quota("ai-alpha", {"gpu": Hours(10, 10)}, [], now)}
    form = render_form(site, projects, None, {}, quotas)
    assert "10.0 GPU-h, 10.0 CPU-h left" in form
    assert "ai-beta - Beta Health: clinical text de-identification (no recorded allocation)" in (
        html.unescape(form)
    )
    assert 'id="aif-quota"' in form


STORAGE = {
    "measured": True, "used_gb": 4.3, "bytes": 4_300_000_000, "files": 12345,
    "allowance_gb": 5.0, "percent": 86.0, "level": "80", "lower_bound": False,
    "measured_at": "2026-11-27T16:35:00+00:00", "scratch_purge_days": 14,
    "folders": [
        {"folder": "project", "env": "PROJECT_DIR", "path": "/srv/aifactory/projects/pg-dave",
         "measured": True, "exists": True, "used_gb": 4.0, "bytes": 4_000_000_000,
         "files": 12000, "complete": True, "error": "",
         "measured_at": "2026-11-27T16:35:00+00:00"},
        {"folder": "scratch", "env": "SCRATCH_DIR", "path": "/srv/aifactory/scratch/pg-dave",
         "measured": True, "exists": True, "used_gb": 0.3, "bytes": 300_000_000,
         "files": 345, "complete": True, "error": "",
         "measured_at": "2026-11-27T16:35:00+00:00"},
    ],
}  # fmt: skip


def test_the_quota_view_shows_storage_next_to_the_hours_with_the_warning_and_the_folders():
    project = {**PROJECT, "storage": STORAGE}
    view = QuotaView(FakeClient({("GET", "api/usage"): {"collector": COLLECTOR,
                                                       "projects": [project]}}))  # fmt: skip
    (card,) = view.cards.children
    box = card.storage
    assert box.line.value == ("Storage: 4.30 GB of 5 GB (86.0 %) in 12,345 entries, "
                              "measured 2026-11-27 16:35 UTC.")  # fmt: skip
    assert (box.bar.value, box.bar.max, box.bar.bar_style) == (4.3, 5.0, "warning")
    assert "over 80 % of its storage allowance" in box.warning.value
    assert "$PROJECT_DIR" in box.folders.value and "/srv/aifactory/scratch/pg-dave" in (
        box.folders.value
    )
    assert "files unchanged for 14 days are removed" in box.folders.value
    assert card.children.index(box) == card.children.index(card.bars) + 1  # next to the hours


def test_storage_over_the_allowance_a_lower_bound_and_a_missing_folder_are_said():
    folders = [{**STORAGE["folders"][0], "complete": False,
                "error": "stopped after 200000 entries: the figures are a lower bound"},
               {**STORAGE["folders"][1], "exists": False, "used_gb": 0.0, "files": 0}]  # fmt: skip
    storage = {**STORAGE, "used_gb": 6.0, "percent": 120.0, "level": "exhausted",
               "lower_bound": True, "folders": folders}  # fmt: skip
    box = QuotaView(FakeClient({("GET", "api/usage"): {
        "collector": COLLECTOR, "projects": [{**PROJECT, "storage": storage}]}})
    ).cards.children[0].storage  # fmt: skip
    assert box.line.value.startswith("Storage: at least 6.00 GB of 5 GB (120.0 %)")
    assert box.bar.value == box.bar.max == 5.0 and box.bar.bar_style == "danger"
    assert "more than its allowance" in box.warning.value
    assert "at least: stopped after 200000 entries" in box.folders.value
    assert "not made yet" in box.folders.value


def test_storage_not_measured_yet_or_without_allowance():
    never = {**STORAGE, "measured": False, "used_gb": None, "files": None, "level": "none",
             "folders": [{**f, "measured": False, "used_gb": None, "files": None}
                         for f in STORAGE["folders"]]}  # fmt: skip
    box = QuotaView(FakeClient({("GET", "api/usage"): {
        "collector": COLLECTOR, "projects": [{**PROJECT, "storage": never}]}})
    ).cards.children[0].storage  # fmt: skip
    assert box.line.value.startswith("Storage: not measured yet") and box.bar is None
    assert box.warning.value == "" and "not measured yet" in box.folders.value
    unlimited = {**STORAGE, "allowance_gb": None, "percent": None, "level": "none"}
    box = QuotaView(FakeClient({("GET", "api/usage"): {
        "collector": COLLECTOR, "projects": [{**PROJECT, "storage": unlimited}]}})
    ).cards.children[0].storage  # fmt: skip
    assert "(no allowance set)" in box.line.value and box.bar is None


def test_the_usage_desk_shows_storage_per_project_and_measures_on_request():
    query = "from=2026-11-01&to=2026-11-27"
    row = {"account": "prj-2", "title": XSS, "access_mode": "fast_lane", "used_gb": 0.000373,
           "files": 7, "allowance_gb": 200.0, "percent": 0.0002, "level": "none",
           "lower_bound": False, "measured_at": "2026-11-27T16:35:00+00:00"}  # fmt: skip
    never = {**row, "account": "ai-beta", "used_gb": None, "files": None, "percent": None,
             "measured_at": None, "access_mode": "site", "allowance_gb": 2.0}  # fmt: skip
    funder = {**FUNDER, "storage": [row, never],
              "storage_totals": {"projects": 1, "used_gb": 0.000373, "files": 7,
                                 "lower_bound": False},
              "storage_pass": {"last_success_at": "2026-11-27T16:35:00+00:00"}}  # fmt: skip
    client = desk_client(query)
    client.answers[("GET", f"api/usage/funder?{query}")] = funder
    client.answers[("POST", "api/usage/storage")] = {"last_error": "", "accounts": 2}
    desk = UsageDesk(client, today=date(2026, 11, 27))
    assert "0.4 MB" in desk.storage.value and "200 GB" in desk.storage.value
    assert "not measured" in desk.storage.value and html.escape(XSS) in desk.storage.value
    assert "1 project holds 0.4 MB in 7 entries" in desk.storage_totals.value
    calls = len(client.calls)
    desk.measure_button.click()
    assert client.sent("POST", "api/usage/storage") == [{}]
    assert ("GET", f"api/usage/funder?{query}", None) in client.calls[calls:]  # shown again
