"""Free and total capacity per partition, from one `scontrol show node` for all nodes.

The spawn form shows it (hubside/spawn_inputs.py reads `cluster_nodes`); the answer is shared
so that many forms opened at once cost Slurm one call.
"""

from __future__ import annotations

from dataclasses import dataclass

from aifactory_hub.slurm.nodes import node_usable, parse_oneliner, show_nodes_argv
from aifactory_hub.slurm.shared_read import SharedRead
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
    memory_mb: int = 0  # RealMemory: what jobs may ask for on this node
    memory_alloc_mb: int = 0

    @property
    def free(self) -> tuple[int, int, int]:
        """(CPUs, GPUs, memory MB) a new job could have on this node now."""
        return (
            max(self.cpus_total - self.cpus_alloc, 0),
            max(self.gpus_total - self.gpus_alloc, 0),
            max(self.memory_mb - self.memory_alloc_mb, 0),
        )


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
                memory_mb=_int(fields.get("RealMemory")),
                memory_alloc_mb=_int(fields.get("AllocMem")),
            )
        )
    return found


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


@dataclass(frozen=True)
class NodeType:
    """Nodes of one shape in a partition, as Slurm reports them (usable or not)."""

    count: int
    cpus: int
    memory_mb: int
    gpus: int


def node_types(node_list: list[NodeInfo], partition: str) -> list[NodeType]:
    """The partition's nodes grouped by shape (CPUs, memory, GPUs), largest group first."""
    shapes: dict[tuple[int, int, int], int] = {}
    for node in node_list:
        if partition in node.partitions:
            key = (node.cpus_total, node.memory_mb, node.gpus_total)
            shapes[key] = shapes.get(key, 0) + 1
    return [
        NodeType(n, cpus, mem, gpus)
        for (cpus, mem, gpus), n in sorted(shapes.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def fits_now(
    node_list: list[NodeInfo], partition: str, cpus: int, memory_gb: int, gpus: int
) -> bool:
    """Whether one usable node of the partition has the CPUs, GPUs and memory free now (a
    session is one node; free CPUs spread over nodes do not start it). Pending jobs with a
    higher priority may still take them first: Slurm's own answer is `sbatch --test-only`."""
    return any(
        node.usable
        and partition in node.partitions
        and node.free[0] >= cpus
        and node.free[1] >= gpus
        and node.free[2] >= memory_gb * 1024
        for node in node_list
    )


# One `scontrol show node` for all partitions, shared: many forms opened at once cost one.
NODES: SharedRead[list[NodeInfo]] = SharedRead(show_nodes_argv, parse_node_list)


async def cluster_nodes(max_age: float = CACHE_SECONDS) -> list[NodeInfo] | None:
    """Every node as Slurm reports it now (at most `max_age` s old); None when the controller
    does not answer."""
    return await NODES.get(max_age)
