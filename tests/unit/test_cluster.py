"""The cluster snapshot: parsing squeue and the hub's servers, one snapshot per interval for
all viewers, and last figures kept (marked stale) when Slurm does not answer."""

from __future__ import annotations

import asyncio

from aifactory_hub import slurm
from aifactory_hub.service import cluster
from aifactory_hub.slurm.jobs import parse_queue

NODE = (
    "NodeName=n1 CPUTot=32 State=MIXED Partitions=cpu,gpu CfgTRES=cpu=32,mem=64G,gres/gpu=4 "
    "AllocTRES=cpu=2,gres/gpu=1\n"
)
QUEUE = (
    "12|alice|ai-alpha|gpu|RUNNING|None|2026-11-27T10:00:00|5:01|1|jupyterhub-session\n"
    "13|bob|ai-beta|cpu|PENDING|Resources|N/A|0:00|1|<img src=x onerror=alert(1)>\n"
    "14|carol|ai-beta|cpu|PENDING|Priority|Unknown|0:00|1|a|b|c\n"
    "garbage line\n"
    "\n"
)


def test_parse_queue_keeps_pipes_in_job_names_and_skips_garbage():
    jobs, skipped = parse_queue(QUEUE)
    assert [j.id for j in jobs] == ["12", "13", "14"]
    assert jobs[0].reason == "" and jobs[0].expected_start == "2026-11-27T10:00:00"
    assert jobs[1].name == "<img src=x onerror=alert(1)>" and jobs[1].reason == "Resources"
    assert jobs[2].name == "a|b|c" and jobs[2].expected_start == ""
    assert skipped == ["garbage line"]


def test_parse_sessions_from_hub_users():
    users = [
        {
            "name": "bob",
            "servers": {
                "": {
                    "ready": False,
                    "pending": "spawn",
                    "started": "2026-11-27T10:00:00Z",
                    "last_activity": "2026-11-27T10:01:00Z",
                    "state": {
                        "job_id": "13",
                        "session": {"project": "ai-beta", "partition": "cpu"},
                    },
                }
            },
        },
        {
            "name": "alice",
            "servers": {
                "": {
                    "ready": True,
                    "user_options": {"project": "ai-alpha", "partition": "gpu"},
                    "state": {"job_id": "12"},
                }
            },
        },
        {"name": "carol", "servers": {}},
    ]
    sessions = cluster.parse_sessions(users)
    assert [(s.user, s.job_id, s.project, s.partition, s.ready, s.pending) for s in sessions] == [
        ("alice", "12", "ai-alpha", "gpu", True, ""),
        ("bob", "13", "ai-beta", "cpu", False, "spawn"),
    ]


class ScriptedSlurm:
    def __init__(self, fail: bool = False):
        self.calls: list[str] = []
        self.fail = fail

    async def __call__(self, argv, timeout):
        self.calls.append(argv[0])
        await asyncio.sleep(0.01)
        if self.fail:
            raise slurm.ControllerUnreachable(argv, None, "", "")
        out = NODE if argv[0] == "scontrol" else QUEUE
        return slurm.CommandResult(tuple(argv), 0, out, "")


async def test_one_snapshot_per_interval_for_all_viewers():
    runner = ScriptedSlurm()
    hub_calls = []

    async def hub_get(path):
        hub_calls.append(path)
        return []

    monitor = cluster.ClusterMonitor(hub_get, interval=60, runner=runner)
    snaps = await asyncio.gather(*(monitor.snapshot() for _ in range(25)))
    assert len({id(s) for s in snaps}) == 1
    assert sorted(runner.calls) == ["scontrol", "squeue"]
    assert hub_calls == ["/users?state=active"]
    part = {p["name"]: p for p in snaps[0].to_json()["partitions"]}
    assert part["gpu"]["gpus_free"] == 3 and part["cpu"]["cpus_free"] == 30
    monitor.interval = 0  # the interval has passed
    await monitor.snapshot()
    assert len(runner.calls) == 4 and monitor.taken == 2


async def test_unreachable_controller_keeps_last_figures_and_says_so():
    runner = ScriptedSlurm()

    async def hub_get(path):
        return []

    monitor = cluster.ClusterMonitor(hub_get, interval=0, runner=runner)
    good = await monitor.snapshot()
    runner.fail = True
    stale = await monitor.snapshot()
    assert stale.queue == good.queue and stale.partitions == good.partitions
    assert "unreachable" in stale.errors["queue"]
    assert "unreachable" in stale.errors["partitions"]
    assert stale.taken_at >= good.taken_at
