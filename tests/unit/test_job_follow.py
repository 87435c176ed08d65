"""JobFollower (aifactory_widgets/jobs/follow.py), headless: a small widget whose job's looks
are scripted, and Slurm commands answered by `Scripted`. DataStaging and BuildEnvironment
follow their real jobs with it in tests/unit/test_data_staging.py and
tests/unit/test_widgets_environments.py."""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as w
import pytest

from aifactory_hub.slurm import SlurmError, jobs
from aifactory_widgets.jobs.follow import JobFollower


class Scripted:
    """Answers Slurm commands by their first word; records every call."""

    def __init__(self, **answers):
        self.answers = answers
        self.calls: list[list[str]] = []

    def run(self, argv, input=None):
        self.calls.append(list(argv))
        answer = self.answers.get(argv[0], "")
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass(frozen=True)
class Bar:
    percent: int


@dataclass(frozen=True)
class Look:
    job: str
    phase: str
    progress: Bar | None = None
    tail: str = ""
    ok: bool = False

    @property
    def ended(self) -> bool:
        return self.phase == "ended"


class Refused(ValueError):
    pass


class Follower(JobFollower[Look], w.VBox):
    """A job with scripted looks (the last one repeats); `finished` records its calls."""

    noun, doing = "thing", "doing things"
    cancel_note = "Nothing is undone."

    def __init__(self, looks, message=None, runner=None):
        self.looks = list(looks)
        self.looked: list[str] = []
        self.ends: list[Look] = []
        self.runner = runner or Scripted()
        self.message = message if message is not None else w.Label()
        self.make_timer(5.0)
        super().__init__([self.message, self.make_job_box([w.HTML()]), self.timer])

    def look(self, job: str) -> Look:
        self.looked.append(job)
        look = self.looks.pop(0) if len(self.looks) > 1 else self.looks[0]
        if isinstance(look, Exception):
            raise look
        return look

    def describe(self, st: Look) -> str:
        return f"Job {st.job}, {st.phase}."

    def finished(self, st: Look) -> None:
        self.ends.append(st)


def submitted(follower: Follower, job: str = "7") -> str | None:
    got = follower.start(lambda: job, Refused)
    if got is not None:
        follower.follow(got, f"Submitted job {got}.")
    return got


def test_it_follows_the_job_to_its_end_and_then_stops_looking():
    follower = Follower(
        [Look("7", "running", Bar(40), "line <1>"), Look("7", "ended", Bar(90), "", ok=True)]
    )
    assert follower.job_box.layout.display == "none"
    assert follower.cancel_button.description == "Cancel thing"
    assert submitted(follower) == "7"
    assert (
        follower.message.value == "Submitted job 7." and follower.job_box.layout.display == "flex"
    )
    assert (follower.state.value, follower.bar.value) == ("Job 7, running.", 40)
    assert follower.bar.bar_style == "info" and follower.tail.value == "<pre>line &lt;1&gt;</pre>"
    follower.timer.playing = True
    st = follower.refresh()
    assert st.ended and follower.ends == [st] and follower.bar.bar_style == "success"
    assert follower.tail.value == "" and follower.cancel_button.disabled
    assert not follower.timer.playing
    assert follower.refresh() is st and follower.looked == ["7", "7"]  # no look after the end


def test_a_failed_end_is_coloured_as_one():
    follower = Follower([Look("8", "ended", None, "error: disk full")])
    submitted(follower, "8")
    assert follower.bar.bar_style == "danger" and follower.bar.value == 0
    assert "disk full" in follower.tail.value


def test_a_second_job_waits_for_the_first():
    follower = Follower([Look("7", "pending")])
    submitted(follower)
    assert follower.start(lambda: pytest.fail("submitted a second job"), Refused) is None
    assert follower.message.value == "Job 7 is still doing things; wait for it or cancel it."
    follower.looks = [Look("7", "ended"), Look("9", "running")]
    follower.refresh()
    assert submitted(follower, "9") == "9"
    assert follower.last.job == "9" and follower.looked == ["7", "7", "9"]


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (w.Label, "Refused: field: <b>bad</b>"),
        (w.HTML, "Refused: field: &lt;b&gt;bad&lt;/b&gt;"),
    ],
)
def test_refusals_are_said_in_words_escaped_where_the_line_is_html(line, shown):
    follower = Follower([Look("7", "running")], message=line())

    def refuse():
        raise Refused("field: <b>bad</b>")

    assert follower.start(refuse, Refused) is None and follower.message.value == shown
    assert follower.job == "" and follower.looked == []


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (SlurmError(["sbatch"], 1, "", "sbatch: error: Invalid account"),
         "Slurm refused the thing: sbatch: error: Invalid account"),
        (PermissionError(13, "Permission denied"),
         "Cannot start the thing: [Errno 13] Permission denied"),
    ],
)  # fmt: skip
def test_slurm_and_the_system_refusing_are_said_apart(error, shown):
    follower = Follower([Look("7", "running")])

    def fail():
        raise error

    assert follower.start(fail, Refused) is None and follower.message.value == shown


def test_an_unreadable_log_is_said_and_the_last_look_kept():
    first = Look("7", "running", Bar(40))
    follower = Follower([first, PermissionError(13, "Permission denied")])
    submitted(follower)
    assert follower.refresh() is first
    assert follower.state.value == "Cannot read the job's log: Permission denied"
    assert follower.bar.value == 40


def test_cancelling_asks_first_then_runs_scancel():
    runner = Scripted()
    follower = Follower([Look("7", "running")], runner=runner)
    submitted(follower)
    follower.ask_cancel()
    assert follower.confirm.question.value == "Cancel job 7? Nothing is undone."
    assert follower.confirm.yes.description == "Yes, cancel the thing" and runner.calls == []
    follower.confirm.yes.click()
    assert runner.calls == [jobs.scancel_argv("7", array_task=True)]
    assert follower.message.value == "Job 7 cancelled." and follower.looked == ["7", "7"]


def test_a_refused_cancel_is_said_and_nothing_is_looked_at():
    err = SlurmError(["scancel"], 1, "", "scancel: error: Access/permission denied")
    follower = Follower([Look("7", "running")], runner=Scripted(scancel=err))
    submitted(follower)
    follower.cancel()
    assert follower.message.value == (
        "Could not cancel job 7: scancel: exit 1: scancel: error: Access/permission denied"
    )
    assert follower.looked == ["7"]
