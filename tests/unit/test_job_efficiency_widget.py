"""The job monitor's efficiency columns and hints, headless, with scripted Slurm answers: the
finished jobs' sacct lines are real ones (tests/unit/test_slurm_efficiency.py's)."""

from __future__ import annotations

import ipywidgets as w
import pytest

from aifactory_hub.slurm.efficiency import efficiency_argv
from aifactory_widgets import JobMonitor
from aifactory_widgets.jobs.efficiency import cells
from tests.unit.test_slurm_efficiency import CAPTURED

QUEUE = "3590|bob|ai-alpha|cpu|RUNNING|None|2026-12-06T01:50:00|0:10|1|aif-train\n"
RECENT = "".join(  # slurm.jobs.recent_jobs_argv's fields
    f"{job}|{part}|ai-alpha|COMPLETED|0:0|2026-12-06T01:49:30|2026-12-06T01:50:10|00:00:40|"
    f"{secs}|{tres}|/tmp|cpu1|wrap\n"
    for job, part, secs, tres in (
        ("3585", "cpu", 40, "billing=1,cpu=1,mem=1G,node=1"),
        ("3586", "cpu", 35, "billing=2,cpu=2,mem=2G,node=1"),
        ("3589", "gpu", 35, "billing=1,cpu=1,gres/gpu=1,mem=1G,node=1"),
        ("3591_[2-4]", "cpu", 0, ""),  # an array's tasks cancelled before they ran
    )
)
# 3585 and 3586 as accounting has them once they ended; 3589 just ended, no MaxRSS yet.
EFFICIENCY = "".join(
    line + "\n"
    for line in CAPTURED.splitlines()
    if line.startswith(("3585", "3586")) or line.startswith("3589|")
)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"SLURM_JOB_ACCOUNT": "ai-alpha", "SLURM_JOB_PARTITION": "cpu", "HOME": str(tmp_path)}


class Accounting:
    """squeue and the two sacct queries, told apart by their fields; records every call."""

    def __init__(self, efficiency: str):
        self.efficiency = efficiency
        self.calls: list[list[str]] = []

    def run(self, argv, input=None):
        self.calls.append(list(argv))
        if argv[0] == "squeue":
            return QUEUE
        return self.efficiency if any(a.startswith("--jobs=") for a in argv) else RECENT


def labels(widget: w.Widget) -> list[str]:
    if isinstance(widget, w.Label):
        return [widget.value]
    return [text for child in getattr(widget, "children", ()) for text in labels(child)]


def test_finished_jobs_show_cpu_use_memory_peak_gpu_hours_and_a_hint(env):
    runner = Accounting(EFFICIENCY)
    m = JobMonitor(runner=runner, environ=env)
    # one sacct for all the finished jobs that can have figures, none for the live one
    assert runner.calls[-1] == efficiency_argv(["3589", "3586", "3585"])
    rows = {r.id: r for r in m.rows}
    assert cells(m.figures("3585")) == ("61% of 1", "309 MB of 1.0 GB", "-")
    assert cells(m.figures("3586")) == ("0% of 2", "60 MB of 2.0 GB", "-")
    assert cells(m.figures("3589")) == ("0% of 1", "", "0.010")  # no peak yet
    assert m.figures("3590") is None and rows["3590"].live
    text = labels(m.table)
    assert "61% of 1" in text and "0.010" in text
    assert (
        "Job 3586: asked for 2 CPUs, used about 0.0: ask for 1 next time; asked for 2.0 GB of "
        "memory, peaked at 60 MB: ask for 1 GB next time."
    ) in text
    assert not any(t.startswith(("Job 3585", "Job 3589")) for t in text)


def test_settled_figures_are_not_asked_for_again_and_late_ones_are(env):
    runner = Accounting(EFFICIENCY)
    m = JobMonitor(runner=runner, environ=env)
    runner.efficiency = CAPTURED  # accounting now has 3589's batch step too
    m.refresh()
    assert runner.calls[-1] == efficiency_argv(["3589"])
    assert cells(m.figures("3589")) == ("0% of 1", "59 MB of 1.0 GB", "0.010")
    m.refresh()
    assert runner.calls[-1][0] == "sacct" and "--allocations" in runner.calls[-1]  # no third


def test_accounting_that_fails_leaves_the_list_and_says_why(env):
    from aifactory_hub.slurm import SlurmError

    class Down(Accounting):
        def run(self, argv, input=None):
            if any(a.startswith("--jobs=") for a in argv):
                raise SlurmError(argv, 1, "", "sacct: error: slurmdbd down")
            return super().run(argv, input)

    m = JobMonitor(runner=Down(""), environ=env)
    assert len(m.rows) == 5
    assert "Efficiency figures unavailable" in m.status.value and "slurmdbd down" in m.status.value
