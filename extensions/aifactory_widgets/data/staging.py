"""Copy large data into a project's or scratch folder, in a job, with progress.

    from aifactory_widgets import DataStaging
    DataStaging()

Small files go through JupyterLab's upload; a copy of gigabytes would tie up the kernel (and
the session's cores), so "Copy" submits a staging job instead: it runs on a compute node as the
researcher, charged to the chosen project, bounded by its time limit. The request is checked
with the hub's own rules (`aifactory_hub.data.staging`) before anything is submitted, and a
refusal names the field. The widget then shows the job's state, its progress and the end of
its log, refreshed by a timer that ticks in the browser.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import PurePosixPath

import ipywidgets as w

from aifactory_hub.data import folder, staging
from aifactory_hub.data.staging import StagingError, StagingStatus
from aifactory_hub.site import Partition, StorageSettings
from aifactory_widgets.jobs.commands import JobRunner, SlurmError, SlurmRunner, cancel
from aifactory_widgets.jobs.limits import JobSite, load_site, session_place
from aifactory_widgets.jobs.placement import field
from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.confirm import ConfirmRow
from aifactory_widgets.ui.refresh import BrowserRefresh, start_soon

FOLDER_LABELS = {"project": "Project folder", "scratch": "Scratch (purged)"}


def storage_from_env(environ: Mapping[str, str]) -> StorageSettings:
    """Where projects' folders live, from the session's $PROJECT_DIR and $SCRATCH_DIR (each
    `<root>/<account>`, `aifactory_hub.data.folder`'s rule); the site defaults without them."""
    roots = {}
    for name, key in (("PROJECT_DIR", "project_root"), ("SCRATCH_DIR", "scratch_root")):
        path = environ.get(name, "")
        if path.startswith("/") and path.rstrip("/").count("/") >= 2:
            roots[key] = str(PurePosixPath(path).parent)
    return StorageSettings(**roots)


def size_text(count: int) -> str:
    """Bytes as a person reads them: 1.5 GB, 320 MB, 12 kB."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


def progress_text(st: StagingStatus) -> str:
    """One line: the job, its state and how far the copy is."""
    words = {"pending": "waiting for a node", "running": "copying", "unknown": "state unknown"}
    state = words.get(st.phase, "")
    if st.ended:
        state = (
            "done"
            if st.ok
            else f"ended {st.state}" + (f" ({st.exit_code})" if st.exit_code else "")
        )
    far = ""
    if st.progress is not None:
        of = f" of {size_text(st.progress.total)}" if st.progress.total else ""
        far = f": {st.progress.percent}%, {size_text(st.progress.bytes)}{of}"
    return f"Job {st.job}, {state}{far}."


class DataStaging(BrowserRefresh, w.VBox):
    """Project, folder, source and subfolder; Copy submits the staging job and follows it."""

    def __init__(
        self,
        client: FactoryClient | None = None,
        site: JobSite | None = None,
        storage: StorageSettings | None = None,
        runner: JobRunner | None = None,
        environ: Mapping[str, str] = os.environ,
        refresh_s: float = 5.0,
    ):
        self.runner = runner or SlurmRunner()
        self.place = session_place(environ)
        self.storage = storage or storage_from_env(environ)
        self.job = ""
        self.last: StagingStatus | None = None
        self.message = w.Label()
        try:
            self.site = site or load_site(client or FactoryClient.from_env())
        except FactoryError as exc:
            super().__init__([w.Label(f"Cannot offer staging: {exc}")])
            return
        accounts = sorted(self.site.projects)
        self.project = field(w.Dropdown, "Project", options=accounts)
        if self.place.account in accounts:
            self.project.value = self.place.account
        self.folder = w.ToggleButtons(
            options=[(label, key) for key, label in FOLDER_LABELS.items()],
            description="Into",
            style={"description_width": "140px"},
        )
        self.where = w.HTML()
        self.source = field(w.Text, "Source", placeholder="~/data/images  or  /home/you/file.tar")
        self.subdir = field(w.Text, "Subfolder (optional)", placeholder="datasets/images")
        self.minutes = field(w.BoundedIntText, "Time limit (min)", min=1, max=60, value=60)
        self.copy_button = w.Button(description="Copy", button_style="primary", icon="copy")
        self.copy_button.on_click(lambda _: self.copy())
        self.refresh_button = w.Button(description="Refresh now", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.cancel_button = w.Button(description="Cancel copy", button_style="warning")
        self.cancel_button.on_click(lambda _: self.ask_cancel())
        self.confirm = ConfirmRow()
        self.state = w.Label()
        self.bar = w.IntProgress(min=0, max=100, value=0, layout=w.Layout(width="420px"))
        self.tail = w.HTML()
        self.job_box = w.VBox(
            [
                w.HBox([self.state]),
                self.bar,
                w.HBox([self.refresh_button, self.cancel_button]),
                self.confirm,
                self.tail,
            ],
            layout=w.Layout(display="none"),
        )
        self.project.observe(lambda _: self._place_changed(), "value")
        self.folder.observe(lambda _: self._place_changed(), "value")
        self._place_changed()
        self.make_timer(refresh_s)
        super().__init__(
            [
                w.HTML("<h3>Copy data into a project folder</h3>"),
                self.project,
                self.folder,
                self.where,
                self.source,
                self.subdir,
                self.minutes,
                self.copy_button,
                self.message,
                self.job_box,
                self.timer,
            ]
        )

    # --- the form --------------------------------------------------------------------------

    def partition(self) -> Partition:
        return staging.staging_partition(self.site.partitions_of(self.project.value or ""))

    def _place_changed(self) -> None:
        account = self.project.value or ""
        if not account:
            self.where.value = "You are in no project: there is no folder to copy into."
            self.copy_button.disabled = True
            return
        path = folder(self.storage, self.folder.value, account)
        purge = " Files unchanged for a while are removed from scratch." * (
            self.folder.value == "scratch"
        )
        self.where.value = (
            f"<small>Into <code>{html.escape(str(path))}</code>, shared with {account}'s "
            f"members only.{purge}</small>"
        )
        try:
            part = self.partition()
        except StagingError:
            return
        limit = int(part.max_walltime_hours * 60)
        self.minutes.max = limit
        self.minutes.value = min(self.minutes.value, limit)

    def request(self) -> staging.StagingRequest:
        """The form as a checked request (the hub's rules, as this user), or StagingError."""
        return staging.check_request(
            self.storage,
            list(self.site.projects),
            source=self.source.value,
            account=self.project.value or "",
            folder=self.folder.value,
            subdir=self.subdir.value,
            home=self.place.home,
        )

    def copy(self) -> str:
        """Check the form and submit the staging job; returns its id ('' if refused)."""
        if self.last is not None and not self.last.ended and self.job:
            self.message.value = f"Job {self.job} is still copying; wait for it or cancel it."
            return ""
        try:
            req = self.request()
            job = staging.submit(
                req, self.partition(), self.place.home, int(self.minutes.value), self.runner.run
            )
        except StagingError as exc:
            self.message.value = f"Refused: {exc}"
            return ""
        except SlurmError as exc:
            self.message.value = f"Slurm refused the copy: {exc.stderr.strip() or exc}"
            return ""
        except (OSError, ValueError) as exc:
            self.message.value = f"Cannot start the copy: {exc}"
            return ""
        self.job = job
        self.last = None
        self.message.value = (
            f"Submitted job {job}: copying {req.source} into {req.destination} "
            f"(log: ~/{staging.LOG_DIR}/{job}.log)."
        )
        self.job_box.layout.display = "flex"
        self.refresh()
        start_soon(self.start_timer)
        return job

    # --- following the job -----------------------------------------------------------------

    def refresh(self) -> StagingStatus | None:
        """One look at the job: Slurm's state, the log's progress and its last lines."""
        if not self.job or (self.last is not None and self.last.ended):
            return self.last
        try:
            st = staging.status(self.job, self.place.home, self.runner.run)
        except OSError as exc:
            self.state.value = f"Cannot read the job's log: {exc.strerror}"
            return self.last
        self.last = st
        self.state.value = progress_text(st)
        if st.progress is not None:
            self.bar.value = st.progress.percent
        self.bar.bar_style = "success" if st.ok else ("danger" if st.ended else "info")
        self.tail.value = f"<pre>{html.escape(st.tail)}</pre>" if st.tail else ""
        self.cancel_button.disabled = st.ended
        if st.ended:
            self.timer.playing = False
        return st

    def ask_cancel(self) -> None:
        question = f"Cancel job {self.job}? What it copied so far stays in the folder."
        self.confirm.ask(question, "Yes, cancel the copy", self.cancel)

    def cancel(self) -> None:
        try:
            cancel(self.runner, self.job)
        except (SlurmError, ValueError) as exc:
            self.message.value = f"Could not cancel job {self.job}: {exc}"
            return
        self.message.value = f"Job {self.job} cancelled."
        self.refresh()
