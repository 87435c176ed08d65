"""Free and total capacity per partition, from one `scontrol show node` for all nodes.

The spawn form (and later the staff console) shows it; the answer is cached so that many
forms opened at once cost Slurm one call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aifactory_hub import slurm
from aifactory_hub.slurm.nodes import node_usable, parse_oneliner, show_nodes_argv
from aifactory_hub.slurm.tres import CPU, GPU, parse_tres

CACHE_SECONDS = 15.0


@dataclass(frozen=True)
class PartitionCapacity:
    name: str
    nodes: int = 0
    nodes_up: int = 0
    cpus_total: int = 0
    cpus_alloc: int = 0
    gpus_total: int = 0
    gpus_alloc: int = 0

    @property
    def cpus_free(self) -> int:
        return max(self.cpus_total - self.cpus_alloc, 0)

    @property
    def gpus_free(self) -> int:
        return max(self.gpus_total - self.gpus_alloc, 0)


@dataclass(frozen=True)
class NodeInfo:
    """One node as the console lists it: where it is, whether it takes jobs, and why not."""

    name: str
    partitions: tuple[str, ...]
    state: str  # scontrol's State=, e.g. "IDLE", "MIXED+DRAIN", "DOWN*"
    reason: str  # why an admin or Slurm took it out of service ("" when in service)
    usable: bool  # takes new jobs (the spawn form's capacity counts only these)
    cpus_total: int
    cpus_alloc: int
    gpus_total: int
    gpus_alloc: int


def parse_node_list(text: str) -> list[NodeInfo]:
    """Every node of `show_nodes_argv()`'s output, in the order Slurm lists them."""
    found = []
    for line in text.splitlines():
        fields = parse_oneliner(line)
        if "NodeName" not in fields:
            continue
        cfg = parse_tres(fields.get("CfgTRES", ""))
        alloc = parse_tres(fields.get("AllocTRES", ""))
        state = fields.get("State", "")
        found.append(
            NodeInfo(
                name=fields["NodeName"],
                partitions=tuple(filter(None, fields.get("Partitions", "").split(","))),
                state=state,
                reason=fields.get("Reason", ""),
                usable=node_usable(state),
                cpus_total=_int(cfg.get(CPU)),
                cpus_alloc=_int(alloc.get(CPU)),
                gpus_total=_int(cfg.get(GPU)),
                gpus_alloc=_int(alloc.get(GPU)),
            )
        )
    return found


def parse_nodes(text: str) -> dict[str, PartitionCapacity]:
    """Capacity per partition from `show_nodes_argv()`'s output (see `partitions_of`)."""
    return partitions_of(parse_node_list(text))


def partitions_of(node_list: list[NodeInfo]) -> dict[str, PartitionCapacity]:
    """Aggregate nodes into capacity per partition: only nodes that take jobs count (a
    drained or down node's CPUs are not free for a new session)."""
    totals: dict[str, dict[str, int]] = {}
    for node in node_list:
        for part in node.partitions:
            agg = totals.setdefault(part, dict.fromkeys(PartitionCapacity.__dataclass_fields__, 0))
            agg["nodes"] += 1
            if not node.usable:
                continue
            agg["nodes_up"] += 1
            agg["cpus_total"] += node.cpus_total
            agg["cpus_alloc"] += node.cpus_alloc
            agg["gpus_total"] += node.gpus_total
            agg["gpus_alloc"] += node.gpus_alloc
    return {
        name: PartitionCapacity(**{**agg, "name": name}) for name, agg in sorted(totals.items())
    }


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


_cache: tuple[float, dict[str, PartitionCapacity]] | None = None
_lock: asyncio.Lock | None = None


async def partition_capacity(max_age: float = CACHE_SECONDS) -> dict[str, PartitionCapacity]:
    """Capacity per partition; empty when the controller does not answer."""
    global _cache, _lock
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _cache is not None and time.monotonic() - _cache[0] < max_age:
            return _cache[1]
        try:
            result = await slurm.arun(show_nodes_argv(), timeout=10)
            value = parse_nodes(result.stdout)
        except slurm.SlurmError:
            value = {}
        _cache = (time.monotonic(), value)
        return value
