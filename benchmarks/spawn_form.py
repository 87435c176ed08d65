"""The spawn form's render time with 50 projects and 10 partitions (issue [lab]).

Not a timed test: a harness that reports. Rows, each `--repeat` times, in alternating order
within each repetition, min/median/max in milliseconds:
- `render_form`: the pure function alone, over plain inputs (a synthetic site of 10 partitions,
  half with GPUs, 4 nodes each; 50 projects of one user, each with 3 partitions, a quota and a
  price; the queue; an expected start), so its cost is the HTML and nothing else;
- `options_form, Slurm stubbed`: what the spawner does for a form (hubside/spawn_inputs.py's
  `gather_form_inputs`, then `render_form`) with `slurm.arun` answering the same synthetic
  `scontrol show node` / `squeue` text at once and the caches cold each time: the reads'
  parsing and the asyncio gather, no process;
- `options_form, real Slurm` (unless --no-slurm): the same path against this machine's Slurm
  (one `scontrol show node`, one `squeue`, caches cold) on the bundled local site (its 2
  partitions, with the same 50 projects on them); a different site, so compare it with the
  stubbed row only as "what the real reads add";
- `sbatch --test-only` (unless --no-slurm): one expected-start read as `--user`, the call the
  form makes only when the request does not fit now.
The store view (projects, quotas, price terms: one store session, hubside/store_view.py) is
read before this path and is not timed here. Touches the shared cluster (read-only, and
test-only submits nothing): run it under the lock.

    flock /tmp/aifactory-realstack.lock /opt/aifactory/venv/bin/python benchmarks/spawn_form.py \\
        --out benchmarks/results-spawn-form.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "hub"), str(ROOT / "benchmarks")]

from benchlib import run_metadata  # noqa: E402 - commit, versions, machine

from aifactory_hub import slurm  # noqa: E402
from aifactory_hub.hubside import spawn_inputs  # noqa: E402
from aifactory_hub.hubside.partition_table import ProjectPrice  # noqa: E402
from aifactory_hub.hubside.spawn_form import render_form  # noqa: E402
from aifactory_hub.policy import Hours, project_quota  # noqa: E402
from aifactory_hub.site import Project, Site, load_site  # noqa: E402
from aifactory_hub.site.sessions import SessionRequest  # noqa: E402
from aifactory_hub.slurm import capacity, queue  # noqa: E402
from aifactory_hub.slurm.queue import ExpectedStart  # noqa: E402
from aifactory_hub.slurm.runner import CommandResult  # noqa: E402

USER = "bob"


def synthetic_site(base: Site, partitions: int, projects: int) -> Site:
    """`partitions` partitions (every other one with GPUs of the site's type) and `projects`
    projects of USER, each allowed 3 of them."""
    cpu, gpu = base.partition("cpu"), base.partition("gpu")
    parts = [
        (gpu if i % 2 else cpu).model_copy(
            update={"name": f"p{i:02d}", "description": f"partition {i}", "default": i == 0}
        )
        for i in range(partitions)
    ]
    names = [p.name for p in parts]
    projs = [
        Project(
            account=f"proj{i:03d}",
            title=f"Project {i}",
            pi=USER,
            members=[USER],
            partitions=[names[(i + k) % partitions] for k in range(3)],
        )
        for i in range(projects)
    ]
    return base.model_copy(update={"partitions": parts, "projects": projs, "environments": []})


def node_text(site: Site, per_partition: int = 4) -> str:
    """`scontrol --oneliner show node` lines for the site's partitions, half busy."""
    lines = []
    for part in site.partitions:
        gres = f"gpu:{part.gpu_type}:{part.gpus_per_node}" if part.has_gpus else "(null)"
        tres_gpu = f",gres/gpu={part.gpus_per_node}" if part.has_gpus else ""
        for n in range(per_partition):
            busy = n % 2
            alloc = f"cpu={part.cpus_per_node},mem=1G" if busy else ""
            lines.append(
                f"NodeName={part.name}n{n} CPUAlloc={busy * part.cpus_per_node} "
                f"CPUTot={part.cpus_per_node} Gres={gres} "
                f"RealMemory={part.memory_gb_per_node * 1024} AllocMem={busy * 1024} "
                f"State={'ALLOCATED' if busy else 'IDLE'} Partitions={part.name}  "
                f"CfgTRES=cpu={part.cpus_per_node},mem={part.memory_gb_per_node}G{tres_gpu} "
                f"AllocTRES={alloc} CapWatts=n/a"
            )
    return "\n".join(lines) + "\n"


def pending_text(site: Site) -> str:
    return "".join(f"{p.name}|Resources\n{p.name}|JobHeldUser\n" for p in site.partitions)


def inputs(site: Site) -> dict:
    now = datetime.now(UTC)
    quotas = {
        p.account: project_quota(p.account, {p.partitions[0]: Hours(100, 1000)}, [], now)
        for p in site.projects
    }
    prices = {
        p.account: ProjectPrice(bool(i % 2), "Fast Lane access" + (", charged" if i % 2 else ""))
        for i, p in enumerate(site.projects)
    }
    return {"quotas": quotas, "prices": prices}


TEST_ONLY = "sbatch: Job 1 to start at 2026-12-06T03:00:00 using 2 processors on nodes p01n1\n"


def stub_slurm(nodes: str, pending: str) -> None:
    """Slurm answering at once: the node list, the queue, an expected start (on stderr)."""

    async def answer(argv, **_):
        outs = {"scontrol": (nodes, ""), "squeue": (pending, ""), "sbatch": ("", TEST_ONLY)}
        return CommandResult(tuple(argv), 0, *outs[argv[0]])

    slurm.arun = answer  # type: ignore[assignment]


def cold() -> None:
    capacity.NODES.forget()
    queue.PENDING.forget()


async def options_form(site: Site, extra: dict, request: SessionRequest) -> str:
    """The spawner's `_options_form` after the store read: the gathered reads, the render."""
    cold()
    got = await spawn_inputs.gather_form_inputs(
        site, USER, [p.account for p in site.projects], request, slurm.RunAs.lookup(USER)
    )
    return render_form(
        site, site.projects, request, got.capacity, extra["quotas"], nodes=got.nodes,
        queue=got.queue, prices=extra["prices"], expected=got.expected,
    )  # fmt: skip


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "median_ms": round(statistics.median(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
        "n": len(ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--partitions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--slurm-repeat", type=int, default=20, help="repetitions of real reads")
    parser.add_argument("--no-slurm", action="store_true", help="skip the real-Slurm rows")
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    base = load_site()
    site = synthetic_site(base, args.partitions, args.projects)
    extra = inputs(site)
    nodes_out, pending_out = node_text(site), pending_text(site)
    node_list = capacity.parse_node_list(nodes_out)
    caps = capacity.partitions_of(node_list)
    pend = queue.parse_pending(pending_out)
    # More GPUs than any node has free: the form asks for (and shows) an expected start.
    request = SessionRequest("proj001", "p01", 2, 2, 5, 60, "sim")
    expected = ExpectedStart("2026-12-06T03:00:00", "p01n1", "p01")
    real_arun = slurm.arun

    def render() -> str:
        return render_form(
            site, site.projects, request, caps, extra["quotas"], nodes=node_list, queue=pend,
            prices=extra["prices"], expected=expected,
        )  # fmt: skip

    html = render()
    rows: dict[str, list[float]] = {"render_form": [], "options_form, Slurm stubbed": []}
    for i in range(args.repeat):
        order = ["render", "stubbed"] if i % 2 == 0 else ["stubbed", "render"]
        for side in order:
            t0 = time.perf_counter()
            if side == "render":
                render()
                rows["render_form"].append(time.perf_counter() - t0)
            else:
                stub_slurm(nodes_out, pending_out)
                asyncio.run(options_form(site, extra, request))
                rows["options_form, Slurm stubbed"].append(time.perf_counter() - t0)

    real: dict[str, object] = {}
    if not args.no_slurm:
        slurm.arun = real_arun
        local = base.model_copy(
            update={
                "projects": [
                    p.model_copy(update={"partitions": ["cpu", "gpu"][: 1 + i % 2]})
                    for i, p in enumerate(site.projects)
                ]
            }
        )
        fits = SessionRequest("proj000", "cpu", 1, 1, 0, 60)
        rows["options_form, real Slurm (local site)"] = []
        rows["sbatch --test-only as the user"] = []
        argv = queue.sbatch_test_only_argv(
            account="ai-alpha", partition="cpu", cpus=1, memory_gb=1, gpus=0, gpu_type="",
            walltime_minutes=30,
        )  # fmt: skip
        for i in range(args.slurm_repeat):
            order = ["form", "test"] if i % 2 == 0 else ["test", "form"]
            for side in order:
                t0 = time.perf_counter()
                if side == "form":
                    asyncio.run(options_form(local, extra, fits))
                    rows["options_form, real Slurm (local site)"].append(time.perf_counter() - t0)
                else:
                    got = asyncio.run(
                        queue.expected_start(argv, slurm.RunAs.lookup(USER), timeout=10)
                    )
                    rows["sbatch --test-only as the user"].append(time.perf_counter() - t0)
        real["test_only_answer"] = str(got)

    result = {
        "meta": run_metadata(),
        "settings": {
            "projects": args.projects,
            "partitions": args.partitions,
            "nodes_per_partition": 4,
            "repeat": args.repeat,
            "slurm_repeat": 0 if args.no_slurm else args.slurm_repeat,
            "html_bytes": len(html.encode()),
        },
        "rows": {name: summary(values) for name, values in rows.items()},
        **real,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
