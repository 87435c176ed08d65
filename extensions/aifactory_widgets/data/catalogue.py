"""The shared catalogue in a notebook:
`from aifactory_widgets import DataCatalogue; DataCatalogue()`.

A search box and a table of the datasets and models the caller's projects may use; picking
one shows its description, its licence (with a link to the text), whether it may be used
commercially, its path on the cluster and a ready snippet in a text area to copy into a cell.
The service says which items the caller may use and writes the snippets; the filesystem
enforces the same (a project-only file is readable by its project's group alone). Values
shown as markup go through `html.escape`; the rest are Labels and text areas.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import ipywidgets as w

from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.format import yes_no
from aifactory_widgets.ui.panel import Panel
from aifactory_widgets.ui.tables import html_table

API = "api/"
COLUMNS = ("name", "kind", "format", "size", "licence", "commercial use")
STAFF_COLUMNS = (*COLUMNS, "projects")
WIDE = w.Layout(width="720px")


def catalogue_path(query: str) -> str:
    """The service's path for a search (the query URL-encoded; none: every item)."""
    query = query.strip()
    return API + "catalogue" + (f"?q={quote(query, safe='')}" if query else "")


def size_text(size_mb: float | None) -> str:
    """0.068 -> '68 kB', 12.5 -> '12.5 MB', 2048 -> '2 GB'."""
    if size_mb is None:
        return ""
    if size_mb < 1:
        return f"{size_mb * 1000:.3g} kB"
    if size_mb < 1000:
        return f"{size_mb:.3g} MB"
    return f"{size_mb / 1000:.3g} GB"


def commercial_text(item: Mapping[str, Any]) -> str:
    if item.get("commercial_use"):
        return "Commercial use is allowed by its licence."
    return (
        "Its licence does not allow commercial use: the ethics check flags a proposal that "
        "names it for commercial work (results not published openly, no academic partner)."
    )


def rows(items: Sequence[Mapping[str, Any]]) -> list[tuple]:
    """The table's rows; staff answers carry `projects` and get a column for them."""
    found = []
    for item in items:
        row = [item["name"], item.get("kind", ""), item.get("format", ""),
               size_text(item.get("size_mb")), item.get("licence", ""),
               yes_no(item.get("commercial_use"))]  # fmt: skip
        if "projects" in item:
            row.append(", ".join(item["projects"]))
        found.append(tuple(row))
    return found


def licence_html(item: Mapping[str, Any]) -> str:
    """The licence's name, linked to its text when the site gave an http(s) address."""
    name = html.escape(str(item.get("licence") or "not given"))
    url = str(item.get("licence_url") or "")
    if not url.startswith(("https://", "http://")):
        return f"<b>Licence:</b> {name}"
    href = html.escape(url, quote=True)
    return f'<b>Licence:</b> <a href="{href}" target="_blank" rel="noopener noreferrer">{name}</a>'


class DataCatalogue(Panel):
    """Search the catalogue, pick an item, copy its path or snippet (the session's own token
    by default)."""

    def __init__(self, client: FactoryClient | None = None):
        super().__init__(client or FactoryClient.from_env())
        self.items: list[dict[str, Any]] = []
        # continuous_update off: the search runs on Enter or leaving the box, not per key
        self.query = w.Text(placeholder="search names, descriptions, licences, kinds",
                            description="Search", continuous_update=False,
                            layout=w.Layout(width="480px"))  # fmt: skip
        self.watch(self.query, self.load)
        self.search_button = self.button("Search", self.load, icon="search")
        self.table = w.HTML()
        self.pick = w.Dropdown(description="Item", options=[], layout=w.Layout(width="480px"))
        self.watch(self.pick, self.show_selected)
        self.title = w.HTML()
        self.description = w.Label(layout=WIDE)
        self.licence = w.HTML()
        self.commercial = w.Label(layout=WIDE)
        self.path = w.Text(description="Path", layout=WIDE)
        self.snippet = w.Textarea(description="Snippet", rows=8, layout=WIDE)
        self.details = w.VBox([self.title, self.description, self.licence, self.commercial,
                               self.path, w.Label("Copy the snippet into a cell to load it:"),
                               self.snippet])  # fmt: skip
        self.children = [w.HBox([self.query, self.search_button]), self.message, self.table,
                         self.pick, self.details, self.errors]  # fmt: skip
        self.load()

    def load(self) -> None:
        """Ask the service for the items matching the search box."""
        path = catalogue_path(self.query.value)
        items = self.attempt("Could not read the catalogue", lambda: self.client.get(path))
        if items is None:
            return
        self.items = items
        staff = any("projects" in item for item in items)
        self.table.value = html_table(
            STAFF_COLUMNS if staff else COLUMNS, rows(items), empty="no item matches"
        )
        count = len(items)
        found = " found." if self.query.value.strip() else "."
        self.say(f"{count} item{'s' if count != 1 else ''}{found}")
        self.set_options(self.pick, [(item["name"], item["name"]) for item in items])
        self.show_selected()

    def show_selected(self) -> None:
        item = next((i for i in self.items if i["name"] == self.pick.value), None)
        self.show(item)

    def show(self, item: Mapping[str, Any] | None) -> None:
        """The picked item's details; nothing picked hides them."""
        self.details.layout.display = None if item else "none"
        if item is None:
            return
        kind = html.escape(str(item.get("kind", "")))
        self.title.value = f"<h4>{html.escape(item['name'])} ({kind})</h4>"
        self.description.value = str(item.get("description") or "")
        self.licence.value = licence_html(item)
        self.commercial.value = commercial_text(item)
        self.path.value = str(item.get("path", ""))
        self.snippet.value = str(item.get("snippet", ""))
