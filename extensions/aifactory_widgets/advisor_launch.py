"""From the advisor's numbers to the training launcher, when this installation has one.

The launcher (`aifactory_widgets.jobs.training.TrainingLauncher`) is another part of the
project: it is imported only when asked for, built as a researcher would build it, and then
its fields are set to the advisor's numbers (project, partition, nodes, GPUs per node, wall
time). A field it lacks or a value it refuses is left as the launcher chose, and said so; the
launcher's own Review still checks everything before anything is submitted.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w
from traitlets import TraitError

MODULE = "aifactory_widgets.jobs.training"
FACTORY = "TrainingLauncher"


def find_factory() -> tuple[Callable[[], Any] | None, str]:
    """(the launcher's class, '') or (None, why not)."""
    try:
        if importlib.util.find_spec(MODULE) is None:
            return None, "The training launcher is not installed in this environment."
        module = importlib.import_module(MODULE)
    except Exception as exc:  # a broken launcher must not break the advisor
        return None, f"The training launcher could not be loaded: {exc}"
    factory = getattr(module, FACTORY, None)
    if not callable(factory):
        return None, "The training launcher offers no widget to open."
    return factory, ""


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
    return (
        f"partition {estimate['partition']}, {estimate['nodes']} node(s) x "
        f"{estimate['gpus_per_node']} GPU(s), {estimate['walltime_hours']:.1f} h per job, "
        f"{estimate['jobs']} job(s) in a row, project {estimate.get('account') or '(choose)'}"
    )


class LauncherLink(w.VBox):
    """A button that opens the training launcher with the advisor's current estimate."""

    def __init__(self, estimate: Callable[[], Mapping[str, Any]]):
        self.estimate = estimate
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
        factory, why = find_factory()
        if factory is None:
            self.area.children = [w.Label(f"{why} Ask Slurm for: {summary(current)}.")]
            return
        try:
            launcher = factory()
            skipped = prefill(launcher, current)
        except Exception as exc:  # shown, not raised: the advisor stays usable
            self.area.children = [w.Label(f"The training launcher failed to open: {exc}")]
            return
        note = f"Opened with {summary(current)}."
        if skipped:
            note += f" Not set (check them): {', '.join(skipped)}."
        shown = launcher if isinstance(launcher, w.Widget) else w.Label(str(launcher))
        self.area.children = [w.Label(note), shown]
