"""The JupyterLab server extension (aifactory_lab): the launcher's cards, the starter notebooks
opened once and never over the user's edits, the status bar's session facts with Slurm and the
factory service faked (or really unreachable), and the Jupyter configuration it ships.

The routes are tested in an in-process Jupyter server (no subprocess, the host's Jupyter
configuration kept out), at a JupyterHub-style base URL."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import sys
import threading
import tomllib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import nbformat
import pytest
from jupyter_server.serverapp import ServerApp
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from traitlets.config import Config

import aifactory_widgets
from aifactory_hub import slurm
from aifactory_hub.environments.kernels import FACTORY_KERNEL, FACTORY_KERNEL_LABEL
from aifactory_hub.slurm import jobs
from aifactory_lab import install, starters
from aifactory_lab.cards import CARDS, cards_json, find_card
from aifactory_lab.handlers import handlers
from aifactory_lab.session import NOT_A_JOB, SessionFacts, hours_left, service_usage, slurm_session
from aifactory_widgets import FactoryError

ROOT = Path(__file__).resolve().parents[2]
ORDER = ["quota", "guides", "advisor", "expert", "dask", "training", "sweep", "monitor", "use",
         "apply", "projects", "environments"]  # fmt: skip
JOB_ENV = {
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_ACCOUNT": "ai-beta",
    "SLURM_JOB_PARTITION": "cpu",
    "SLURMD_NODENAME": "node2",
}
END = datetime(2026, 12, 6, 3, 49, 9, tzinfo=UTC)
USAGE = {
    "account": "ai-beta", "has_allocation": True,
    "granted": {"gpu_hours": 10.0, "cpu_hours": 100.0},
    "used": {"gpu_hours": 8.5, "cpu_hours": 12.0},
    "remaining": {"gpu_hours": 1.5, "cpu_hours": 88.0},
}  # fmt: skip


# --- the cards and their starter notebooks -------------------------------------------------


def test_the_cards_are_listed_in_the_launchers_order():
    assert [card["id"] for card in cards_json()] == ORDER
    for card in cards_json():
        assert set(card) == {"id", "title", "caption", "starter"}
        assert card["starter"] == f"{card['id']}.ipynb" and card["title"] and card["caption"]


def test_a_card_is_found_by_its_exact_id_only():
    assert find_card("quota") is CARDS[0]
    for other in ("Quota", "quota.ipynb", "../quota", "", "quota/", "."):
        assert find_card(other) is None


def _imported_names(source: str) -> list[str]:
    lines = [line for line in source.splitlines() if line.startswith("from aifactory_widgets")]
    return [name.strip() for line in lines for name in line.split(" import ")[1].split(",")]


@pytest.mark.parametrize("card", CARDS, ids=lambda c: c.id)
def test_each_starter_is_a_valid_notebook_that_shows_its_widget(card):
    notebook = nbformat.reads(starters.starter_text(card).decode(), as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == FACTORY_KERNEL
    assert notebook.metadata.kernelspec.display_name == FACTORY_KERNEL_LABEL
    about, code = notebook.cells
    assert about.cell_type == "markdown" and about.source.startswith("# ")
    assert code.cell_type == "code"
    names = _imported_names(code.source)
    assert names, f"{card.id}: the code cell imports no widget"
    for name in names:
        assert name in aifactory_widgets.__all__, f"{card.id}: no widget {name}"
        assert f"{name}()" in code.source, f"{card.id}: {name} is imported but not shown"


def test_every_shipped_starter_belongs_to_a_card():
    shipped = sorted(p.stem for p in (ROOT / "extensions/aifactory_lab/starters").glob("*.ipynb"))
    assert shipped == sorted(ORDER)


# --- opening a card: the copy is made once ---------------------------------------------------


def test_opening_a_card_copies_its_starter_once_and_never_over_the_users_edits(tmp_path):
    quota = find_card("quota")
    first = starters.open_starter(tmp_path, quota)
    assert first == starters.Opened("AI Factory/quota.ipynb", created=True)
    copy = tmp_path / first.path
    assert copy.read_bytes() == starters.starter_text(quota)

    copy.write_text("my own notebook now")
    again = starters.open_starter(tmp_path, quota)
    assert again == starters.Opened("AI Factory/quota.ipynb", created=False)
    assert copy.read_text() == "my own notebook now"
    assert sorted(os.listdir(copy.parent)) == ["quota.ipynb"]  # no temporary file left


def test_two_clicks_at_once_make_one_copy(tmp_path):
    card = find_card("dask")
    results: list[starters.Opened] = []
    start = threading.Barrier(8)

    def click() -> None:
        start.wait()
        results.append(starters.open_starter(tmp_path, card))

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.created for r in results) == [False] * 7 + [True]
    assert (tmp_path / "AI Factory/dask.ipynb").read_bytes() == starters.starter_text(card)
    assert os.listdir(tmp_path / "AI Factory") == ["dask.ipynb"]


@pytest.mark.hardening(
    "attack",
    "a symlink planted at the name of a card's starter copy in the user's folder",
    "not written through: the link's target is not created, the card opens what is there",
)
def test_a_link_at_the_copys_name_is_never_written_through(tmp_path):
    outside = tmp_path / "outside.txt"
    (tmp_path / "AI Factory").mkdir()
    (tmp_path / "AI Factory/guides.ipynb").symlink_to(outside)  # dangling
    opened = starters.open_starter(tmp_path, find_card("guides"))
    assert opened.created is False
    assert not outside.exists()


def test_without_hard_links_the_copy_is_still_made_once(tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    card = find_card("sweep")
    assert starters.open_starter(tmp_path, card).created is True
    assert starters.open_starter(tmp_path, card).created is False
    assert (tmp_path / "AI Factory/sweep.ipynb").read_bytes() == starters.starter_text(card)
    assert os.listdir(tmp_path / "AI Factory") == ["sweep.ipynb"]


# --- the session's facts ---------------------------------------------------------------------


def test_the_job_facts_come_from_slurms_environment():
    job = slurm_session(JOB_ENV)
    assert (job.job_id, job.project, job.partition, job.node) == ("4242", "ai-beta", "cpu", "node2")
    for env in ({}, {"SLURM_JOB_ID": ""}, {"SLURM_JOB_ID": "12; rm -rf ~"}):
        assert slurm_session(env).job_id is None


def test_hours_left_from_the_projects_usage():
    assert hours_left(USAGE) == (
        {"gpu_hours_left": 1.5, "gpu_hours_granted": 10.0, "cpu_hours_left": 88.0},
        [],
    )
    none = {"gpu_hours_left": None, "gpu_hours_granted": None, "cpu_hours_left": None}
    assert hours_left({"account": "pg-x", "has_allocation": False}) == (
        none,
        ["pg-x has no recorded allocation"],
    )
    cpu_only = {**USAGE, "granted": {"gpu_hours": 0.0, "cpu_hours": 50.0},
                "remaining": {"gpu_hours": 0.0, "cpu_hours": -2.5}}  # fmt: skip
    hours, notes = hours_left(cpu_only)
    assert hours == {**none, "cpu_hours_left": -2.5}
    assert notes == ["ai-beta's allocation grants no GPU-hours"]


class Calls:
    """A fake Slurm end time and a fake service that count how often they are asked."""

    def __init__(self, end: datetime | None = END, usage: dict | Exception = USAGE):
        self.end, self.usage_answer = end, usage
        self.ends: list[str] = []
        self.usages: list[str] = []

    async def end_time(self, job_id: str) -> datetime | None:
        self.ends.append(job_id)
        if isinstance(self.end, Exception):
            raise self.end
        return self.end

    def usage(self, account: str) -> dict:
        self.usages.append(account)
        if isinstance(self.usage_answer, Exception):
            raise self.usage_answer
        return self.usage_answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def facts_with(calls: Calls, env: dict | None = None, clock: Clock | None = None) -> SessionFacts:
    return SessionFacts(
        JOB_ENV if env is None else env,
        end_time=calls.end_time,
        usage=calls.usage,
        clock=clock or Clock(),
    )


async def test_the_session_answer_in_a_slurm_job():
    calls = Calls()
    assert await facts_with(calls).answer() == {
        "job_id": "4242", "project": "ai-beta", "partition": "cpu", "node": "node2",
        "ends_at": "2026-12-06T03:49:09+00:00",
        "gpu_hours_left": 1.5, "gpu_hours_granted": 10.0, "cpu_hours_left": 88.0,
        "notes": [],
    }  # fmt: skip
    assert (calls.ends, calls.usages) == (["4242"], ["ai-beta"])


async def test_a_server_that_is_no_slurm_job_answers_nulls_without_asking_anyone():
    calls = Calls()
    answer = await facts_with(calls, env={"HOME": "/home/bob"}).answer()
    assert {k: v for k, v in answer.items() if k != "notes"} == dict.fromkeys(
        ("job_id", "project", "partition", "node", "ends_at", "gpu_hours_left",
         "gpu_hours_granted", "cpu_hours_left")
    )  # fmt: skip
    assert answer["notes"] == [NOT_A_JOB]
    assert (calls.ends, calls.usages) == ([], [])


async def test_an_unreachable_service_or_slurm_gives_nulls_and_says_why():
    calls = Calls(
        end=slurm.ControllerUnreachable(["squeue"], 1, "", "Unable to contact slurm controller"),
        usage=FactoryError(0, "the factory service did not answer: Connection refused"),
    )
    answer = await facts_with(calls).answer()
    assert answer["project"] == "ai-beta" and answer["ends_at"] is None
    assert answer["gpu_hours_left"] is answer["cpu_hours_left"] is None
    assert len(answer["notes"]) == 2
    assert "Unable to contact slurm controller" in answer["notes"][0]
    assert "did not answer" in answer["notes"][1]


async def test_the_real_client_to_a_service_that_does_not_answer(monkeypatch):
    """The widgets' own client, pointed at a port nothing listens on: a note, never an error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AIFACTORY_FACTORY_URL", f"http://127.0.0.1:{port}/services/factory/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "not-a-token")
    with pytest.raises(FactoryError):
        service_usage("ai-beta")
    facts = SessionFacts(JOB_ENV, end_time=Calls().end_time)  # the real service_usage
    answer = await facts.answer()
    assert answer["gpu_hours_left"] is None and answer["ends_at"] is not None
    assert (
        answer["notes"]
        == [
            note for note in answer["notes"] if note.startswith("the factory service gave no hours")
        ]
        and len(answer["notes"]) == 1
    )


async def test_slurm_and_the_service_are_asked_at_most_once_a_minute():
    calls, clock = Calls(), Clock()
    facts = facts_with(calls, clock=clock)
    await asyncio.gather(*(facts.answer() for _ in range(5)))
    clock.now += 59
    await facts.answer()
    assert (len(calls.ends), len(calls.usages)) == (1, 1)
    clock.now += 1
    calls.end = END.replace(hour=4)  # staff extended the job
    answer = await facts.answer()
    assert (len(calls.ends), len(calls.usages)) == (2, 2)
    assert answer["ends_at"] == "2026-12-06T04:49:09+00:00"


async def test_a_failure_is_remembered_for_a_minute_too():
    calls, clock = Calls(usage=FactoryError(0, "down")), Clock()
    facts = facts_with(calls, clock=clock)
    await facts.answer()
    await facts.answer()
    assert len(calls.usages) == 1
    clock.now += 60
    calls.usage_answer = USAGE
    assert (await facts.answer())["gpu_hours_left"] == 1.5


# --- squeue's end time ------------------------------------------------------------------------

# What the real squeue printed for session job 3598 (tests/hub/test_lab_session.py), with
# SACCT_ENV: times in UTC.
SQUEUE_END = "3598|2026-12-06T02:29:15\n"


def test_the_end_time_is_squeues_for_that_job_in_utc():
    assert jobs.end_time_argv("3598") == [
        "squeue", "--noheader", "--jobs=3598", "--format=%i|%e",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        jobs.end_time_argv("3598,1")
    assert jobs.parse_end_time(SQUEUE_END, "3598") == datetime(2026, 12, 6, 2, 29, 15, tzinfo=UTC)
    assert jobs.parse_end_time(SQUEUE_END, "359") is None  # another job's line
    for nothing in ("", "3598|N/A\n", "3598|Unknown\n", "garbage"):
        assert jobs.parse_end_time(nothing, "3598") is None


# --- the routes, in a Jupyter server -----------------------------------------------------------

BASE = "/user/bob@example.org/"  # JupyterHub's prefix, with a character URLs escape
TOKEN = "the-sessions-token"


class Server:
    def __init__(self, url: str, root: Path):
        self.url, self.root = url, root

    async def fetch(self, method: str, path: str, token: str | None = TOKEN) -> HTTPResponse:
        headers = {"Authorization": f"token {token}"} if token else {}
        body = b"" if method == "POST" else None
        return await AsyncHTTPClient().fetch(
            self.url + path, method=method, headers=headers, body=body, raise_error=False
        )


@pytest.fixture
async def start_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Server]]:
    """Starts an in-process Jupyter server: with `facts`, the routes are added with those
    fakes; without, the extension is loaded as the enable file loads it."""
    monkeypatch.setenv("JUPYTER_NO_CONFIG", "1")  # the host's Jupyter configuration stays out
    for name in JOB_ENV:
        monkeypatch.delenv(name, raising=False)
    sockets: list[HTTPServer] = []

    def start(facts: SessionFacts | None = None) -> Server:
        root = tmp_path / "home"
        root.mkdir()
        sock, port = bind_unused_port()
        app = ServerApp.instance(
            ip="127.0.0.1", port=port, root_dir=str(root), base_url=BASE,
            open_browser=False, allow_root=True,
            config=Config({"IdentityProvider": {"token": TOKEN}}),
            jpserver_extensions={} if facts else {"aifactory_lab": True},
        )  # fmt: skip
        app.init_signal = lambda: None
        app.initialize(argv=[], find_extensions=False, new_httpserver=False)
        if facts is not None:
            app.web_app.add_handlers(".*$", handlers(BASE, root, facts))
        http = HTTPServer(app.web_app)
        http.add_sockets([sock])
        sockets.append(http)
        return Server(f"http://127.0.0.1:{port}{BASE}", root)

    yield start
    for http in sockets:
        http.stop()
    ServerApp.clear_instance()


def _json(response: HTTPResponse) -> object:
    return json.loads(response.body)


@pytest.mark.hardening(
    "attack",
    "the lab extension's routes without a token or with another user's token",
    "403 on every route, no file made",
)
async def test_the_routes_are_the_session_users_only(start_server):
    server = start_server()
    for method, path in (
        ("GET", "aifactory/session"),
        ("GET", "aifactory/cards"),
        ("POST", "aifactory/cards/quota/open"),
    ):
        for token in (None, "someone-elses"):
            response = await server.fetch(method, path, token=token)
            assert response.code == 403, (method, path, token)
    assert not (server.root / "AI Factory").exists()


async def test_the_loaded_extension_lists_the_cards_and_opens_one_once(start_server):
    server = start_server()
    cards = await server.fetch("GET", "aifactory/cards")
    assert cards.code == 200 and _json(cards) == cards_json()

    first = await server.fetch("POST", "aifactory/cards/quota/open")
    assert first.code == 200
    assert _json(first) == {"path": "AI Factory/quota.ipynb", "created": True}
    copy = server.root / "AI Factory/quota.ipynb"
    nbformat.validate(nbformat.read(copy, as_version=4))
    copy.write_text("edited")
    again = await server.fetch("POST", "aifactory/cards/quota/open")
    assert _json(again) == {"path": "AI Factory/quota.ipynb", "created": False}
    assert copy.read_text() == "edited"


@pytest.mark.hardening(
    "bad input",
    "a card id that is unknown or a path (..%2F..%2Fetc%2Fpasswd, %2E%2E, quota.ipynb, QUOTA)",
    "JSON 404 naming no such card, nothing written",
)
async def test_an_unknown_card_is_a_json_404_and_touches_nothing(start_server):
    server = start_server()
    for card_id in ("nope", "..%2F..%2Fetc%2Fpasswd", "%2E%2E", "quota.ipynb", "QUOTA"):
        response = await server.fetch("POST", f"aifactory/cards/{card_id}/open")
        assert response.code == 404, card_id
        assert "no AI Factory card" in _json(response)["message"]
    assert os.listdir(server.root) == []


async def test_the_loaded_extension_outside_slurm_answers_nulls(start_server):
    server = start_server()
    response = await server.fetch("GET", "aifactory/session")
    assert response.code == 200
    answer = _json(response)
    assert answer["job_id"] is None and answer["ends_at"] is None
    assert answer["notes"] == [NOT_A_JOB]


async def test_the_session_route_answers_the_facts(start_server):
    server = start_server(facts_with(Calls()))
    answer = _json(await server.fetch("GET", "aifactory/session"))
    assert answer["project"] == "ai-beta" and answer["partition"] == "cpu"
    assert answer["ends_at"] == END.isoformat() and answer["gpu_hours_granted"] == 10.0


@pytest.mark.hardening(
    "fault",
    "the factory service down while JupyterLab's status bar asks for the session's facts",
    "200 with the hours null and a note saying why, never a 500",
)
async def test_a_down_service_is_no_server_error(start_server):
    server = start_server(facts_with(Calls(usage=FactoryError(503, "Service Unavailable"))))
    response = await server.fetch("GET", "aifactory/session")
    assert response.code == 200
    assert _json(response)["gpu_hours_left"] is None


# --- the Jupyter configuration it ships --------------------------------------------------------


def test_the_install_step_writes_the_enable_file_and_the_settings_once(tmp_path):
    written = install.install(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in written) == sorted(install.FILES)
    enable = json.loads((tmp_path / install.FILES[0]).read_text())
    assert enable == {"ServerApp": {"jpserver_extensions": {"aifactory_lab": True}}}
    assert install.install(tmp_path) == []  # unchanged: nothing rewritten
    (tmp_path / install.FILES[0]).write_text("{}")
    assert install.install(tmp_path) == [tmp_path / install.FILES[0]]


def test_the_settings_turn_the_news_and_the_update_check_off_in_jupyterlabs_own_schema():
    overrides = json.loads(install.shipped(install.FILES[1]).read_text())
    plugin = "@jupyterlab/apputils-extension:notification"
    assert overrides == {plugin: {"fetchNews": "false", "checkForUpdates": False}}
    schema_file = Path(sys.prefix, "share/jupyter/lab/schemas", *plugin.split(":")).with_suffix(
        ".json"
    )
    jsonschema.validate(overrides[plugin], json.loads(schema_file.read_text()))


def test_the_wheels_data_files_are_the_files_the_install_step_writes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files = project["tool"]["setuptools"]["data-files"]
    source = "extensions/aifactory_lab/jupyter-config/"
    shipped = {
        f"{folder}/{Path(file).name}": file
        for folder, files in data_files.items()
        for file in files
        if file.startswith(source)
    }
    assert sorted(shipped) == sorted(install.FILES)
    for target, file in shipped.items():
        assert file == source + target
