"""One-click parameter sweep: a Slurm job array over a small grid the user fills in.

    from aifactory_widgets import SweepLauncher
    SweepLauncher()     # script, rows of name + values (0.1, 0.01); Review, then Submit

Every combination becomes one line (JSON) of a file in ~/.aifactory-jobs/sweeps/; array task
N runs the script with line N+1 in $AIFACTORY_SWEEP_PARAMS:

    params = json.loads(os.environ["AIFACTORY_SWEEP_PARAMS"])
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import ipywidgets as w

from aifactory_widgets.jobs.commands import JOB_DIR, job_dir
from aifactory_widgets.jobs.launcher import ScriptLauncher
from aifactory_widgets.jobs.placement import field
from aifactory_widgets.jobs.scripts import render_sweep_script
from aifactory_widgets.jobs.sweep_grid import expand_grid, grid_lines, parse_grid
from aifactory_widgets.ui.tables import html_table

ROWS = 3


class SweepLauncher(ScriptLauncher):
    title = "Parameter sweep (job array)"

    def extra_fields(self) -> list[w.Widget]:
        self.rows = w.VBox([self._row() for _ in range(ROWS)])
        self.add_row = w.Button(description="Add parameter", icon="plus")
        self.add_row.on_click(lambda _: self._add_row())
        self.parallel = field(w.BoundedIntText, "At once (max)", min=1, max=100, value=4)
        self.points: list[dict[str, Any]] = []
        self.grid_file = ""
        hint = w.Label("Grid: a parameter name, then its values separated by commas")
        grid = w.VBox([hint, self.rows, self.add_row])
        return [grid, self.parallel, self.cpus_per_task, self.memory_gb, self.gpus]

    def _row(self) -> w.HBox:
        name = w.Text(placeholder="lr", layout=w.Layout(width="140px"))
        values = w.Text(placeholder="0.1, 0.01, 0.001", layout=w.Layout(width="400px"))
        for widget in (name, values):
            widget.observe(lambda _: self._changed(), "value")
        return w.HBox([name, values])

    def _add_row(self) -> None:
        self.rows.children = [*self.rows.children, self._row()]

    def set_grid(self, grid: dict[str, str]) -> None:
        """Fill the rows from code: {name: 'v1, v2'} (the notebook and tests use it)."""
        while len(self.rows.children) < len(grid):
            self._add_row()
        items = list(grid.items())
        for i, row in enumerate(self.rows.children):
            name, values = items[i] if i < len(items) else ("", "")
            row.children[0].value, row.children[1].value = name, values

    def render(self) -> str:
        rows = [(r.children[0].value, r.children[1].value) for r in self.rows.children]
        points = expand_grid(parse_grid(rows))
        res, path, args = self.checked(self.resources())
        stamp = time.strftime("%Y%m%d-%H%M%S")
        grid_file = f"{self.place.home}/{JOB_DIR}/sweeps/sweep-{stamp}-{secrets.token_hex(2)}.jsonl"
        text = render_sweep_script(
            res,
            path,
            args,
            self.ctx,
            grid_file=grid_file,
            points=len(points),
            parallel=int(self.parallel.value),
        )
        self.points, self.grid_file = points, grid_file
        return text

    def review(self) -> str:
        text = super().review()
        if text:
            names = list(self.points[0])
            table = html_table(
                ["task", *names], [(i, *p.values()) for i, p in enumerate(self.points)]
            )
            self.preview.value = table + self.preview.value
        return text

    def before_submit(self) -> None:
        job_dir(self.place.home, "sweeps")
        Path(self.grid_file).write_text(grid_lines(self.points))

    def output_hint(self) -> str:
        return f"~/{JOB_DIR}/{self.job_id}_<task>.out, grid in {self.grid_file}"
