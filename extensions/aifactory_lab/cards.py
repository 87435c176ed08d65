"""The AI Factory cards of JupyterLab's launcher: one fixed list, in the launcher's order.

Each card opens a starter notebook (starters/<id>.ipynb) that shows one capability's widget
from `aifactory_widgets`. The list is the only place a card id is matched: an id from a URL
is looked up here and never reaches the filesystem itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Card:
    """One launcher card: what it says and the starter notebook it opens."""

    id: str
    title: str
    caption: str

    @property
    def starter(self) -> str:
        """The starter notebook's file name (in starters/, and as copied for the user)."""
        return f"{self.id}.ipynb"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "starter": self.starter}


CARDS: tuple[Card, ...] = (
    Card("quota", "Quota", "Your projects' GPU- and CPU-hours: granted, used, left, burn rate"),
    Card("guides", "Guides", "This centre's guides, searchable, with code to copy"),
    Card("advisor", "Resource advisor", "GPUs, GPU-hours, wall time and price for a training run"),
    Card("expert", "Ask an expert", "A question to support, with your jobs' context attached"),
    Card("dask", "Dask cluster", "A Dask cluster on Slurm, charged to your project, in one click"),
    Card("training", "Training job", "Multi-node, multi-GPU training from a script in your home"),
    Card("sweep", "Parameter sweep", "A grid of runs as one Slurm job array"),
    Card("monitor", "Job monitor", "Your jobs: state, efficiency, cost and output"),
    Card("use", "Session use", "This session's CPU, memory and GPU use, live"),
    Card("apply", "Apply for access", "Propose a project in an open call for compute time"),
    Card("projects", "My projects", "Your projects, their members, allocations and end dates"),
    Card("environments", "Environments", "Build a Python environment, or make yours a kernel"),
)
_BY_ID = {card.id: card for card in CARDS}


def find_card(card_id: str) -> Card | None:
    """The card called `card_id`, or None: any other text (a path, '..') is simply unknown."""
    return _BY_ID.get(card_id)


def cards_json() -> list[dict[str, Any]]:
    """The launcher's list as `GET aifactory/cards` answers it."""
    return [card.as_json() for card in CARDS]
