"""Jobs on the real local cluster are confined by cgroup v1: cores, memory and GPU devices.

Simulated GPUs are character devices with a major number no driver owns: opening one the
job was given fails with ENXIO (the cgroup let it through, there is no driver), opening one of
its node's GPUs it was not given fails with EPERM (the devices cgroup said no).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from aifactory_hub.ops.localcluster import DEFAULT_PATHS
from tests.stack import sh, submit

pytestmark = pytest.mark.slurm

PROBE = r"""
import errno, glob, json, os, sys
opened = {}
for path in sorted(glob.glob(sys.argv[1] + "/*")):
    try:
        os.close(os.open(path, os.O_RDONLY))
        opened[os.path.basename(path)] = "opened"
    except OSError as exc:
        opened[os.path.basename(path)] = errno.errorcode[exc.errno]
print(json.dumps({"node": os.environ["SLURMD_NODENAME"], "cpus": len(os.sched_getaffinity(0)),
                  "gres": os.environ.get("SLURM_STEP_GPUS") or os.environ.get("SLURM_JOB_GPUS", ""),
                  "opened": opened}))
"""


def srun(user: str, *args: str) -> dict:
    argv = ["sudo", "-n", "-u", user, "--", "srun", "--quiet", "--time=5", *args,
            "/usr/bin/python3", "-c", PROBE, str(DEFAULT_PATHS.fake_gpu_dir)]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_cluster_confines_jobs_with_cgroups(local_cluster):
    conf = sh("scontrol", "show", "config")
    assert "proctrack/cgroup" in conf and "task/cgroup" in conf
    assert "ConstrainRAMSpace=yes" in DEFAULT_PATHS.cgroup_conf.read_text()


@pytest.mark.parametrize("cpus", [1, 2])
def test_a_job_runs_on_as_many_cores_as_it_asked_for(local_cluster, cpus):
    seen = srun("alice", "--account=ai-alpha", "--partition=cpu", f"--cpus-per-task={cpus}",
                "--mem=256M")  # fmt: skip
    assert seen["cpus"] == cpus


def test_a_job_given_one_gpu_can_open_only_its_own(local_cluster, demo_site):
    seen = srun("alice", "--account=ai-alpha", "--partition=gpu", "--gres=gpu:1",
                "--cpus-per-task=1", "--mem=256M")  # fmt: skip
    node, (index,) = seen["node"], seen["gres"].split(",")
    own = f"{node}-{index}"
    of_the_node = {k: v for k, v in seen["opened"].items() if k.startswith(f"{node}-")}
    assert len(of_the_node) == demo_site.partition("gpu").gpus_per_node
    assert of_the_node.pop(own) == "ENXIO"  # allowed: no driver behind a simulated GPU
    assert set(of_the_node.values()) == {"EPERM"}  # the devices cgroup says no


def test_a_job_without_gpus_can_open_none_of_its_nodes(local_cluster):
    seen = srun("alice", "--account=ai-alpha", "--partition=gpu", "--cpus-per-task=1",
                "--mem=256M")  # fmt: skip
    of_the_node = {k: v for k, v in seen["opened"].items() if k.startswith(f"{seen['node']}-")}
    assert of_the_node and set(of_the_node.values()) == {"EPERM"}
    # The other GPU node's simulated devices are files of this one machine, not GRES of this
    # node, so nothing here denies them (on a real cluster they are not on the node at all):
    # the README says so, and this shows it.
    others = {k: v for k, v in seen["opened"].items() if k not in of_the_node}
    assert others and set(others.values()) == {"ENXIO"}


def test_a_job_past_its_memory_is_killed_out_of_memory(local_cluster):
    job = submit(
        "alice",
        "--account=ai-alpha",
        "--partition=cpu",
        "--mem=256M",
        "--time=5",
        "--output=/dev/null",
        '--wrap=/usr/bin/python3 -c "hog = [1] * 100_000_000"',  # 800 MB of list
    )
    state = ""
    for _ in range(120):
        state = sh("sacct", "-n", "-X", "-P", "-j", str(job), "-o", "State").strip()
        if state and state not in ("PENDING", "RUNNING", "COMPLETING"):
            break
        time.sleep(1)
    assert state == "OUT_OF_MEMORY"
