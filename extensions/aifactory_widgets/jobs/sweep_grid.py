"""A parameter sweep's grid: rows of `name = v1, v2, ...` -> every combination, as JSON lines.

Values read as JSON where they can (0.1, 32, true, "a b") and as plain text otherwise, so a
script gets numbers as numbers. The file holds one parameter set per line; array task N runs
line N+1 (scripts.render_sweep_script).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from aifactory_widgets.jobs.limits import LimitError

MAX_POINTS = 1000  # Slurm's default MaxArraySize is 1001 (indices 0-1000)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


def parse_value(text: str) -> Any:
    text = text.strip()
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, (dict, list)):
        return text  # a grid point holds scalars; keep anything else as the text typed
    return value


def parse_grid(rows: Iterable[tuple[str, str]]) -> dict[str, list[Any]]:
    """{name: values} from the form's rows; empty rows are skipped, bad ones refused."""
    grid: dict[str, list[Any]] = {}
    for raw_name, raw_values in rows:
        name, values = raw_name.strip(), raw_values.strip()
        if not name and not values:
            continue
        if any(c in name + values for c in "\n\r\0"):
            raise LimitError("grid", f"parameter {name[:40]!r}: must be one line")
        if not _NAME.match(name):
            raise LimitError("grid", f"{name[:40]!r} is not a parameter name (letters, digits, _)")
        if name in grid:
            raise LimitError("grid", f"parameter {name} appears twice")
        parsed = [parse_value(v) for v in values.split(",") if v.strip()]
        if not parsed:
            raise LimitError("grid", f"parameter {name}: give at least one value")
        grid[name] = parsed
    if not grid:
        raise LimitError("grid", "give at least one parameter and its values")
    return grid


def expand_grid(grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination, the last parameter changing fastest."""
    names = list(grid)
    points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
    if len(points) > MAX_POINTS:
        raise LimitError("grid", f"{len(points)} combinations; at most {MAX_POINTS} per sweep")
    return points


def grid_lines(points: Sequence[dict[str, Any]]) -> str:
    """The grid file's text: one JSON object per line, nothing else on it."""
    return "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in points)
