"""Which dashboards exist and who may open them: pure functions over notebook metadata.

Each dashboard (a notebook in the folder `aifactory_hub.site.paths.dashboards` finds) says in
its metadata who may open it:

    "metadata": {"aifactory": {"title": "...", "description": "...", "scope": "custom:..."}}

A notebook without that block is not a dashboard and nobody may open it (deny by default).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

VIEWER_ENV = "AIFACTORY_VIEWER"

ScopeCheck = Callable[[set[str], dict[str, Any]], Any]


@dataclass(frozen=True)
class Dashboard:
    name: str  # file name, e.g. "cluster.ipynb"
    title: str
    description: str
    scope: str
    order: int = 100


class NotADashboard(ValueError):
    """The notebook has no `aifactory` metadata block with a scope."""


def from_metadata(name: str, metadata: dict[str, Any]) -> Dashboard:
    block = metadata.get("aifactory")
    if not isinstance(block, dict) or not block.get("scope") or not block.get("title"):
        raise NotADashboard(f"{name}: no aifactory title and scope in its metadata")
    return Dashboard(
        name=name,
        title=str(block["title"]),
        description=str(block.get("description", "")),
        scope=str(block["scope"]),
        order=int(block.get("order", 100)),
    )


def read_metadata(path: Path) -> dict[str, Any]:
    """A notebook's metadata without loading (or validating) its cells."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    metadata = data.get("metadata") if isinstance(data, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def discover(directory: Path) -> list[Dashboard]:
    """The dashboards in `directory`, in their declared order."""
    found = []
    for path in sorted(directory.glob("*.ipynb")):
        metadata = read_metadata(path)
        try:
            found.append(from_metadata(path.name, metadata))
        except NotADashboard:
            continue
    return sorted(found, key=lambda d: (d.order, d.title))


def visible(dashboards: Iterable[Dashboard], user: dict[str, Any], check: ScopeCheck):
    """The dashboards `user` (a hub user model with `scopes`) may open."""
    return [d for d in dashboards if check({d.scope}, user)]


_SAFE_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{8,512}$")
TOKEN_ENV = "JUPYTERHUB_API_TOKEN"  # noqa: S105 - the variable's name, not a token


def viewer_cell(username: str, token: str) -> nbformat.NotebookNode:
    """A first cell that gives the dashboard's kernel the viewer's name and own hub token,
    so the factory service authorises the person looking, with their scopes.

    Both are Python literals made by repr(), never pasted as code; Voila strips the source
    from the page and never sends it to the browser."""
    if not _SAFE_NAME.match(username):
        raise ValueError("unusable user name")
    if not _TOKEN.match(token):
        raise ValueError("unusable token")
    source = (
        f"import os\nos.environ[{VIEWER_ENV!r}] = {username!r}\n"
        f"os.environ[{TOKEN_ENV!r}] = {token!r}"
    )
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["aifactory-viewer"]
    return cell
