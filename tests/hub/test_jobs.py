"""[jobs] on the real stack: a kernel in bob's real session (ai-alpha on cpu), driven over the
session's own Jupyter server, launches Dask clusters, training runs and sweeps as bob, and the
monitor agrees with squeue/sacct. The local Slurm is shared: jobs are found by their ids and
their unique names, never by user alone, and every wait allows for a busy queue."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import nbformat
import pytest
import requests

from tests.session_kernel import SessionKernel
from tests.stack import sacct_states, sh, wait_finished, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
QUEUE_WAIT_S = 600  # other sessions may hold the node for a while
LIVE = "PD,R,CG,CF,S"
HOME = Path("/home/bob")
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def bob_session(hub):
    resp = hub.api("POST", "/users/bob/server", "bob", json={"project": "ai-alpha",
                   "partition": "cpu", "memory_gb": 2, "walltime_hours": 2})  # fmt: skip
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("bob", timeout=QUEUE_WAIT_S)
    yield hub
    hub.stop("bob")


@pytest.fixture
def kernel(bob_session):
    k = SessionKernel(bob_session.url, "bob", bob_session.token("bob"))
    yield k
    k.shutdown()


def live_jobs(name: str) -> list[str]:
    """Ids of bob's live jobs of this name (squeue as root)."""
    return sh("squeue", "-h", "-u", "bob", "-n", name, "-t", LIVE, "-o", "%i").split()


def process_envs(job: str, marker: str) -> list[dict[str, str]]:
    """Environments of the job's processes whose command line holds `marker` (as root)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if marker not in (proc / "cmdline").read_bytes().decode(errors="replace"):
                continue
            items = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        env = dict(i.decode(errors="replace").split("=", 1) for i in items if b"=" in i)
        if env.get("SLURM_JOB_ID") == job:
            found.append(env)
    return found


# A small job as bob, by the kernel's own jobs/commands.py; NAME is replaced.
TEST_JOB = """#!/bin/bash
#SBATCH --job-name=NAME
#SBATCH --account=ai-alpha
#SBATCH --time=5
#SBATCH --output=/dev/null
"""
SHORT_JOB = TEST_JOB + "sleep 1\n"
HELD_JOB = TEST_JOB + "#SBATCH --hold\nsleep 1\n"
START_CLUSTER = """
from aifactory_widgets import DaskLauncher
from aifactory_widgets.jobs import commands
launcher = DaskLauncher()
launcher.minimum.value, launcher.maximum.value = 3, 3
launcher.placement.walltime.value = 15
launcher.start_button.click()
client = launcher.client
client.wait_for_workers(3, timeout={wait})
name = launcher.cluster.job_name
"""


def test_dask_cluster_spreads_over_two_nodes_computes_and_stops_leaving_no_job(kernel, bob_session):
    """Three workers of 1 CPU and 2 GB, with bob's 2 GB session on one of the two 5 GB cpu
    nodes: one worker fits beside the session, two on the other node, so they must spread."""
    kernel.execute(START_CLUSTER.format(wait=QUEUE_WAIT_S), timeout=QUEUE_WAIT_S + 60)
    assert kernel.value("(launcher.placement.account, launcher.placement.partition.value)") == [
        "ai-alpha",
        "cpu",
    ]
    name = kernel.value("name")
    jobs = live_jobs(name)
    assert len(jobs) == 3
    assert kernel.value("launcher.watch()") == 3
    where = kernel.value("sorted(client.run(lambda: __import__('os').environ['SLURMD_NODENAME'])"
                         ".values())")  # fmt: skip
    assert set(where) == {"cpu1", "cpu2"}, where
    total = kernel.value("float(__import__('dask.array').array.ones((400, 400), chunks=100).sum()"
                         ".compute())")  # fmt: skip
    assert total == 160000.0
    # each worker job is charged to the session's project, on its partition
    for job in jobs:
        detail = sh("scontrol", "show", "job", job)
        assert "Account=ai-alpha" in detail and "Partition=cpu" in detail
        envs = process_envs(job, "dask_worker")
        assert envs and all("JUPYTERHUB_API_TOKEN" not in env for env in envs)
    # the dashboard, bound to 127.0.0.1, answers through the hub's proxy
    link = kernel.value("launcher.dashboard_url")
    assert link.startswith("/user/bob/proxy/") and link.endswith("/status")
    page = requests.get(
        bob_session.url + link,
        headers={"Authorization": f"token {bob_session.token('bob')}"},
        timeout=60,
    )
    assert page.status_code == 200 and "Dask" in page.text
    kernel.execute("launcher.stop()")
    assert "Stopped" in kernel.value("launcher.message.value")
    wait_for(lambda: not live_jobs(name), 30, f"{name}'s jobs to leave squeue")


def test_killing_the_kernel_cancels_running_and_pending_workers(kernel):
    kernel.execute(START_CLUSTER.format(wait=QUEUE_WAIT_S), timeout=QUEUE_WAIT_S + 60)
    name = kernel.value("name")
    # A worker job that cannot start yet (held): no scheduler could ever tell it to go.
    held = kernel.value(
        f"commands.submit(commands.SlurmRunner(), {HELD_JOB!r}.replace('NAME', name))"
    )
    assert held in live_jobs(name) and len(live_jobs(name)) == 4  # three workers and the held one
    pid = kernel.value("__import__('os').getpid()")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not live_jobs(name), 60, f"{name}'s jobs to go after the kernel died")


TRAIN_SCRIPT = """
import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
value = torch.tensor([rank + 1.0])
dist.all_reduce(value)
node = os.environ["SLURMD_NODENAME"]
print(f"rank {rank} of {world} on {node}: all_reduce sum {value.item():g}", flush=True)
dist.destroy_process_group()
"""


def test_gloo_training_runs_four_ranks_on_two_nodes_that_all_report(kernel):
    kernel.execute(
        "from pathlib import Path\n"
        f"Path.home().joinpath('aif-test-allreduce.py').write_text({TRAIN_SCRIPT!r})\n"
        "from aifactory_widgets import TrainingLauncher\n"
        "t = TrainingLauncher()\n"
        "t.script.value = 'aif-test-allreduce.py'\n"
        "t.tasks.value = 9\n"
        "refused = t.review()\n"
    )
    assert kernel.value("refused") == ""
    assert "Refused: tasks_per_node" in kernel.value("t.message.value")
    kernel.execute(
        "t.nodes.value, t.tasks.value, t.placement.walltime.value = 2, 2, 5\nscript = t.review()"
    )
    script = kernel.value("script")
    assert "#SBATCH --nodes=2" in script and "#SBATCH --ntasks-per-node=2" in script
    assert "#SBATCH --account=ai-alpha" in script
    job = kernel.value("t.submit()")
    assert job.isdigit()
    assert wait_finished(job) == {job: "COMPLETED"}
    out = (HOME / ".aifactory-jobs" / f"{job}.out").read_text()
    ranks = re.findall(r"rank (\d) of 4 on (\w+): all_reduce sum 10", out)
    assert sorted(rank for rank, _ in ranks) == ["0", "1", "2", "3"], out  # 1+2+3+4 everywhere
    assert {node for _, node in ranks} == {"cpu1", "cpu2"}, out  # two ranks on each node
    # the job monitor shows it on both nodes (accounting may lag the end by a moment)
    kernel.execute("from aifactory_widgets import JobMonitor\nm = JobMonitor()")
    shown = wait_for(lambda: kernel.value(f"{{r.id: r.nodes for r in m.refresh()}}.get({job!r})"),
                     60, f"the monitor to show job {job}'s nodes", every=3)  # fmt: skip
    assert shown == "cpu[1-2]"


SWEEP_SCRIPT = """
import json, os
params = json.loads(os.environ["AIFACTORY_SWEEP_PARAMS"])
print("task", os.environ["SLURM_ARRAY_TASK_ID"], "lr", params["lr"], "seed", params["seed"])
"""


def test_three_point_sweep_runs_as_a_job_array(kernel):
    kernel.execute(
        "from pathlib import Path\n"
        f"Path.home().joinpath('aif-test-sweep.py').write_text({SWEEP_SCRIPT!r})\n"
        "from aifactory_widgets import SweepLauncher\n"
        "s = SweepLauncher()\n"
        "s.script.value = 'aif-test-sweep.py'\n"
        "s.placement.walltime.value = 5\n"
        "s.set_grid({'lr': '0.1, 0.01, 0.001', 'seed': '7'})\n"
        "script = s.review()\n"
        "job = s.submit()\n"
    )
    assert "#SBATCH --array=0-2%4" in kernel.value("script")
    job = kernel.value("job")
    grid = Path(kernel.value("s.grid_file")).read_text().splitlines()
    assert grid == ['{"lr": 0.1, "seed": 7}', '{"lr": 0.01, "seed": 7}', '{"lr": 0.001, "seed": 7}']
    states = wait_finished(job, tasks=3)
    assert states == {f"{job}_{i}": "COMPLETED" for i in range(3)}
    for i, lr in enumerate(("0.1", "0.01", "0.001")):
        out = (HOME / ".aifactory-jobs" / f"{job}_{i}.out").read_text()
        assert f"task {i} lr {lr} seed 7" in out


def test_the_monitor_agrees_with_squeue_and_sacct_and_cancels(kernel):
    kernel.execute(
        "from aifactory_widgets import JobMonitor\n"
        "from aifactory_widgets.jobs import commands\n"
        "runner = commands.SlurmRunner()\n"
        f"done = commands.submit(runner, {SHORT_JOB!r}.replace('NAME', 'aif-monitor'))\n"
        f"held = commands.submit(runner, {HELD_JOB!r}.replace('NAME', 'aif-monitor'))\n"
    )
    done, held = kernel.value("done"), kernel.value("held")
    wait_finished(done)
    kernel.execute("m = JobMonitor()")

    def shown_now() -> dict | None:
        # accounting can lag a just-finished job by a moment: the monitor agrees once it has it
        kernel.execute("rows = {r.id: r for r in m.refresh()}")
        shown = kernel.value("{i: [r.state, r.reason, r.cost] for i, r in rows.items()}")
        return shown if done in shown and held in shown else None

    shown = wait_for(shown_now, 60, f"the monitor to list jobs {done} and {held}", every=3)
    assert shown[held][:2] == ["PENDING", "JobHeldUser"]
    assert sh("squeue", "-h", "-j", held, "-o", "%T|%r").strip() == "PENDING|JobHeldUser"
    assert shown[done][0] == sacct_states(done)[done] == "COMPLETED"
    assert shown[done][2].endswith("CPU-h")
    kernel.execute(f"m.ask_cancel(rows[{held!r}])\nm.confirm.yes.click()")
    assert f"Job {held} cancelled" in kernel.value("m.message.value")
    wait_for(lambda: not sh("squeue", "-h", "-j", held, "-t", LIVE), 30, "the held job to go")


def test_the_distributed_jobs_notebook_runs_in_the_session(kernel):
    nb = nbformat.read(NOTEBOOKS / "distributed-jobs.ipynb", as_version=4)
    views = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            result = kernel.execute(cell.source, timeout=QUEUE_WAIT_S + 60)
            views += sum(WIDGET_VIEW in data for data in result.results)
    assert views >= 4  # the three launchers and the monitor
    assert kernel.value("launcher.client is None")  # the cluster was stopped
    training, sweep = kernel.value("training_job"), kernel.value("sweep_job")
    assert wait_finished(training) == {training: "COMPLETED"}
    out = (HOME / ".aifactory-jobs" / f"{training}.out").read_text()
    assert "rank 0 of 2: all_reduce sum 3" in out and "rank 1 of 2: all_reduce sum 3" in out
    assert set(wait_finished(sweep, tasks=3).values()) == {"COMPLETED"}


def test_the_service_tells_a_session_which_partitions_its_projects_may_use(hub):
    url = f"{hub.url}/services/factory/api/site/partitions"
    bob = requests.get(url, headers={"Authorization": f"token {hub.token('bob')}"}, timeout=30)
    assert bob.status_code == 200, bob.text
    facts = bob.json()
    # (other tests may have granted bob more projects: the demo's two are what is checked)
    assert {k: facts["projects"][k] for k in ("ai-alpha", "ai-beta")} == {
        "ai-alpha": ["cpu", "gpu"],
        "ai-beta": ["cpu"],
    }
    gpu = next(p for p in facts["partitions"] if p["name"] == "gpu")
    assert (gpu["max_gpus"], gpu["max_walltime_hours"]) == (2, 4)
    assert facts["jobs"]["interface"] == "lo"
    carol = requests.get(url, headers={"Authorization": f"token {hub.token('carol')}"}, timeout=30)
    carols = carol.json()["projects"]
    assert carols["ai-beta"] == ["cpu"] and "ai-alpha" not in carols
    assert requests.get(url, timeout=30).status_code == 401


def test_stopping_the_session_takes_the_workers_with_it(hub):
    resp = hub.api("POST", "/users/alice/server", "alice", json={"project": "ai-alpha",
                   "partition": "cpu", "memory_gb": 1})  # fmt: skip
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("alice", timeout=QUEUE_WAIT_S)
    kernel = SessionKernel(hub.url, "alice", hub.token("alice"))
    kernel.execute(START_CLUSTER.format(wait=QUEUE_WAIT_S), timeout=QUEUE_WAIT_S + 60)
    name = kernel.value("name")
    assert len(sh("squeue", "-h", "-u", "alice", "-n", name, "-t", LIVE, "-o", "%i").split()) == 3
    hub.stop("alice")
    wait_for(
        lambda: not sh("squeue", "-h", "-u", "alice", "-n", name, "-t", LIVE, "-o", "%i"),
        60,
        f"{name}'s jobs to go with the session",
    )
