"""A project's storage as the quota view shows it (`storage_json`): both folders together
against the access mode's allowance, the warning, the lower bound, a folder never made, and
a project never measured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aifactory_hub.data.storage_use import MISSING, Measured, storage_json
from aifactory_hub.site.storage import StorageSettings

T = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
STORAGE = StorageSettings(
    project_root="/p", scratch_root="/s", allowance_gb={"site": 2, "playground": 1}
)


def test_both_folders_count_against_the_allowance_of_the_access_mode():
    figures = {"project": Measured(600_000_000, 10, True, "", T),
               "scratch": Measured(250_000_000, 5, True, "", T - timedelta(minutes=1))}  # fmt: skip
    got = storage_json(STORAGE, "pg-dave", "playground", figures)
    assert got["bytes"] == 850_000_000 and got["used_gb"] == 0.85 and got["files"] == 15
    assert got["allowance_gb"] == 1 and got["percent"] == 85.0 and got["level"] == "80"
    assert got["measured_at"] == (T - timedelta(minutes=1)).isoformat()  # the older figure
    assert not got["lower_bound"]
    assert [(f["env"], f["path"]) for f in got["folders"]] == [
        ("PROJECT_DIR", "/p/pg-dave"), ("SCRATCH_DIR", "/s/pg-dave")]  # fmt: skip


def test_a_site_project_gets_the_site_allowance_and_a_bounded_scan_is_a_lower_bound():
    figures = {"project": Measured(1_950_000_000, 200_000, False, "stopped after ...", T)}
    got = storage_json(STORAGE, "ai-alpha", "site", figures)
    assert got["allowance_gb"] == 2 and got["level"] == "95" and got["lower_bound"]
    scratch = got["folders"][1]
    assert not scratch["measured"] and scratch["used_gb"] is None


def test_a_folder_never_made_is_shown_as_missing_not_as_an_error():
    figures = {"project": Measured(4096, 1, True, "", T),
               "scratch": Measured(0, 0, True, MISSING, T)}  # fmt: skip
    got = storage_json(STORAGE, "ai-beta", "site", figures)
    scratch = got["folders"][1]
    assert scratch["measured"] and not scratch["exists"] and scratch["error"] == ""
    assert got["level"] == "none" and got["files"] == 1


def test_no_allowance_means_no_percent_and_no_warning():
    figures = {"project": Measured(10**12, 1, True, "", T)}
    got = storage_json(STORAGE, "prj-9", "fast_lane", figures)  # fast_lane not in this site
    assert got["allowance_gb"] is None and got["percent"] is None and got["level"] == "none"


def test_never_measured():
    got = storage_json(STORAGE, "prj-9", "playground", {})
    assert not got["measured"] and got["used_gb"] is None and got["measured_at"] is None
    assert got["level"] == "none" and got["allowance_gb"] == 1
