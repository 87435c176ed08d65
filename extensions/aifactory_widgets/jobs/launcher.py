"""What the training and sweep launchers share: the form, review first, then submit.

"Review" checks the request against the partition's and project's limits and shows the exact
batch script; "Submit" sends that script, and any change to the form takes it back to review.
Nothing reaches sbatch that the user has not seen, and a refusal names the field and why.
"""

from __future__ import annotations

import html
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import ipywidgets as w

from aifactory_widgets.jobs.commands import (
    JOB_DIR,
    JobRunner,
    SlurmError,
    SlurmRunner,
    job_dir,
    submit,
)
from aifactory_widgets.jobs.limits import (
    JobSite,
    LimitError,
    Resources,
    check_resources,
    load_site,
    session_place,
)
from aifactory_widgets.jobs.placement import Placement, field
from aifactory_widgets.jobs.scripts import JobContext, script_args, script_path
from aifactory_widgets.ui.client import FactoryClient, FactoryError


class ScriptLauncher(w.VBox):
    """Base: subclasses add their fields (`extra_fields`) and `render()` the script."""

    title = "Batch job"

    def __init__(
        self,
        client: FactoryClient | None = None,
        site: JobSite | None = None,
        runner: JobRunner | None = None,
        environ: Mapping[str, str] = os.environ,
        python: str = "",
    ):
        self.runner = runner or SlurmRunner()
        self.place = session_place(environ)
        self.script_text = ""
        self.job_id = ""
        self.message = w.Label()
        self.preview = w.HTML()
        self.script = field(w.Text, "Script (in ~)", placeholder="train.py")
        self.arguments = field(w.Text, "Arguments", placeholder="--epochs 3")
        self.cpus_per_task = field(w.BoundedIntText, "CPUs per task", min=1, max=1, value=1)
        self.memory_gb = field(w.BoundedIntText, "Memory per node (GB)", min=1, max=1, value=1)
        self.gpus = field(w.BoundedIntText, "GPUs per node", min=0, max=0, value=0)
        self.review_button = w.Button(description="Review script", button_style="info")
        self.submit_button = w.Button(description="Submit", button_style="primary", disabled=True)
        self.review_button.on_click(lambda _: self.review())
        self.submit_button.on_click(lambda _: self.submit())
        try:
            self.site = site or load_site(client or FactoryClient.from_env())
        except FactoryError as exc:
            super().__init__([w.Label(f"Cannot offer {self.title.lower()}s: {exc}")])
            return
        self.ctx = JobContext(
            home=self.place.home,
            python=python or sys.executable,  # the session's environment runs the job too
            interface=self.site.jobs.interface,
        )
        extra = self.extra_fields()
        self.placement = Placement(self.site, self.place, self._bound_to_partition)
        self._bound_to_partition()
        fields = [self.placement, self.script, self.arguments, *extra]
        for widget in self._watched(fields):
            widget.observe(lambda _: self._changed(), "value")
        super().__init__(
            [
                w.HTML(f"<h3>{html.escape(self.title)}</h3>"),
                *fields,
                w.HBox([self.review_button, self.submit_button]),
                self.message,
                self.preview,
            ]
        )

    def extra_fields(self) -> list[w.Widget]:
        return [self.cpus_per_task, self.memory_gb, self.gpus]

    def _watched(self, fields: list[w.Widget]) -> list[w.Widget]:
        out: list[w.Widget] = []
        for widget in fields:
            out += self._watched(list(widget.children)) if isinstance(widget, w.Box) else [widget]
        return out

    def _bound_to_partition(self) -> None:
        part = self.placement.limits if hasattr(self, "placement") else None
        if part is None:
            return
        self.cpus_per_task.max = part.max_cpus
        self.memory_gb.max = part.max_memory_gb
        self.memory_gb.value = min(max(self.memory_gb.value, 2), part.max_memory_gb)
        self.gpus.min, self.gpus.max = 0, part.max_gpus  # max first: min may not pass it
        self.gpus.min = part.min_gpus
        self.gpus.value = max(min(self.gpus.value, part.max_gpus), part.min_gpus)

    def _changed(self) -> None:
        if self.script_text:
            self.script_text = ""
            self.submit_button.disabled = True
            self.message.value = "The form changed: review the script again before submitting."

    def resources(self, tasks_per_node: int = 1, nodes: int = 1) -> Resources:
        return Resources(
            account=self.placement.account,
            partition=self.placement.partition.value or "",
            nodes=nodes,
            tasks_per_node=tasks_per_node,
            cpus_per_task=int(self.cpus_per_task.value),
            memory_gb=int(self.memory_gb.value),
            gpus_per_node=int(self.gpus.value),
            walltime_minutes=int(self.placement.walltime.value),
        )

    def checked(self, res: Resources) -> tuple[Resources, str, tuple[str, ...]]:
        """The request within limits, and the script and arguments, or LimitError."""
        res = check_resources(res, self.site)
        path = script_path(self.script.value)
        if not Path(self.place.home, path).is_file():
            raise LimitError("script", f"~/{path} is not a file")
        return res, path, script_args(self.arguments.value)

    def render(self) -> str:
        raise NotImplementedError

    def review(self) -> str:
        """Check and render; show the script, or why it is refused (nothing is submitted)."""
        self.script_text = ""
        self.submit_button.disabled = True
        try:
            text = self.render()
        except LimitError as exc:
            self.preview.value = ""
            self.message.value = f"Refused: {exc}"
            return ""
        self.script_text = text
        self.preview.value = f"<pre>{html.escape(text)}</pre>"
        self.submit_button.disabled = False
        self.message.value = "This is the batch script that will be submitted, as you."
        return text

    def before_submit(self) -> None:
        """Hook: write what the script reads (the sweep's grid file)."""

    def submit(self) -> str:
        """sbatch the reviewed script; returns the job id ('' if it was refused)."""
        if not self.script_text:
            self.message.value = "Review the script first."
            return ""
        try:
            job_dir(self.place.home)
            self.before_submit()
            self.job_id = submit(self.runner, self.script_text)
        except (SlurmError, OSError) as exc:
            self.message.value = f"Slurm refused the job: {exc}"
            return ""
        self.submit_button.disabled = True
        self.script_text = ""
        self.message.value = f"Submitted job {self.job_id}; its output: {self.output_hint()}."
        return self.job_id

    def output_hint(self) -> str:
        return f"~/{JOB_DIR}/{self.job_id}.out"
