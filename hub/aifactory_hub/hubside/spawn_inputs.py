"""The spawn form's reads, gathered in one place so that `render_form` stays a pure function:
the nodes (one `scontrol show node`, shared with the capacity figures), the queue (one
`squeue` for all partitions), each project's price (from the terms the store view read) and,
only for a request that does not fit now, Slurm's expected start (`sbatch --test-only` as the
user, a short timeout). Any of them failing leaves its part "unknown"; the form still works.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from aifactory_hub import slurm
from aifactory_hub.hubside.partition_table import ProjectPrice, project_price, request_fits
from aifactory_hub.site import Site
from aifactory_hub.site.sessions import SessionRequest
from aifactory_hub.slurm.capacity import NodeInfo, PartitionCapacity, cluster_nodes, partitions_of
from aifactory_hub.slurm.queue import (
    ExpectedStart,
    PartitionQueue,
    expected_start,
    pending_by_partition,
    sbatch_test_only_argv,
)

log = logging.getLogger(__name__)
TEST_ONLY_TIMEOUT = 5.0  # seconds: a form waits this long at most for Slurm's expected start


@dataclass(frozen=True)
class FormInputs:
    """What `render_form` shows beside the user's projects, read just before it renders."""

    nodes: list[NodeInfo] | None = None  # None: Slurm did not answer
    capacity: dict[str, PartitionCapacity] = field(default_factory=dict)
    queue: dict[str, PartitionQueue] | None = None
    prices: dict[str, ProjectPrice] | None = None  # None: the store could not be read
    expected: ExpectedStart | str | None = None  # only for a request that does not fit now


def prices_of(
    site: Site, accounts: list[str], terms: Mapping[str, tuple[str, bool]] | None
) -> dict[str, ProjectPrice] | None:
    """Each project's price: a store project's own terms (access mode, charged or not, read
    with the rest of the store view); one the store does not know is a site project. None
    when the store could not be read."""
    if terms is None:
        return None
    return {
        account: project_price(site, *terms.get(account, ("site", False))) for account in accounts
    }


async def gather_form_inputs(
    site: Site,
    username: str,
    accounts: list[str],
    request: SessionRequest | None,
    run_as: slurm.RunAs | None,
    price_terms: Mapping[str, tuple[str, bool]] | None = None,
) -> FormInputs:
    """The reads, concurrently; then `sbatch --test-only` for `request` when it does not fit
    on a free node now (it costs slurmctld an RPC, so never for one that fits)."""
    nodes, queue = await asyncio.gather(cluster_nodes(), pending_by_partition())
    prices = prices_of(site, accounts, price_terms)
    expected: ExpectedStart | str | None = None
    if request is not None and request_fits(nodes, request) is False:
        if run_as is None:
            expected = "the user has no account on the cluster"
        else:
            argv = sbatch_test_only_argv(
                account=request.account,
                partition=request.partition,
                cpus=request.cpus,
                memory_gb=request.memory_gb,
                gpus=request.gpus,
                gpu_type=request.gpu_type,
                walltime_minutes=request.walltime_minutes,
                reservation=request.reservation,
            )
            expected = await expected_start(argv, run_as, timeout=TEST_ONLY_TIMEOUT)
    return FormInputs(
        nodes=nodes,
        capacity=partitions_of(nodes) if nodes is not None else {},
        queue=queue,
        prices=prices,
        expected=expected,
    )
