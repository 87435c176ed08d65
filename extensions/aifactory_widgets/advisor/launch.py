"""From the advisor's numbers to the training launcher.

The launcher (jobs/training.py) is built as a researcher would build it, and then its fields
are set to the advisor's numbers (project, partition, nodes, GPUs per node, wall time). A
field it lacks or a value it refuses is left as the launcher chose, and said so; the
launcher's own Review still checks everything before anything is submitted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w
from traitlets import TraitError

from aifactory_widgets.jobs.training import TrainingLauncher


def prefill(launcher: Any, estimate: Mapping[str, Any]) -> list[str]:
    """Set the launcher's fields to the estimate, in the order they depend on each other
    (the project decides the partitions, the partition the bounds); the fields left alone."""
    placement = getattr(launcher, "placement", None)
    steps = [
        ("project", placement, "project", estimate.get("account")),
        ("partition", placement, "partition", estimate.get("partition")),
        ("nodes", launcher, "nodes", estimate.get("nodes")),
        ("GPUs per node", launcher, "gpus", estimate.get("gpus_per_node")),
        ("wall time", placement, "walltime", round(estimate.get("walltime_hours", 0) * 60)),
    ]
    skipped = []
    for label, owner, name, value in steps:
        widget = getattr(owner, name, None)
        if not isinstance(widget, w.ValueWidget) or value in (None, "", 0):
            skipped.append(label)
            continue
        try:
            widget.value = value
        except TraitError:
            skipped.append(label)
    return skipped


def summary(estimate: Mapping[str, Any]) -> str:
    """The estimate in one line, as the button's note and the launcher's note say it."""
    return (
        f"partition {estimate['partition']}, {estimate['nodes']} node(s) x "
        f"{estimate['gpus_per_node']} GPU(s), {estimate['walltime_hours']:.1f} h per job, "
        f"{estimate['jobs']} job(s) in a row, project {estimate.get('account') or '(choose)'}"
    )


class LauncherLink(w.VBox):
    """A button that opens the training launcher with the advisor's current estimate.

    `open_launcher` builds the launcher (TrainingLauncher, as a researcher would build it)."""

    def __init__(
        self,
        estimate: Callable[[], Mapping[str, Any]],
        open_launcher: Callable[[], w.Widget] = TrainingLauncher,
    ):
        self.estimate = estimate
        self.open_launcher = open_launcher
        self.button = w.Button(description="Open the training launcher", icon="rocket")
        self.button.on_click(lambda _: self.launch())
        self.note = w.Label()
        self.area = w.VBox()
        super().__init__([w.HBox([self.button, self.note]), self.area])

    def refresh(self) -> None:
        current = self.estimate()
        self.button.disabled = not current
        self.note.value = f"with {summary(current)}" if current else ""

    def launch(self) -> None:
        current = self.estimate()
        if not current:
            return
        try:
            launcher = self.open_launcher()
            skipped = prefill(launcher, current)
        except Exception as exc:  # shown, not raised: the advisor stays usable
            failed = f"The training launcher failed to open ({exc})."
            self.area.children = [w.Label(f"{failed} Ask Slurm for: {summary(current)}.")]
            return
        note = f"Opened with {summary(current)}."
        if skipped:
            note += f" Not set (check them): {', '.join(skipped)}."
        self.area.children = [w.Label(note), launcher]
