"""The guide browser, the advisor, ask-an-expert and the ticket desk, headless.

A fake client answers by (method, path) and records what the widgets send; Slurm answers are
scripted. Every HTML value is checked for the injected markup, which must only ever appear
escaped.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w

from aifactory_hub.console.dashboards import from_metadata, read_metadata
from aifactory_hub.service.routes.site import public_site
from aifactory_hub.site import load_site
from aifactory_widgets import Advisor, AskAnExpert, FactoryError, GuideBrowser, TicketDesk
from aifactory_widgets.guides.library import parse_guide
from tests.unit.test_ticket_context import ENV, SACCT, Scripted
from tests.unit.test_widgets_desks import html_values

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
XSS = "<img src=x onerror=alert(1)>"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FILED = "2026-11-27T11:00:00+00:00"
SITE = public_site(load_site())


def ticket(tid: int = 3, **changes: Any) -> dict[str, Any]:
    data = {
        "id": tid, "user": "alice", "project": "ai-alpha", "topic": "jobs",
        "topic_label": "Jobs that fail, pend or are slow", "subject": XSS, "status": "open",
        "assignee": None, "created_at": "2026-11-27T11:00:00+00:00", "first_reply_at": None,
        "first_reply_s": None, "closed_at": None, "updated_at": None, "messages_count": 1,
        "context": {"project": "ai-alpha", "partition": "gpu", "job_id": "104", "jobs": [
            {"id": "102", "name": XSS, "state": "FAILED", "exit_code": "1:0"}],
            "output_tail": {"job_id": "102", "path": "/home/alice/x.out", "text": XSS},
            "versions": {"python": "3.11.2"}, "problems": []},
        "messages": [{"author": "alice", "staff": False, "body": XSS, "at": FILED}],
    }  # fmt: skip
    data.update(changes)
    return data


class FakeClient:
    """Answers by (method, path without query); a callable answer gets the body."""

    def __init__(self, answers: dict[tuple[str, str], Any], actor: str = ""):
        self.answers = answers
        self.actor = actor
        self.sent: list[tuple[str, str, Any]] = []

    def _answer(self, method: str, path: str, body: Any = None) -> Any:
        self.sent.append((method, path, body))
        answer = self.answers[(method, path.split("?")[0])]
        if isinstance(answer, FactoryError):
            raise answer
        return copy.deepcopy(answer(body) if callable(answer) else answer)

    def get(self, path: str) -> Any:
        return self._answer("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self._answer("POST", path, body)

    def writes(self) -> list[tuple[str, str, Any]]:
        return [s for s in self.sent if s[0] != "GET"]


def assert_escaped(widget: w.Widget) -> None:
    markup = "".join(html_values(widget))
    assert XSS not in markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in markup


# --- guides -----------------------------------------------------------------------------------


def test_the_guide_browser_searches_and_renders_with_copyable_code():
    browser = GuideBrowser(FakeClient({("GET", "api/site"): SITE}))
    assert browser.count.value == f"{len(browser.guides)} of {len(browser.guides)} guides"
    browser.query.value = "rsync partial"
    assert browser.shown == "moving-and-staging-data"
    assert any(code.startswith("rsync -av --partial") for code in browser.code_blocks)
    markup = "".join(html_values(browser))
    assert markup.count('<div class="af-code"><button') == len(browser.code_blocks)
    assert "navigator.clipboard.writeText" in markup
    browser.query.value = ""
    browser.tag.value = "dask"
    assert browser.shown == "dask-on-the-cluster"
    assert 'queue="cpu"' in "\n".join(browser.code_blocks)  # the site's CPU partition
    browser.audience.value = "trainer"
    assert browser.count.value.startswith("0 of") and browser.shown is None


def test_raw_html_in_a_guide_is_shown_as_text():
    evil = parse_guide(
        "evil", f"---\ntitle: T {XSS}\naudience: staff\nlevel: beginner\ntags: [x]\n---\n"
        f"{XSS}\n\n```\n{XSS}\n```\n",
    )  # fmt: skip
    browser = GuideBrowser(None, SITE, guides=[evil])
    assert browser.shown == "evil" and browser.code_blocks == [XSS]
    assert_escaped(browser)


def test_without_the_sites_facts_the_guides_still_read():
    down = FactoryError(0, "the factory service did not answer")
    browser = GuideBrowser(FakeClient({("GET", "api/site"): down}))
    assert "did not answer" in browser.message.value
    browser.results.value = "choosing-resources"
    assert "[?cpu.name]" in "".join(html_values(browser))


def test_the_dashboards_need_the_tickets_scope():
    for name, title, order in (("tickets.ipynb", "Tickets", 50), ("guides.ipynb", "Guides", 55)):
        board = from_metadata(name, read_metadata(DASHBOARDS / name))
        assert (board.title, board.order, board.scope) == (
            title, order, "custom:aifactory:tickets:manage",
        )  # fmt: skip


# --- advisor ----------------------------------------------------------------------------------

USAGE = {"as_of": "2026-11-27T11:55:00+00:00", "projects": [
    {"account": "prj-7", "partitions": [
        {"partition": "gpu", "remaining": {"gpu_hours": 50.0, "cpu_hours": 400.0}}]}]}  # fmt: skip
PROJECTS = [{"account": "prj-7", "allocations": [
    {"partition": "gpu", "gpu_hours": 500.0, "cpu_hours": 4000.0}]}]  # fmt: skip


def small_run(advisor: Advisor) -> None:
    advisor.parameters_b.value = 0.125
    advisor.tokens_b.value = 2.5


def test_the_advisor_estimates_a_run_on_the_sites_gpus(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ACCOUNT", "prj-7")
    client = FakeClient({("GET", "api/site"): SITE, ("GET", "api/usage"): USAGE})
    advisor = Advisor(client)
    assert advisor.project.value == "prj-7"
    small_run(advisor)
    assert advisor.recommendation.value.startswith("1.88e+18 FLOPs. Use partition gpu: 1 GPUs")
    assert advisor.estimate["partition"] == "gpu" and advisor.estimate["jobs"] == 2
    assert "fits: 4.2 of 50.0 GPU-hours" in advisor.allocation.value
    assert "from accounting as of 2026-11-27" in advisor.allocation.value
    assert advisor.fits_allocation is True
    assert "The demo's assumption" in "".join(getattr(c, "value", "") for c in advisor.children)
    costs = advisor.costs.value  # a start-up by default: free in every industrial mode
    assert "Fast Lane" in costs and "Large Scale" in costs and "EUR" not in costs
    advisor.applicant_type.value = "industry"  # charged without open results or a partner
    assert "Fast Lane" in advisor.costs.value and "EUR" in advisor.costs.value
    advisor.applicant_type.value = "academia"  # only AI for Science is open to academia
    costs = advisor.costs.value
    assert "AI for Science" in costs and "Fast Lane" not in costs and "Playground" not in costs
    advisor.parameters_b.value = 7
    advisor.tokens_b.value = 100
    assert advisor.fits_allocation is False and "does not fit" in advisor.allocation.value
    memory = advisor.memory.value
    assert "(chosen)" in memory and "112.0 GB" not in memory  # sharded over 2 GPUs


def test_without_usage_figures_it_compares_with_the_grant_and_says_so(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ACCOUNT", raising=False)
    missing = FactoryError(404, "Not Found")
    client = FakeClient(
        {("GET", "api/site"): SITE, ("GET", "api/usage"): missing,
         ("GET", "api/projects"): PROJECTS}
    )  # fmt: skip
    advisor = Advisor(client)
    small_run(advisor)
    assert "hours used are not deducted" in advisor.allocation.value
    assert "fits: 4.2 of 500.0 GPU-hours" in advisor.allocation.value


def test_bad_input_is_shown_not_raised():
    advisor = Advisor(None, SITE)
    advisor.data_kind.value = "samples"
    assert advisor.tokens_b.layout.display == "none"
    advisor.micro_batch.value = 4096
    advisor.sharding.value = "none"
    assert "no partition here can run it" in advisor.recommendation.value
    assert advisor.estimate == {}


def test_the_advisor_opens_the_training_launcher_with_its_numbers(monkeypatch, tmp_path):
    from aifactory_hub.service.routes.jobs import jobs_facts
    from aifactory_widgets import TrainingLauncher

    facts = jobs_facts(load_site(), {"ai-alpha": ["cpu", "gpu"]})
    client = FakeClient({("GET", "api/site/partitions"): facts})
    env = {"SLURM_JOB_ACCOUNT": "ai-alpha", "SLURM_JOB_PARTITION": "cpu", "HOME": str(tmp_path)}
    built: list[TrainingLauncher] = []

    def factory() -> TrainingLauncher:
        built.append(TrainingLauncher(client=client, runner=Scripted(), environ=env))
        return built[-1]

    monkeypatch.setenv("SLURM_JOB_ACCOUNT", "ai-alpha")
    advisor = Advisor(FakeClient({("GET", "api/usage"): USAGE}), SITE)
    advisor.launcher.open_launcher = factory
    small_run(advisor)
    advisor.project.value = "prj-7"
    advisor.launcher.button.click()
    (launcher,) = built
    assert launcher.placement.partition.value == "gpu"
    assert (launcher.nodes.value, launcher.gpus.value) == (1, 1)
    assert launcher.placement.walltime.value == 240  # one 4 h job of the two in a row
    note = advisor.launcher.area.children[0].value
    assert note.startswith("Opened with partition gpu, 1 node(s) x 1 GPU(s), 4.0 h per job")
    assert "Not set (check them): project." in note  # prj-7 is not a project it offers
    assert advisor.launcher.area.children[1] is launcher


def test_a_launcher_that_fails_to_open_leaves_the_advisor_saying_what_to_ask_slurm_for():
    def broken() -> w.Widget:
        raise RuntimeError("no partitions")

    advisor = Advisor(None, SITE)
    advisor.launcher.open_launcher = broken
    small_run(advisor)
    advisor.launcher.button.click()
    (note,) = advisor.launcher.area.children
    assert note.value.startswith("The training launcher failed to open (no partitions).")
    assert "Ask Slurm for: partition gpu, 1 node(s) x 1 GPU(s)" in note.value


def test_the_advisor_opens_the_real_training_launcher(monkeypatch):
    from aifactory_widgets import TrainingLauncher

    monkeypatch.delenv("AIFACTORY_FACTORY_URL", raising=False)  # it says it needs the hub
    advisor = Advisor(None, SITE)
    small_run(advisor)
    advisor.launcher.button.click()
    note, launcher = advisor.launcher.area.children
    assert isinstance(launcher, TrainingLauncher)
    assert "Cannot offer distributed training jobs" in launcher.children[0].value
    assert note.value.endswith("Not set (check them): project, partition, nodes, wall time.")


# --- ask an expert ----------------------------------------------------------------------------


def researcher_client(sent: list[Any]) -> FakeClient:
    def created(body: Any) -> dict[str, Any]:
        sent.append(body)
        return ticket(4, subject=body["subject"])

    return FakeClient(
        {
            ("GET", "api/tickets"): [ticket()],
            ("GET", "api/tickets/3"): ticket(),
            ("GET", "api/tickets/4"): ticket(4, subject="new"),
            ("POST", "api/tickets"): created,
            ("POST", "api/tickets/3/messages"): ticket(messages_count=2),
            ("POST", "api/tickets/3/close"): ticket(status="closed"),
        }
    )


def test_a_question_carries_its_context_and_shows_it_first():
    sent: list[Any] = []
    client = researcher_client(sent)
    scripted = f"JobId=103 StdOut=/home/alice/x-103.out name={XSS}"
    runner = Scripted(sacct=SACCT, scontrol=scripted)
    outputs = {"/home/alice/x-103.out": f"Traceback\n{XSS}"}
    ask = AskAnExpert(client, environ=ENV, runner=runner, now=NOW, reader=outputs.get)
    assert ask.tail_job.value == "103"  # the newest failed job that is not the session
    assert "104" in ask.context_view.value and "CANCELLED by 1000" in ask.context_view.value
    assert "End of the output of job 103" in ask.context_view.value
    assert_escaped(ask)
    ask.subject.value = "ab"
    ask.send_button.click()
    assert "Write a subject" in ask.sent.value and sent == []
    ask.attach.value = False
    ask.topic.value = "training"
    ask.subject.value = "NCCL timeout"
    ask.body.value = "It hangs at the rendezvous."
    ask.send_button.click()
    (body,) = sent
    assert (body["topic"], body["subject"]) == ("training", "NCCL timeout")
    assert body["context"]["job_id"] == "104" and body["context"]["output_tail"] is None
    assert [j["id"] for j in body["context"]["jobs"]] == ["104", "103", "102", "101"]
    assert "Sent as ticket #4" in ask.sent.value and ask.subject.value == ""


def test_the_researcher_follows_replies_and_closes():
    ask = AskAnExpert(researcher_client([]), environ=ENV, runner=Scripted(sacct=SACCT), now=NOW)
    assert ask.current["id"] == 3
    assert "first reply none yet (waiting 1 h 00 min)" in ask.state.value
    assert_escaped(ask)
    ask.reply_box.value = "Still failing"
    ask.reply_button.click()
    assert ask.client.writes()[-1] == ("POST", "api/tickets/3/messages", {"body": "Still failing"})
    ask.close_button.click()
    assert ask.client.writes()[-1] == ("POST", "api/tickets/3/close", None)
    assert ask.close_button.disabled


# --- the staff desk ---------------------------------------------------------------------------


def desk_client() -> FakeClient:
    answered = ticket(2, status="answered", first_reply_s=600.0, assignee="sam")
    replied: Callable[[Any], dict] = lambda body: ticket(  # noqa: E731
        messages=[*ticket()["messages"], {"author": "sam", "staff": True, "body": body["body"],
                                          "at": "2026-11-27T11:30:00+00:00"}],
        status="answered", first_reply_s=1800.0, assignee="sam",
    )  # fmt: skip
    return FakeClient(
        {
            ("GET", "api/tickets/topics"): {
                "topics": [{"code": "jobs", "label": "Jobs"}, {"code": "data", "label": "Data"}],
                "staff": ["ada", "sam"],
                "manage": True,
            },
            ("GET", "api/tickets"): [ticket(), answered],
            ("GET", "api/tickets/3"): ticket(),
            ("GET", "api/tickets/2"): answered,
            ("POST", "api/tickets/3/messages"): replied,
            ("POST", "api/tickets/3/assign"): lambda body: ticket(assignee=body["assignee"]),
            ("POST", "api/tickets/3/close"): ticket(status="closed"),
        },
        actor="sam",
    )


def test_the_desk_lists_filters_and_times_first_replies():
    desk = TicketDesk(desk_client(), now=NOW)
    assert desk.client.sent[1] == ("GET", "api/tickets?status=open", None)
    assert "2 tickets; median time to first reply: 10 min (over 1 answered ticket)" == (
        desk.summary.value
    )
    assert (
        "none yet (waiting 1 h 00 min)" in desk.table.value and "after 10 min" in desk.table.value
    )
    desk.topic.value = "data"
    desk.assignee.value = "-"
    lists = [path for _, path, _ in desk.client.sent if path.startswith("api/tickets?")]
    assert lists[-1] == "api/tickets?status=open&topic=data&assignee=-"
    assert_escaped(desk)
    assert "FAILED" in desk.context_view.value and "1:0" in desk.context_view.value


def test_staff_assign_reply_and_close_after_asking():
    desk = TicketDesk(desk_client(), now=NOW)
    assert desk.assign_to.value == "sam"
    desk.assign_button.click()
    assert desk.client.writes()[-1] == ("POST", "api/tickets/3/assign", {"assignee": "sam"})
    desk.reply_box.value = "Lower the micro-batch to 2."
    desk.reply_button.click()
    assert desk.client.writes()[-1] == (
        "POST", "api/tickets/3/messages", {"body": "Lower the micro-batch to 2."},
    )  # fmt: skip
    assert "Lower the micro-batch to 2." in desk.conversation.value
    assert "Reply sent on ticket #3." == desk.message.value
    desk.close_button.click()
    assert desk.confirm.asking and desk.client.writes()[-1][1].endswith("/messages")
    desk.confirm.yes.click()
    assert desk.client.writes()[-1] == ("POST", "api/tickets/3/close", None)
    assert desk.reply_button.disabled


def test_a_refusal_is_shown_in_words():
    client = desk_client()
    client.answers[("POST", "api/tickets/3/messages")] = FactoryError(409, "ticket 3 is closed")
    desk = TicketDesk(client, now=NOW)
    desk.reply_box.value = "hello"
    desk.reply_button.click()
    assert desk.message.value == "Reply not sent: ticket 3 is closed"
