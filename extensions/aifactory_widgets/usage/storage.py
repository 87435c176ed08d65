"""A project's storage in the quota view: how much its project and scratch folders hold against
the site's allowance for its access mode, with the warning at 80 % and 95 %, when it was
measured, and where the folders are ($PROJECT_DIR, $SCRATCH_DIR in a session).

The figures are the factory service's storage meter's last pass (a walk of each folder every
few minutes), never measured here: a session writing right now is counted at the next pass,
and a folder too big to walk within the site's bound shows "at least".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from aifactory_widgets.ui.format import number, short_time
from aifactory_widgets.ui.tables import html_table

BAR_STYLE = {"none": "success", "80": "warning", "95": "danger", "exhausted": "danger"}
LEVEL_TEXT = {
    "80": "Storage warning: the project's folders hold over 80 % of its storage allowance.",
    "95": "Storage warning: the project's folders hold over 95 % of its storage allowance; "
    "remove or move out what you no longer need.",
    "exhausted": "Storage: the project's folders hold more than its allowance. Remove what you "
    "no longer need (old scratch files are purged), or ask support for more.",
}
FOLDER_COLUMNS = ("folder", "path", "size", "entries", "note")


def size_text(gb: float | None) -> str:
    """GB (10^9 bytes) for people: 0.000373 -> '0.4 MB', 1.5 -> '1.50 GB'; None -> '-'."""
    if gb is None:
        return "-"
    if gb < 0.01:
        return f"{gb * 1000:.1f} MB"
    return f"{gb:,.2f} GB"


def storage_line(storage: Mapping[str, Any]) -> str:
    """One sentence: used of allowed, entries, when measured (or that it was not yet)."""
    if not storage.get("measured"):
        return "Storage: not measured yet (the factory measures every project's folders "
        "periodically)."
    at_least = "at least " if storage.get("lower_bound") else ""
    text = f"Storage: {at_least}{size_text(storage.get('used_gb'))}"
    allowance = storage.get("allowance_gb")
    if allowance:
        text += f" of {number(allowance)} GB ({storage.get('percent', 0):.1f} %)"
    else:
        text += " (no allowance set)"
    text += f" in {at_least}{storage.get('files') or 0:,} entries"
    return text + f", measured {short_time(storage.get('measured_at'))}."


def folder_rows(storage: Mapping[str, Any]) -> list[tuple]:
    """One row per folder: its variable, path, size, entries and what to know about it."""
    rows = []
    for f in storage.get("folders") or []:
        if not f.get("measured"):
            note = "not measured yet"
        elif not f.get("exists"):
            note = "not made yet"
        elif not f.get("complete"):
            note = "at least: " + (f.get("error") or "the scan stopped early")
        else:
            note = ""
        if f.get("folder") == "scratch" and storage.get("scratch_purge_days"):
            purge = f"files unchanged for {storage['scratch_purge_days']} days are removed"
            note = f"{note}; {purge}" if note else purge
        rows.append((f"${f.get('env', '')}", f.get("path", ""), size_text(f.get("used_gb")),
                     "-" if f.get("files") is None else f"{f['files']:,}", note))  # fmt: skip
    return rows


class StorageBox(w.VBox):
    """A project's storage: the line, a bar against the allowance, the warning, the folders."""

    def __init__(self, storage: Mapping[str, Any] | None):
        storage = storage or {}
        level = storage.get("level", "none")
        self.line = w.Label(storage_line(storage))
        self.warning = w.Label(LEVEL_TEXT.get(level, ""))
        self.warning.style.text_color = "#b00020" if level != "none" else None
        parts: list[w.Widget] = [self.line]
        self.bar = None
        allowance = storage.get("allowance_gb")
        if storage.get("measured") and allowance:
            used = storage.get("used_gb") or 0.0
            self.bar = w.FloatProgress(value=min(used, allowance), min=0, max=allowance,
                                       bar_style=BAR_STYLE.get(level, "info"),
                                       description="storage GB")  # fmt: skip
            self.bar.style.description_width = "140px"
            parts.append(self.bar)
        self.folders = w.HTML(html_table(FOLDER_COLUMNS, folder_rows(storage)))
        super().__init__([*parts, self.warning, self.folders])
