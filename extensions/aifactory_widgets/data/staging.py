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
from aifactory_widgets.jobs.commands import JobRunner, SlurmRunner
from aifactory_widgets.jobs.follow import JobFollower
from aifactory_widgets.jobs.limits import JobSite, load_site, session_place
from aifactory_widgets.jobs.placement import field
from aifactory_widgets.ui.client import FactoryClient, FactoryError

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


class DataStaging(JobFollower[StagingStatus], w.VBox):
    """Project, folder, source and subfolder; Copy submits the staging job and follows it."""

    noun, doing = "copy", "copying"
    cancel_note = "What it copied so far stays in the folder."

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
        self.make_job_box()
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
        started = self.start(self._submit, StagingError)
        if started is None:
            return ""
        req, job = started
        self.follow(
            job,
            f"Submitted job {job}: copying {req.source} into {req.destination} "
            f"(log: ~/{staging.LOG_DIR}/{job}.log).",
        )
        return job

    def _submit(self) -> tuple[staging.StagingRequest, str]:
        req = self.request()
        job = staging.submit(
            req, self.partition(), self.place.home, int(self.minutes.value), self.runner.run
        )
        return req, job

    # --- following the job (JobFollower does the rest) ------------------------------------

    def look(self, job: str) -> StagingStatus:
        return staging.status(job, self.place.home, self.runner.run)

    def describe(self, st: StagingStatus) -> str:
        return progress_text(st)
