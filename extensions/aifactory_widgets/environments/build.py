"""Build a new Python environment on a compute node and get it as a kernel.

    from aifactory_widgets import BuildEnvironment
    BuildEnvironment()

A name, a project and a requirements.txt (pasted or uploaded) or a few package names: "Build"
checks every line with the hub's rules (`aifactory_hub.environments.build`: packages from the
index only, no options, URLs or paths) and submits a build job as the researcher, charged to
the project and bounded by the site's time and size limits. The widget follows it as
DataStaging follows a copy (`jobs.follow`, a timer that ticks in the browser): phase, time,
size so far, the end of pip's log; then the result: the kernel "Python 3 (<name>)" is
registered, or why not in pip's own words.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from aifactory_hub.environments import build
from aifactory_hub.environments.build import BuildError, BuildStatus
from aifactory_hub.site import Partition, SoftwareSettings
from aifactory_widgets.jobs.commands import JobRunner, SlurmRunner
from aifactory_widgets.jobs.follow import JobFollower
from aifactory_widgets.jobs.limits import JobSite, load_site, session_place
from aifactory_widgets.jobs.placement import field
from aifactory_widgets.ui.client import FactoryClient, FactoryError

SOURCES = [
    ("requirements.txt", "requirements"),
    ("Package names", "packages"),
    ("environment.yml", "environment_yml"),
]
PLACEHOLDERS = {
    "requirements": "numpy==2.1.*\npandas>=2.2\n# comments are fine",
    "packages": "numpy pandas scikit-learn",
    "environment_yml": "name: myenv\ndependencies:\n  - numpy",
}
STEPS = {
    "venv": "making the environment",
    "download": "downloading packages",
    "install": "installing packages",
    "kernel": "registering the kernel",
    "done": "done",
    "failed": "failed",
}
BUILD_KEYS = ("build_minutes", "build_max_gb", "build_partition")


def software_from_facts(facts: Mapping[str, Any]) -> SoftwareSettings:
    """The build bounds from the service's public site facts (`GET api/site`); the site
    defaults where the answer does not carry them."""
    given = facts.get("software") if isinstance(facts, Mapping) else None
    if not isinstance(given, Mapping):
        return SoftwareSettings()
    return SoftwareSettings(**{k: given[k] for k in BUILD_KEYS if k in given})


def duration(seconds: int) -> str:
    minutes, sec = divmod(max(0, int(seconds)), 60)
    return f"{minutes}:{sec:02d}"


def size_text(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


def progress_text(st: BuildStatus) -> str:
    """One line: the job, its state, the build's phase, time and size."""
    words = {"pending": "waiting for a node", "running": "running", "unknown": "state unknown"}
    state = words.get(st.phase, "")
    if st.ended:
        code = f" ({st.exit_code})" if st.exit_code else ""
        state = "done" if st.ok else f"ended {st.state or 'unknown'}{code}"
    far = ""
    if st.progress is not None:
        step = STEPS[st.progress.phase] if not st.ended else state
        far = f": {step}, {duration(st.progress.elapsed_s)} so far, {size_text(st.progress.bytes)}"
        if st.ended:
            far = f": {duration(st.progress.elapsed_s)}, {size_text(st.progress.bytes)}"
    return f"Job {st.job}, {state}{far}."


def package_list(text: str) -> list[str]:
    """'Package names': separated by spaces, commas between packages or new lines."""
    return [p for p in re.split(r"[\s]+|,(?![^\[]*\])", text) if p]


class BuildEnvironment(JobFollower[BuildStatus], w.VBox):
    """Name, project, requirements; Build submits the build job and follows it."""

    noun, doing = "build", "building"
    cancel_note = "The unfinished environment is removed."

    def __init__(
        self,
        client: FactoryClient | None = None,
        site: JobSite | None = None,
        software: SoftwareSettings | None = None,
        runner: JobRunner | None = None,
        environ: Mapping[str, str] = os.environ,
        refresh_s: float = 5.0,
    ):
        self.runner = runner or SlurmRunner()
        self.place = session_place(environ)
        self.submitted: build.BuildRequest | None = None
        self.message = w.HTML()
        try:
            if site is None:
                client = client or FactoryClient.from_env()
            self.site = site or load_site(client)
        except FactoryError as exc:
            super().__init__([w.Label(f"Cannot offer environment builds: {exc}")])
            return
        self.software = software or self._software(client)
        accounts = sorted(self.site.projects)
        self.project = field(w.Dropdown, "Project (charged)", options=accounts)
        if self.place.account in accounts:
            self.project.value = self.place.account
        self.env_name = field(w.Text, "Name", placeholder="myenv")
        self.source = w.ToggleButtons(
            options=SOURCES, description="From", style={"description_width": "140px"}
        )
        self.text = w.Textarea(
            placeholder=PLACEHOLDERS["requirements"],
            layout=w.Layout(width="560px", height="140px"),
        )
        self.upload = w.FileUpload(accept=".txt,.yml,.yaml", multiple=False, description="Upload")
        self.upload.observe(lambda _: self._uploaded(), "value")
        self.replace = w.Checkbox(description="Replace an environment of that name", indent=False)
        self.where = w.HTML()
        self.build_button = w.Button(description="Build", button_style="primary", icon="cogs")
        self.build_button.on_click(lambda _: self.submit())
        self.result = w.HTML()
        self.make_job_box([self.result])
        self.source.observe(lambda _: self._source_changed(), "value")
        for widget in (self.project, self.env_name):
            widget.observe(lambda _: self._place_changed(), "value")
        self._place_changed()
        self.make_timer(refresh_s)
        super().__init__(
            [
                w.HTML("<h3>Build a Python environment as a kernel</h3>"),
                self.project,
                self.env_name,
                self.source,
                w.HBox([self.text, self.upload]),
                self.replace,
                self.where,
                self.build_button,
                self.message,
                self.job_box,
                self.timer,
            ]
        )

    # --- the form --------------------------------------------------------------------------

    @staticmethod
    def _software(client: FactoryClient | None) -> SoftwareSettings:
        """The site's build bounds from the service; its defaults if it cannot say."""
        try:
            return software_from_facts((client or FactoryClient.from_env()).get("api/site"))
        except FactoryError:
            return SoftwareSettings()

    def partition(self) -> Partition:
        account = self.project.value or ""
        return build.build_partition(self.software, self.site.partitions_of(account))

    def _source_changed(self) -> None:
        self.text.placeholder = PLACEHOLDERS[self.source.value]

    def _uploaded(self) -> None:
        """An uploaded file fills the text; an environment.yml says what it is."""
        files = self.upload.value
        if not files:
            return
        item = files[0]
        name = str(item.get("name", ""))
        self.text.value = bytes(item.get("content", b"")).decode("utf-8", errors="replace")
        yml = name.endswith((".yml", ".yaml"))
        self.source.value = "environment_yml" if yml else "requirements"

    def _place_changed(self) -> None:
        account = self.project.value or ""
        if not account:
            self.where.value = "You are in no project: a build has nothing to be charged to."
            self.build_button.disabled = True
            return
        name = (self.env_name.value or "").strip() or "&lt;name&gt;"
        try:
            part = self.partition()
        except BuildError as exc:
            self.where.value = f"<small>{html.escape(exc.message)}</small>"
            self.build_button.disabled = True
            return
        self.build_button.disabled = False
        prefix = html.escape(f"~/{build.ENVS_DIR}/") + name
        self.where.value = (
            f"<small>Built in <code>{prefix}</code> by a job on partition {part.name}, charged "
            f"to {html.escape(account)}: at most {build.build_minutes(self.software, part)} min "
            f"and {self.software.build_max_gb:g} GB. Your kernel will be "
            f"“Python 3 ({name})”.</small>"
        )

    def request(self) -> build.BuildRequest:
        """The form as a checked request (the hub's rules, as this user), or BuildError."""
        text = self.text.value or ""
        values: dict[str, Any] = {self.source.value: text}
        if self.source.value == "packages":
            values["packages"] = package_list(text)
        return build.check_request(
            list(self.site.projects),
            name=self.env_name.value,
            project=self.project.value or "",
            home=self.place.home,
            replace=bool(self.replace.value),
            **values,
        )

    def submit(self) -> str:
        """Check the form and submit the build job; returns its id ('' if refused)."""
        started = self.start(self._submit, BuildError)
        if started is None:
            return ""
        req, job = started
        self.submitted = req
        self.result.value = ""
        self.bar.value = 0
        self.follow(
            job,
            f"Submitted job {job}: building {html.escape(req.name)} with "
            f"{len(req.requirements)} requirement(s) (log: "
            f"<code>~/{build.LOG_DIR}/{job}.log</code>).",
        )
        return job

    def _submit(self) -> tuple[build.BuildRequest, str]:
        req = self.request()
        job = build.submit(req, self.partition(), self.software, self.place.home, self.runner.run)
        return req, job

    # --- following the job (JobFollower does the rest) ------------------------------------

    def look(self, job: str) -> BuildStatus:
        """Slurm's state, the build's phase, pip's last lines and the job's final word."""
        return build.status(job, self.place.home, self.runner.run)

    def describe(self, st: BuildStatus) -> str:
        return progress_text(st)

    def finished(self, st: BuildStatus) -> None:
        self.bar.value = 100
        self.result.value = self.result_html(st)

    def result_html(self, st: BuildStatus) -> str:
        """The result line: the kernel to pick, or why the build failed (pip's words)."""
        name = self.submitted.name if self.submitted else ""
        if st.ok:
            return (
                f"<b>Done.</b> The kernel “Python 3 ({html.escape(name)})” is registered. It "
                "appears in JupyterLab's launcher within a minute (reload the page to see it "
                "at once) and under Kernel &gt; Change Kernel."
            )
        return (
            f"<b>The build failed:</b><pre>{html.escape(st.why)}</pre>"
            "The unfinished environment was removed; change the requirements and build again."
        )
