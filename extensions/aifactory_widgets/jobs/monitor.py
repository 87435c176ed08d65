"""The researcher's jobs: live ones from squeue, recent ones from sacct, with cost and output.

    from aifactory_widgets import JobMonitor
    JobMonitor()

State, pending reason and expected start, elapsed, the nodes it runs or ran on, cost so far in
the project's units, the tail of a job's output, and cancel (asks first). For each finished
job, as `seff` says it: CPU efficiency, peak memory against the request and GPU-hours, with a
hint when it held much more than it used (one sacct for all of them: `slurm.efficiency`).
It refreshes on a Play widget that ticks in the browser (ui/refresh.py), so a closed page costs
Slurm nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import ipywidgets as w

from aifactory_hub.slurm import efficiency, jobs
from aifactory_widgets.jobs import efficiency as shown
from aifactory_widgets.jobs.commands import JobRunner, SlurmError, SlurmRunner, cancel
from aifactory_widgets.jobs.limits import session_place
from aifactory_widgets.jobs.status import JobRow, merge, output_candidates, tail
from aifactory_widgets.ui.confirm import ConfirmRow
from aifactory_widgets.ui.refresh import BrowserRefresh, start_soon
from aifactory_widgets.ui.tables import cell

COLUMNS = ("job", "name", "state", "reason", "expected start", "elapsed", "project",
           "partition", "nodes", "cost so far", *shown.COLUMNS)  # fmt: skip
WIDTHS = ("110px", "150px", "100px", "150px", "150px", "80px", "90px", "80px", "90px", "110px",
          *shown.WIDTHS)  # fmt: skip


class JobMonitor(BrowserRefresh, w.VBox):
    """The user's jobs, refreshed by a browser-side timer."""

    def __init__(
        self,
        runner: JobRunner | None = None,
        environ: Mapping[str, str] = os.environ,
        refresh_s: float = 15.0,
        since: str = "now-1days",
    ):
        self.runner = runner or SlurmRunner()
        self.place = session_place(environ)
        self.since = since
        self.rows: list[JobRow] = []
        # Finished jobs' figures once accounting has them all (they do not change again), and
        # those it has only in part so far (asked again at the next refresh).
        self.efficiency: dict[str, efficiency.JobEfficiency] = {}
        self.unsettled: dict[str, efficiency.JobEfficiency] = {}
        self.status = w.Label()
        self.message = w.Label()
        self.table = w.VBox()
        self.output = w.Textarea(layout=w.Layout(width="100%", height="180px", display="none"))
        self.confirm = ConfirmRow()
        self.refresh_button = w.Button(description="Refresh now", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.make_timer(refresh_s)
        super().__init__(
            [
                w.HTML("<h3>My jobs</h3>"),
                w.HBox([self.refresh_button, self.status]),
                self.message,
                self.confirm,
                self.table,
                self.output,
                self.timer,
            ]
        )
        self.refresh()
        start_soon(self.start_timer)

    def refresh(self) -> list[JobRow]:
        """One squeue and one sacct for all of the user's jobs, and one more sacct for the
        finished ones' efficiency."""
        try:
            # squeue's unreadable lines are left out: the monitor shows what it can read.
            live, _ = jobs.parse_queue(self.runner.run(jobs.user_queue_argv(self.place.user)))
            recent_argv = jobs.recent_jobs_argv(self.place.user, self.since)
            recent = jobs.parse_recent_jobs(self.runner.run(recent_argv))
        except SlurmError as exc:
            self.status.value = f"Could not ask Slurm: {exc}"
            return self.rows
        rows = merge(live, recent)
        before = (dict(self.efficiency), dict(self.unsettled))
        note = self._read_efficiency([r.id for r in rows if not r.live])
        if rows != self.rows or before != (self.efficiency, self.unsettled):
            self.rows = rows
            table = [self._header(), *(self._row(r) for r in rows)]
            self.table.children = table if rows else [w.Label("No jobs in the last day.")]
        live_n = sum(r.live for r in rows)
        self.status.value = (
            f"{live_n} live and the {len(rows) - live_n} newest finished shown.{note}"
        )
        return rows

    def _read_efficiency(self, finished: list[str]) -> str:
        """Ask accounting (once, for all) about the finished jobs whose figures are not all in
        yet; a note for the status line when it could not answer."""
        self.efficiency = {j: f for j, f in self.efficiency.items() if j in finished}
        # An array's tasks cancelled before they ran ("12_[3-9]") have no figures to ask for.
        asked = [j for j in finished if j not in self.efficiency and _one_job(j)]
        self.unsettled = {}
        if not asked:
            return ""
        try:
            found = efficiency.parse_efficiency(self.runner.run(efficiency.efficiency_argv(asked)))
        except SlurmError as exc:
            return f" Efficiency figures unavailable: {exc}"
        self.efficiency.update(
            (job, figures) for job, figures in found.items() if shown.settled(figures)
        )
        self.unsettled = {job: f for job, f in found.items() if not shown.settled(f)}
        return ""

    def _header(self) -> w.HBox:
        cells = [cell(c, width, bold=True) for c, width in zip(COLUMNS, WIDTHS, strict=True)]
        return w.HBox(cells)

    def _row(self, row: JobRow) -> w.Box:
        figures = None if row.live else self.figures(row.id)
        values = (row.id, row.name, row.state, row.reason, row.expected_start, row.elapsed,
                  row.account, row.partition, row.nodes, row.cost,
                  *shown.cells(figures))  # fmt: skip
        cells = [cell(v, width) for v, width in zip(values, WIDTHS, strict=True)]
        show = w.Button(description="Output", layout=w.Layout(width="80px"))
        show.on_click(lambda _, r=row: self.show_output(r))
        buttons = [show]
        if row.live:
            stop = w.Button(description="Cancel", button_style="warning")
            stop.layout.width = "80px"
            stop.on_click(lambda _, r=row: self.ask_cancel(r))
            buttons.append(stop)
        line = w.HBox([*cells, *buttons])
        hint = shown.hint_text(figures)
        return w.VBox([line, w.Label(hint)]) if hint else line

    def figures(self, job: str) -> efficiency.JobEfficiency | None:
        """What accounting said of a finished job's use (None: nothing yet)."""
        return self.efficiency.get(job) or self.unsettled.get(job)

    def output_path(self, row: JobRow) -> str:
        """Where the job writes: Slurm's StdOut= for a live job, else the launchers' places."""
        if row.live:
            try:
                path = jobs.job_stdout(self.runner.run(jobs.show_job_argv(row.id)))
            except (SlurmError, ValueError):
                path = ""
            if path:
                return path
        found = [p for p in output_candidates(self.place.home, row.id) if p.is_file()]
        return str(found[0]) if found else ""

    def show_output(self, row: JobRow) -> str:
        path = self.output_path(row)
        try:
            text = tail(Path(path)) if path else ""
        except OSError as exc:
            text = ""
            self.message.value = f"Cannot read {path}: {exc.strerror}"
        else:
            self.message.value = f"Job {row.id}: {path or 'no output file found'}"
        self.output.value = text
        self.output.layout.display = "block" if path else "none"
        return text

    def ask_cancel(self, row: JobRow) -> None:
        question = f"Cancel job {row.id} ({row.name}, {row.state.lower()})? Its work stops now."
        self.confirm.ask(question, "Yes, cancel it", lambda: self.cancel(row))

    def cancel(self, row: JobRow) -> None:
        try:
            cancel(self.runner, row.id)
        except (SlurmError, ValueError) as exc:
            self.message.value = f"Could not cancel job {row.id}: {exc}"
            return
        self.message.value = f"Job {row.id} cancelled."
        self.refresh()


def _one_job(job: str) -> bool:
    try:
        jobs.check_job_id(job, array_task=True)
    except ValueError:
        return False
    return True
