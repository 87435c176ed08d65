"""Following the one job a form submitted: its state in words, a progress bar, the end of its
log and a Cancel that asks first, refreshed by a timer that ticks in the browser.

DataStaging (a copy) and BuildEnvironment (an environment build) each check a form, submit one
job as the researcher and then show the same things until it ends. `JobFollower` is that
part; a widget names its job (`noun`, `doing`, `cancel_note`), says how to look at it
(`look`), puts one look in words (`describe`) and adds what it shows once the job ended
(`finished`).

It lives with the jobs (not in ui/) because it runs Slurm commands through commands.py; ui/
imports no feature.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

import ipywidgets as w

from aifactory_widgets.jobs.commands import JobRunner, SlurmError, cancel
from aifactory_widgets.ui.confirm import ConfirmRow
from aifactory_widgets.ui.refresh import BrowserRefresh, start_soon

T = TypeVar("T")


class Progress(Protocol):
    @property
    def percent(self) -> int: ...


class JobLook(Protocol):
    """One look at a job, as the hub's `status` functions return it."""

    @property
    def progress(self) -> Progress | None: ...

    @property
    def tail(self) -> str: ...

    @property
    def ended(self) -> bool: ...

    @property
    def ok(self) -> bool: ...


Look = TypeVar("Look", bound=JobLook)


class JobFollower(BrowserRefresh, Generic[Look]):
    """For a widget that submits one job at a time and follows it (mixed in before w.VBox).

    The widget sets `runner` and `message` (a Label, or an HTML whose text is then escaped),
    builds the job's rows with `make_job_box`, and starts following a job with `follow`."""

    noun = "job"  # what the job is, in messages: "the copy", "the build"
    doing = "running"  # what it is doing: "Job 91 is still copying"
    cancel_note = ""  # what a cancel leaves behind, said when asking

    job = ""
    last: Look | None = None
    runner: JobRunner
    message: w.Label | w.HTML

    def look(self, job: str) -> Look:
        """Slurm's state and the job's log, once (OSError if the log cannot be read)."""
        raise NotImplementedError

    def describe(self, st: Look) -> str:
        """The state line: the job, its state and how far it is."""
        raise NotImplementedError

    def finished(self, st: Look) -> None:
        """What to show once the job ended (besides the state, bar and tail); nothing here."""

    def make_job_box(self, extra: Sequence[w.Widget] = ()) -> w.VBox:
        """The job's rows, hidden until a job is submitted: state, bar, Refresh now and
        Cancel, the confirm row, `extra` (the widget's result) and the log's last lines."""
        self.refresh_button = w.Button(description="Refresh now", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.cancel_button = w.Button(description=f"Cancel {self.noun}", button_style="warning")
        self.cancel_button.on_click(lambda _: self.ask_cancel())
        self.confirm = ConfirmRow()
        self.state = w.Label()
        self.bar = w.IntProgress(min=0, max=100, value=0, layout=w.Layout(width="420px"))
        self.tail = w.HTML()
        self.job_box = w.VBox(
            [
                self.state,
                self.bar,
                w.HBox([self.refresh_button, self.cancel_button]),
                self.confirm,
                *extra,
                self.tail,
            ],
            layout=w.Layout(display="none"),
        )
        return self.job_box

    def words(self, text: str) -> str:
        """`text` as the message line shows it: escaped where that line is HTML."""
        return html.escape(text) if isinstance(self.message, w.HTML) else text

    @property
    def busy(self) -> bool:
        """A job was submitted and has not been seen to end."""
        return bool(self.job) and self.last is not None and not self.last.ended

    def start(self, submit: Callable[[], T], refused: type[Exception]) -> T | None:
        """`submit()` (check the form, sbatch), or None with the reason on the message line:
        a job still running, the hub's refusal (`refused`, naming the field), Slurm's, or the
        system's."""
        if self.busy:
            self.message.value = f"Job {self.job} is still {self.doing}; wait for it or cancel it."
            return None
        try:
            return submit()
        except refused as exc:
            self.message.value = f"Refused: {self.words(str(exc))}"
        except SlurmError as exc:
            why = exc.stderr.strip() or str(exc)
            self.message.value = f"Slurm refused the {self.noun}: {self.words(why)}"
        except (OSError, ValueError) as exc:
            self.message.value = f"Cannot start the {self.noun}: {self.words(str(exc))}"
        return None

    def follow(self, job: str, message: str) -> None:
        """Show the submitted `job` (`message` says what it does) and start the timer."""
        self.job, self.last = job, None
        self.message.value = message
        self.job_box.layout.display = "flex"
        self.refresh()
        start_soon(self.start_timer)

    def refresh(self) -> Look | None:
        """One look at the job: Slurm's state, the progress, the log's last lines; once it
        ended, no more looks (the timer stops)."""
        if not self.job or (self.last is not None and self.last.ended):
            return self.last
        try:
            st = self.look(self.job)
        except OSError as exc:
            self.state.value = f"Cannot read the job's log: {exc.strerror}"
            return self.last
        self.last = st
        self.state.value = self.describe(st)
        if st.progress is not None:
            self.bar.value = st.progress.percent
        self.bar.bar_style = "success" if st.ok else ("danger" if st.ended else "info")
        self.tail.value = f"<pre>{html.escape(st.tail)}</pre>" if st.tail else ""
        self.cancel_button.disabled = st.ended
        if st.ended:
            self.timer.playing = False
            self.finished(st)
        return st

    def ask_cancel(self) -> None:
        question = f"Cancel job {self.job}? {self.cancel_note}"
        self.confirm.ask(question, f"Yes, cancel the {self.noun}", self.cancel)

    def cancel(self) -> None:
        try:
            cancel(self.runner, self.job)
        except (SlurmError, ValueError) as exc:
            self.message.value = f"Could not cancel job {self.job}: {self.words(str(exc))}"
            return
        self.message.value = f"Job {self.job} cancelled."
        self.refresh()
