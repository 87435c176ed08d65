"""The shared catalogue as a researcher sees it: the items they may use, a search over them,
and a ready snippet that loads each one.

Pure functions of the site's `[[catalogue]]` items and the caller's project accounts, so the
service, the proposal checks and the tests share one answer to "may this user use that item".
A snippet is code the researcher pastes into a notebook: the only value of the site file that
goes into it is the item's path, as a Python string literal made by `repr`, so a path with
quotes or newlines is still one string and never code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from aifactory_hub.site.storage import EVERY_PROJECT, CatalogueItem

MAX_QUERY = 100
MAX_NAMED = 20

# The csv snippet uses the standard library: the session environment has no pandas, and
# numpy.genfromtxt would take a leading "# source" comment line for the column names.
_SNIPPETS = {
    "csv": (
        "import csv\n\n"
        "path = {path}\n"
        "with open(path, newline='') as f:\n"
        "    # lines starting with '#' are comments (e.g. where the data comes from)\n"
        "    rows = list(csv.DictReader(line for line in f if not line.startswith('#')))\n"
        "print(len(rows), 'rows; columns:', list(rows[0]) if rows else [])\n"
    ),
    "npz": (
        "import numpy as np\n\n"
        "path = {path}\n"
        "with np.load(path) as data:  # allow_pickle stays off: arrays only\n"
        "    arrays = {{name: data[name] for name in data.files}}\n"
        "print({{name: a.shape for name, a in arrays.items()}})\n"
    ),
    "torch": (
        "import torch\n\n"
        "path = {path}\n"
        "# weights_only: tensors only, no pickled code runs\n"
        "state = torch.load(path, map_location='cpu', weights_only=True)\n"
        "print({{name: tuple(t.shape) for name, t in state.items()}})\n"
        "# model.load_state_dict(state) puts these weights into a model of the same shape\n"
    ),
    "huggingface": (
        "from datasets import load_from_disk\n\n"
        "path = {path}\n"
        "dataset = load_from_disk(path)\n"
        "print(dataset)\n"
    ),
    "files": (
        "from pathlib import Path\n\n"
        "path = Path({path})\n"
        "entries = sorted(path.iterdir()) if path.is_dir() else [path]\n"
        "for entry in entries:\n"
        "    print(entry)\n"
    ),
}


def usable(items: Iterable[CatalogueItem], accounts: Iterable[str]) -> list[CatalogueItem]:
    """The items a member of `accounts` may use, in the site file's order."""
    mine = set(accounts)
    return [item for item in items if item.open_to(mine)]


def matches(item: CatalogueItem, query: str) -> bool:
    """Whether every word of `query` occurs (ignoring case) in the item's name, description,
    licence or kind; an empty query matches everything."""
    text = " ".join((item.name, item.description, item.licence, item.kind)).casefold()
    return all(word in text for word in query.casefold().split())


def search(items: Iterable[CatalogueItem], query: str) -> list[CatalogueItem]:
    return [item for item in items if matches(item, query)]


def snippet(item: CatalogueItem) -> str:
    """Python that loads the item, by its format; the path is embedded with `repr`."""
    return _SNIPPETS[item.format].format(path=repr(item.path))


def item_json(item: CatalogueItem, *, staff: bool = False) -> dict[str, Any]:
    """An item as the service answers it; staff also see which projects may use it."""
    data: dict[str, Any] = {
        "name": item.name,
        "kind": item.kind,
        "format": item.format,
        "path": item.path,
        "size_mb": item.size_mb,
        "licence": item.licence,
        "licence_url": item.licence_url,
        "commercial_use": item.commercial_use,
        "description": item.description,
        "snippet": snippet(item),
    }
    if staff:
        data["projects"] = list(item.projects)
        data["every_project"] = EVERY_PROJECT in item.projects
    return data


def licences(items: Sequence[CatalogueItem], names: Iterable[str]) -> list[dict[str, Any]]:
    """The named items' licences, as a proposal shows them; a name no longer in the
    catalogue is shown as unknown rather than dropped (the proposal still names it)."""
    known = {item.name: item for item in items}
    shown = []
    for name in names:
        item = known.get(name)
        if item is None:
            shown.append({"name": name, "licence": "", "licence_url": "",
                          "commercial_use": None, "known": False})  # fmt: skip
        else:
            shown.append({"name": name, "licence": item.licence, "licence_url": item.licence_url,
                          "commercial_use": item.commercial_use, "known": True})  # fmt: skip
    return shown


def refusal(
    items: Sequence[CatalogueItem], accounts: Iterable[str], names: Sequence[str]
) -> str | None:
    """Why a proposal may not name `names` (None: it may): each must be an item of the
    catalogue that one of the applicant's projects may use. Said of the first bad name; an
    item the applicant may not use is not told apart from an unknown one (its existence is
    not the applicant's to learn)."""
    known = {item.name: item for item in items}
    mine = set(accounts)
    for name in names:
        item = known.get(name)
        if item is None or not item.open_to(mine):
            return f"{name!r} is not an item of the catalogue you may use"
    return None
