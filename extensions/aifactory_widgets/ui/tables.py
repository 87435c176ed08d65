"""HTML tables for widgets, with every value escaped.

ipywidgets' HTML widget renders markup as given, so anything that came from a user (job
names, usernames, project titles) goes through `html.escape` here and nowhere else.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

STYLE = (
    "<style>.af-table{border-collapse:collapse;font-size:13px;width:100%}"
    ".af-table th,.af-table td{border-bottom:1px solid #dde;padding:3px 8px;text-align:left}"
    ".af-table th{background:#f3f4f8}.af-muted{color:#667}</style>"
)


def html_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "none") -> str:
    """A table whose header and cells are all escaped text."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(columns)}" class="af-muted">{html.escape(empty)}</td></tr>'
    return f'{STYLE}<table class="af-table"><tr>{head}</tr>{body}</table>'


def _text(value: Any) -> str:
    return "" if value is None else str(value)
