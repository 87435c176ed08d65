"""Tables for widgets, with every value escaped; the cells of widget rows; CSV downloads.

ipywidgets' HTML widget renders markup as given, so anything that came from a user (job
names, usernames, project titles) goes through `html.escape` here. Rows made of widgets (a
button per row) use Labels, which show text and never markup.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Any

import ipywidgets as w

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


def cell(text: Any, width: str, bold: bool = False) -> w.Label:
    """A cell of a row of widgets: a Label of fixed width (text, never markup)."""
    label = w.Label(str(text), layout=w.Layout(width=width))
    if bold:
        label.style.font_weight = "bold"
    return label


def csv_link(csv_text: str, filename: str, text: str = "Download CSV") -> str:
    """An `<a download>` whose data: URL holds the CSV itself: it works in Voila, writes no file
    on the server, needs no second request (passwords shown once are never sent again), and
    base64 keeps every character of the data out of the markup."""
    data = base64.b64encode(csv_text.encode()).decode("ascii")
    return (
        f'<a download="{html.escape(filename, quote=True)}" '
        f'href="data:text/csv;charset=utf-8;base64,{data}" class="af-download">'
        f"{html.escape(text)}</a>"
    )
