"""Ranking a call's proposals by score and granting them against the capacity left in the call.

Priority is the review score only. Proposals are served in rank order; one that does not fit
fully gets what is left, scaled down as a whole so it keeps its proportions, unless that is
less than `min_fraction` of what it asked for: then it is waitlisted, keeps its rank, and the
capacity goes on to the next ones. Proposals with equal scores are served together and share
scarce capacity in proportion to their requests: nothing else (not the submission time, not
the id) breaks a tie.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Literal

from aifactory_hub.policy.model import Frozen, Request

# A resource is (partition, "gpu" | "cpu"); demands and capacity are hours of it.
_Resource = tuple[str, str]


class Candidate(Frozen):
    """A proposal that passed review, with its combined score and its requests."""

    proposal_id: int
    score: float
    requests: tuple[Request, ...]


class Decision(Frozen):
    """`granted` is every request scaled by `fraction` (1: in full; 0: waitlisted)."""

    proposal_id: int
    rank: int
    status: Literal["granted", "partial", "waitlisted"]
    granted: tuple[Request, ...] = ()
    fraction: float = 0.0


def decide(
    candidates: Sequence[Candidate],
    capacity: Mapping[str, tuple[float, float]],
    min_fraction: float = 0.25,
) -> list[Decision]:
    """Decide every candidate against `capacity` (partition -> (GPU hours, CPU hours) left).

    A partition missing from `capacity` has none left. Decisions come in rank order, then by
    proposal id (for display only). The result does not depend on the order of `candidates`.
    """
    if not 0 <= min_fraction <= 1:
        raise ValueError(f"min_fraction {min_fraction} is not between 0 and 1")
    ids = [c.proposal_id for c in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError("a proposal appears twice among the candidates")
    left: dict[_Resource, float] = {}
    for partition, (gpu_hours, cpu_hours) in capacity.items():
        left[(partition, "gpu")] = max(gpu_hours, 0.0)
        left[(partition, "cpu")] = max(cpu_hours, 0.0)

    # Sorting by id only fixes the order of float sums, so that shuffling changes nothing.
    ordered = sorted(candidates, key=lambda c: (-c.score, c.proposal_id))
    decisions: list[Decision] = []
    rank = 1
    for _, group in groupby(ordered, key=lambda c: c.score):
        tied = list(group)
        fractions = _share_tied({c.proposal_id: _demand(c) for c in tied}, left, min_fraction)
        for candidate in tied:
            decision = _decision(candidate, rank, fractions.get(candidate.proposal_id, 0.0))
            for req in decision.granted:
                for kind, hours in (("gpu", req.gpu_hours), ("cpu", req.cpu_hours)):
                    key = (req.partition, kind)
                    if hours > 0:
                        left[key] = max(left.get(key, 0.0) - hours, 0.0)
            decisions.append(decision)
        rank += len(tied)
    return decisions


def _demand(candidate: Candidate) -> dict[_Resource, float]:
    demand: dict[_Resource, float] = {}
    for req in candidate.requests:
        for kind, hours in (("gpu", req.gpu_hours), ("cpu", req.cpu_hours)):
            if hours > 0:
                key = (req.partition, kind)
                demand[key] = demand.get(key, 0.0) + hours
    return demand


def _share_tied(
    demands: dict[int, dict[_Resource, float]], left: dict[_Resource, float], min_fraction: float
) -> dict[int, float]:
    """Fractions granted to proposals of equal rank out of the hours `left`.

    Those whose share is below `min_fraction` are dropped (waitlisted) and the others share
    again, so what the waitlisted would have had is not lost.
    """
    members = sorted(demands)
    while True:
        fractions = _fill({pid: demands[pid] for pid in members}, dict(left))
        low = [pid for pid in members if fractions[pid] < min_fraction or fractions[pid] == 0]
        if not low:
            break
        members = [pid for pid in members if pid not in low]
    return fractions


def _fill(
    demands: dict[int, dict[_Resource, float]], left: dict[_Resource, float]
) -> dict[int, float]:
    """Progressive filling: raise one common fraction for all until a resource runs out; those
    who need that resource stop there, the others keep rising, up to 1 (all they asked for).

    Everyone gets hours in proportion to their request on each resource they compete for, and
    nobody is held back by a resource they do not use. Fractions are floored to 4 decimals so
    that grants never exceed the capacity.
    """
    level = 0.0
    active = sorted(demands)
    fractions: dict[int, float] = {}
    while active:
        totals: dict[_Resource, float] = {}
        for pid in active:
            for key, hours in demands[pid].items():
                totals[key] = totals.get(key, 0.0) + hours
        room = {key: left.get(key, 0.0) / total for key, total in totals.items()}
        step = min([1.0 - level, *room.values()])
        level = 1.0 if step == 1.0 - level else level + step
        exhausted = set()
        for key, total in totals.items():
            if room[key] <= step:
                left[key] = 0.0
                exhausted.add(key)
            else:
                left[key] -= step * total
        done = [pid for pid in active if level >= 1.0 or exhausted & demands[pid].keys()]
        for pid in done:
            fractions[pid] = math.floor(level * 10_000 + 1e-6) / 10_000
        active = [pid for pid in active if pid not in done]
    return fractions


def _decision(candidate: Candidate, rank: int, fraction: float) -> Decision:
    if fraction <= 0:
        return Decision(proposal_id=candidate.proposal_id, rank=rank, status="waitlisted")
    if fraction >= 1:
        granted = candidate.requests
    else:
        granted = tuple(
            Request(
                partition=r.partition,
                gpu_hours=_floor_hours(r.gpu_hours * fraction),
                cpu_hours=_floor_hours(r.cpu_hours * fraction),
            )
            for r in candidate.requests
        )
    return Decision(
        proposal_id=candidate.proposal_id,
        rank=rank,
        status="granted" if fraction >= 1 else "partial",
        granted=granted,
        fraction=fraction,
    )


def _floor_hours(hours: float) -> float:
    """Hours rounded down to 0.01 h (the tiny slack absorbs float error like 0.29999999)."""
    return max(math.floor(hours * 100 + 1e-6) / 100, 0.0)
