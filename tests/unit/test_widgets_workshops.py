"""The workshop desk (trainers), its room view and the participants' help button, headless.

The proposal desk's fake client records every (method, path, body) and answers here with JSON
shaped as in docs/workshops-api.md, so the tests see exactly what each click sends.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
from typing import Any

import ipywidgets as w
import pytest

from aifactory_hub.console.dashboards import from_metadata, read_metadata
from aifactory_widgets import FactoryError, HelpButton, WorkshopDesk
from aifactory_widgets.ui.panel import ERROR_COLOUR
from aifactory_widgets.ui.tables import csv_link
from aifactory_widgets.workshops.desk import credentials_csv, environment_options
from aifactory_widgets.workshops.help import SEEN
from aifactory_widgets.workshops.room import extended_end
from tests.unit.test_widgets_desks import DASHBOARDS, XSS, FakeClient, html_values

WORKSHOP = {
    "id": 3,
    "title": "Intro to the AI factory",
    "trainer": "tess",
    "status": "active",
    "starts_at": "2026-11-27T09:00:00+00:00",
    "ends_at": "2026-11-27T17:00:00+00:00",
    "partition": "cpu",
    "cpus": 1,
    "memory_gb": 2,
    "gpus": 0,
    "participants": 3,
    "materials": "workshop-intro",
    "account": "ws-3",
    "reservation": "ws-3",
}
ROOM = [
    {
        "username": "ws3-01",
        "state": "running",
        "last_activity": "2026-11-27T10:40:00+00:00",
        "hand_raised_at": None,
        "job_id": "123",
    },
    {
        "username": XSS,
        "state": "not_logged_in",
        "last_activity": None,
        "hand_raised_at": "2026-11-27T10:45:30+00:00",
        "job_id": None,
    },
    {
        "username": "ws3-03",
        "state": "idle",
        "last_activity": "2026-11-27T10:20:00+00:00",
        "hand_raised_at": "2026-11-27T10:42:10+00:00",
        "job_id": "125",
    },
]
NEW = {**WORKSHOP, "id": 4, "title": "GPU day", "status": "planned", "participants": 2}
CREDENTIALS = [
    {"username": "ws4-01", "password": "Xq7-pA_9zT"},
    {"username": "ws4-02", "password": "b8Kd_Lm-2Q"},
]
PARTITION = {
    "name": "gpu",
    "description": "",
    "default": False,
    "nodes": 1,
    "cpus_per_node": 32,
    "memory_gb_per_node": 128,
    "gpu_type": "a100",
    "gpus_per_node": 4,
    "max_walltime_hours": 8,
    "max_cpus": 16,
    "max_memory_gb": 64,
    "max_gpus": 2,
    "min_gpus": 1,
}

# As `GET api/site` lists them: the default first; `cuda` is offered on the GPU partition only.
ENVIRONMENTS = [
    {"name": "factory", "description": "The factory's own stack", "modules": [],
     "partitions": ["cpu", "gpu"], "default": True},
    {"name": "jax", "description": "JAX and NumPy", "modules": ["jax/0.10"],
     "partitions": ["cpu", "gpu"], "default": False},
    {"name": "cuda", "description": "", "modules": [], "partitions": ["gpu"], "default": False},
]  # fmt: skip


def workshop_answers() -> dict[tuple[str, str], Any]:
    room = {**WORKSHOP, "room": ROOM}
    return {
        ("GET", "api/site"): {
            "name": "Demo AI factory",
            "default_partition": "gpu",
            "partitions": [{**PARTITION, "name": "cpu", "max_gpus": 0, "min_gpus": 0}, PARTITION],
            "environments": ENVIRONMENTS,
        },
        ("GET", "api/workshops"): [WORKSHOP],
        ("GET", "api/workshops/3"): room,
        ("GET", "api/workshops/4"): {**NEW, "room": []},
        ("POST", "api/workshops"): {"workshop": NEW, "credentials": CREDENTIALS},
        ("POST", "api/workshops/3/extend"): {
            **WORKSHOP,
            "ends_at": "2026-11-27T17:30:00+00:00",
            "room": ROOM,
        },
        ("POST", "api/workshops/3/end"): {**WORKSHOP, "status": "ended", "problems": []},
        ("POST", "api/workshops/3/participants/ws3-03/restart"): {"restarting": "ws3-03"},  # 202
        ("DELETE", "api/workshops/3/hands/ws3-03"): room,
        ("GET", "api/workshops/mine"): {
            "id": 3,
            "title": "Intro to the AI factory",
            "ends_at": "2026-11-27T17:00:00+00:00",
            "hand_raised": False,
        },
        ("POST", "api/workshops/mine/hand"): {"hand_raised": True},
    }


@pytest.fixture
def client() -> FakeClient:
    fake = FakeClient()
    fake.answers = workshop_answers()
    return fake


@pytest.fixture
def desk(client: FakeClient) -> WorkshopDesk:
    return WorkshopDesk(client)


def fill_form(desk: WorkshopDesk, end_time: str = "12:30") -> None:
    form = desk.new
    form.title.value = " GPU day "
    form.start_day.value = dt.date(2026, 12, 3)
    form.start_time.value = "9:00"
    form.end_day.value = dt.date(2026, 12, 3)
    form.end_time.value = end_time
    form.participants.value = 2
    form.partition.value = "gpu"
    form.cpus.value, form.memory_gb.value, form.gpus.value = 4, 16, 1


def row_of(desk: WorkshopDesk, user: str) -> w.HBox:
    return next(r for r in desk.room.room_rows.children[1:] if r.children[0].value == user)


def row_texts(desk: WorkshopDesk, user: str) -> list[str]:
    return [
        c.value if isinstance(c, w.Label) else c.description for c in row_of(desk, user).children
    ]


def button(desk: WorkshopDesk, user: str, description: str) -> w.Button:
    return next(c for c in row_of(desk, user).children if c.description == description)


def test_create_posts_utc_times_and_shows_every_account_once(desk, client):
    fill_form(desk)
    client.answers[("GET", "api/workshops")] = [WORKSHOP, NEW]  # once created
    desk.new.create_button.click()
    assert client.writes() == [
        (
            "POST",
            "api/workshops",
            {
                "title": "GPU day",
                "starts_at": "2026-12-03T09:00:00+00:00",
                "ends_at": "2026-12-03T12:30:00+00:00",
                "participants": 2,
                "partition": "gpu",
                "cpus": 4,
                "memory_gb": 16,
                "gpus": 1,
                "materials": "workshop-intro",
            },
        )
    ]
    shown = desk.new.credentials.value
    for account in CREDENTIALS:
        assert account["username"] in shown and account["password"] in shown
    link = re.search(
        r'<a download="workshop-4-accounts.csv" href="data:text/csv;[^"]*base64,([^"]+)"', shown
    )
    assert link is not None
    assert base64.b64decode(link[1]).decode() == credentials_csv(CREDENTIALS)
    assert "print this page" in shown
    assert "Created workshop 4" in desk.new.message.value
    assert desk.room.pick.value == 4 and ("GET", "api/workshops/4", None) in client.sent


def test_an_end_before_the_start_is_refused_before_sending(desk, client):
    fill_form(desk, end_time="08:59")
    desk.new.create_button.click()
    assert client.writes() == []
    assert "must be after the start" in desk.new.message.value
    assert desk.new.message.style.text_color == ERROR_COLOUR


@pytest.mark.parametrize("time_text", ["9h", "24:00", "12:60", ""])
def test_a_time_not_hh_mm_is_refused_before_sending(desk, client, time_text):
    fill_form(desk, end_time=time_text)
    desk.new.create_button.click()
    assert client.writes() == [] and "HH:MM in UTC" in desk.new.message.value


def test_a_missing_date_is_refused_before_sending(desk, client):
    fill_form(desk)
    desk.new.end_day.value = None
    desk.new.create_button.click()
    assert client.writes() == [] and desk.new.message.value == "Give the end date."


def test_csv_link_holds_every_account_and_escapes_the_name():
    csv_text = credentials_csv(CREDENTIALS)
    assert csv_text.splitlines() == ["username,password", "ws4-01,Xq7-pA_9zT", "ws4-02,b8Kd_Lm-2Q"]
    link = csv_link(csv_text, f'"{XSS}.csv')
    assert XSS not in link and html.escape(f'"{XSS}', quote=True) in link


def test_partitions_bound_the_sizes(desk):
    form = desk.new
    assert isinstance(form.partition, w.Dropdown) and form.partition.value == "gpu"  # the default
    assert (form.cpus.max, form.memory_gb.max, form.gpus.min, form.gpus.max) == (16, 64, 1, 2)
    form.partition.value = "cpu"
    assert (form.gpus.min, form.gpus.max, form.gpus.value) == (0, 0, 0)


def test_the_environments_offered_on_the_partition_are_the_choices(desk, client):
    form = desk.new
    assert form.environment.layout.display is None
    assert list(form.environment.options) == [
        ("factory: The factory's own stack (the default)", ""),
        ("jax: JAX and NumPy", "jax"),
        ("cuda", "cuda"),
    ]
    form.environment.value = "cuda"
    form.partition.value = "cpu"  # not offered there: back to the default
    assert [v for _, v in form.environment.options] == ["", "jax"]
    assert form.environment.value == ""
    fill_form(desk)
    form.environment.value = "jax"
    form.create_button.click()
    [(_, _, body)] = client.writes()
    assert body["environment"] == "jax" and body["partition"] == "gpu"


def test_a_site_without_environments_shows_no_choice_and_sends_none(client):
    client.answers[("GET", "api/site")].pop("environments")
    desk = WorkshopDesk(client)
    assert desk.new.environment.layout.display == "none"
    fill_form(desk)
    desk.new.create_button.click()
    [(_, _, body)] = client.writes()
    assert "environment" not in body


def test_a_partition_without_environments_says_so():
    assert environment_options(ENVIRONMENTS, "tiny") == [("none offered on tiny", "")]


def test_without_partitions_the_form_takes_a_typed_name(client):
    client.answers[("GET", "api/site")] = FactoryError(404, "no such endpoint")
    desk = WorkshopDesk(client)
    form = desk.new
    assert isinstance(form.partition, w.Text) and "no such endpoint" in form.partition_hint.value
    fill_form(desk)
    form.partition.value = " cpu "
    form.create_button.click()
    [(_, _, body)] = client.writes()
    assert body["partition"] == "cpu" and form.cpus.max == 256


def test_room_counts_raised_hands_and_escapes_names(desk):
    room = desk.room
    assert room.pick.value == 3 and desk.tabs.selected_index == 0
    hands = room.hands.value
    assert "✋ 2 raised hands" in hands
    assert hands.index("ws3-03 since 10:42") < hands.index(html.escape(XSS))  # first raised first
    assert XSS not in hands
    assert [m for m in html_values(desk) if XSS in m] == []
    assert row_texts(desk, "ws3-03")[:5] == ["ws3-03", "idle", "10:20 UTC", "125", "✋ since 10:42"]
    assert row_texts(desk, XSS)[:5] == [XSS, "not logged in", "-", "-", "✋ since 10:45"]
    assert row_texts(desk, "ws3-01")[4] == "" and button(desk, "ws3-01", "Lower hand").disabled
    assert (
        "Intro to the AI factory" in room.table.value and "1 CPU, 2 GB, 0 GPU" in room.table.value
    )


def test_restart_asks_first_and_only_then_posts(desk, client):
    button(desk, "ws3-03", "Restart session").click()
    confirm = desk.room.confirm
    assert client.writes() == []
    assert (
        confirm.question.value
        == "Restart ws3-03's session (Slurm job 125)? Unsaved work in it is lost."
    )
    confirm.no.click()
    assert client.writes() == [] and not confirm.asking
    button(desk, "ws3-03", "Restart session").click()
    confirm.yes.click()
    assert client.writes() == [("POST", "api/workshops/3/participants/ws3-03/restart", {})]
    assert "Restarting ws3-03's session" in desk.room.message.value
    assert client.sent[-1] == ("GET", "api/workshops/3", None)


def test_lower_hand(desk, client):
    button(desk, "ws3-03", "Lower hand").click()
    assert client.writes() == [("DELETE", "api/workshops/3/hands/ws3-03", None)]
    assert desk.room.message.value == "Lowered ws3-03's hand."


def test_extend_computes_the_new_end_from_the_current_one(desk, client):
    thirty, hour = desk.room.extend_buttons
    thirty.click()
    hour.click()
    assert client.writes() == [
        ("POST", "api/workshops/3/extend", {"ends_at": "2026-11-27T17:30:00+00:00"}),
        ("POST", "api/workshops/3/extend", {"ends_at": "2026-11-27T18:00:00+00:00"}),
    ]
    assert extended_end("2026-11-27T18:00:00Z", 30) == "2026-11-27T18:30:00+00:00"
    assert "now ends 2026-11-27" in desk.room.message.value


def test_end_asks_with_the_counts_and_only_then_posts(desk, client):
    room = desk.room
    room.end_button.click()
    assert client.writes() == []
    assert room.confirm.question.value == (
        "End workshop 3 (Intro to the AI factory)? Stop 2 sessions, delete the reservation and "
        "disable 3 accounts?"
    )
    room.timer.value += 1  # a refresh meanwhile keeps the question
    assert room.confirm.asking
    room.confirm.yes.click()
    assert client.writes() == [("POST", "api/workshops/3/end", {})]
    assert "accounts disabled" in room.message.value
    assert room.message.style.text_color != ERROR_COLOUR


def test_end_shows_the_steps_that_failed(client):
    ended = {**WORKSHOP, "status": "ended", "problems": ["reservation: slurm is down"]}
    client.answers[("POST", "api/workshops/3/end")] = ended
    room = WorkshopDesk(client).room
    room.end_button.click()
    room.confirm.yes.click()
    assert "Not done: reservation: slurm is down" in room.message.value
    assert room.message.style.text_color == ERROR_COLOUR


def test_the_browser_timer_refreshes_the_room(client):
    room = WorkshopDesk(client, refresh_s=5).room
    before = client.sent.count(("GET", "api/workshops/3", None))
    room.timer.value += 1
    assert client.sent.count(("GET", "api/workshops/3", None)) == before + 1
    assert room.timer.interval == 5000 and "refreshes every 5 s" in room.status.value


async def test_timer_is_nudged_until_the_page_ticks(client):
    room = WorkshopDesk(client).room
    assert await room.start_timer(every_s=0.01, give_up_s=0.03) is False
    assert "Refresh now" in room.status.value
    room.timer.value += 1
    assert await room.start_timer(every_s=0.01, give_up_s=0.03) is True


def test_refusals_are_shown_not_raised(client):
    client.answers[("GET", "api/workshops")] = FactoryError(403, "sam lacks the scope x")
    desk = WorkshopDesk(client)
    assert desk.room.message.value == "Could not read the workshops: sam lacks the scope x"
    assert desk.tabs.selected_index == 1
    client.answers[("GET", "api/workshops")] = [WORKSHOP]
    client.answers[("POST", "api/workshops/3/end")] = FactoryError(409, "workshop 3 has ended")
    desk.room.load()
    desk.room.end_button.click()
    desk.room.confirm.yes.click()
    assert desk.room.message.value == "The workshop was not ended: workshop 3 has ended"


def test_an_ended_workshop_offers_no_actions(client):
    client.answers[("GET", "api/workshops/3")] = {**WORKSHOP, "status": "ended", "room": ROOM}
    desk = WorkshopDesk(client)
    assert desk.room.end_button.disabled and all(b.disabled for b in desk.room.extend_buttons)
    assert button(desk, "ws3-01", "Restart session").disabled


def test_help_button_posts_and_reports(client):
    widget = HelpButton(client)
    assert not widget.raise_button.disabled
    assert widget.message.value == "Intro to the AI factory: ends 17:00 UTC."
    widget.raise_button.click()
    assert client.writes() == [("POST", "api/workshops/mine/hand", {})]
    assert widget.message.value == SEEN


def test_help_button_outside_a_workshop_is_off(client):
    client.answers[("GET", "api/workshops/mine")] = FactoryError(404, "not in a workshop")
    widget = HelpButton(client)
    assert widget.raise_button.disabled
    assert widget.raise_button.description == "You are in no workshop"


def test_help_button_shows_a_refusal(client, monkeypatch):
    client.answers[("POST", "api/workshops/mine/hand")] = FactoryError(403, "the workshop ended")
    widget = HelpButton(client)
    widget.raise_button.click()
    assert widget.message.value == "Your hand was not raised: the workshop ended"
    monkeypatch.delenv("AIFACTORY_FACTORY_URL", raising=False)
    outside = HelpButton()
    assert (
        outside.raise_button.disabled
        and "not running under AI Factory Hub" in outside.message.value
    )


def test_dashboard_declares_its_scope():
    path = DASHBOARDS / "workshops.ipynb"
    dashboard = from_metadata(path.name, read_metadata(path))
    assert (dashboard.title, dashboard.order) == ("Workshops", 60) and dashboard.description
    assert dashboard.scope == "custom:aifactory:workshops:manage"
    assert "WorkshopDesk(refresh_s=" in path.read_text()
