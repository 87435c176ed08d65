"""The live-use panel's figures (jobs.live_use) and the panel itself (jobs.use), headless: a
fake cgroup tree laid out as this machine's Slurm makes it (cgroup v1, task/cgroup), an
injected clock for the CPU rate, and scripted GPU answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aifactory_widgets import SessionUse
from aifactory_widgets.jobs import live_use, use
from aifactory_widgets.jobs.live_use import Reading

# What /proc/self/cgroup says in a job on this machine (captured from job 3593 as bob).
PROC_SELF = """\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/slurm_cpu1/uid_1002/job_3593/step_batch
5:devices:/slurm_cpu1/uid_1002/job_3593/step_batch/task_0
4:memory:/slurm_cpu1/uid_1002/job_3593/step_batch/task_0
3:cpuset:/slurm_cpu1/uid_1002/job_3593/step_batch
2:cpuacct:/
1:cpu:/
0::/
"""
JOB = "slurm_cpu1/uid_1002/job_3593"
GB = 1024**3


class Clock:
    def __init__(self, at: float = 1000.0):
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_the_jobs_cgroup_is_found_from_proc_self_cgroup():
    paths = live_use.cgroup_paths(PROC_SELF)
    assert paths["memory"] == f"/{JOB}/step_batch/task_0" and paths[""] == "/"
    assert live_use.job_cgroup(paths["memory"]) == (f"/{JOB}", "3593")
    assert live_use.job_cgroup(paths["cpuacct"]) is None  # no job level: not the job's
    assert live_use.cgroup_paths("4:cpu,cpuacct:/x\n")["cpuacct"] == "/x"


def test_cpusets_and_limits():
    assert [live_use.cpuset_count(t) for t in ("0", "0-3,6", "1,3", "", "\n")] == [1, 5, 2, 0, 0]
    assert live_use.memory_limit(GB) == GB
    assert live_use.memory_limit(9223372036854771712) is None  # v1's "no limit"
    assert live_use.memory_limit(8 * GB, machine_bytes=8 * GB) is None
    assert live_use.memory_limit(None) is None


def test_cpu_use_is_the_rate_between_two_readings():
    first = Reading(at=100.0, cpu_s=50.0, cpus=2, memory_bytes=0, limit_bytes=GB, source="")
    later = Reading(at=110.0, cpu_s=65.0, cpus=2, memory_bytes=0, limit_bytes=GB, source="")
    assert live_use.cpus_busy(None, first) is None
    assert live_use.cpus_busy(first, later) == pytest.approx(1.5)
    assert live_use.cpu_line(first, later) == "CPU: 1.50 of 2 CPUs busy (75%)."
    assert live_use.cpu_line(None, first).startswith("CPU: measuring")
    ended = Reading(at=120.0, cpu_s=10.0, cpus=2, memory_bytes=0, limit_bytes=None, source="")
    assert live_use.cpus_busy(later, ended) == 0.0  # a process that ended took its seconds
    assert live_use.cpus_busy(later, later) is None  # the clock did not move


def test_memory_against_the_jobs_limit():
    r = Reading(at=0, cpu_s=0, cpus=1, memory_bytes=400 * 1024**2, limit_bytes=GB, source="")
    assert live_use.memory_line(r) == "Memory: 400 MB of 1.00 GB, the job's limit (39%)."
    no_limit = Reading(at=0, cpu_s=0, cpus=1, memory_bytes=3 * GB, limit_bytes=None, source="")
    assert live_use.memory_line(no_limit) == "Memory: 3.00 GB (no job limit found)."


def test_nvidia_smi_figures_and_the_gpus_slurm_gave():
    text = "0, 73, 10240, 81559\n1, [N/A], 0, 81559\ngarbage\n"
    (gpu,) = live_use.parse_gpu_query(text)
    assert live_use.gpu_lines([gpu]) == ["GPU 0: 73 % busy, memory 10.0 of 79.6 GB."]
    assert live_use.session_gpus({"SLURM_JOB_GPUS": "0,1"}) == "0,1"
    assert live_use.session_gpus({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}) == ""
    assert live_use.session_gpus({}) == ""


def test_no_gpu_or_simulated_gpus_are_said_so(monkeypatch):
    assert use.gpu_lines({}) == ["GPU: no GPU in this session."]
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi, as on the local factory
    assert use.gpu_lines({"SLURM_JOB_GPUS": "1"}) == ["GPU: simulated GPUs (1): no use figures."]


def fake_cgroup(root: Path, usage: int, limit: int, cpus: str = "0-1") -> Path:
    proc_self = root / "proc-self-cgroup"
    proc_self.write_text(PROC_SELF)
    memory = root / "memory" / JOB
    (memory / "step_batch" / "task_0").mkdir(parents=True)
    (memory / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (memory / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (memory / "step_batch" / "task_0" / "cgroup.procs").write_text(f"{os.getpid()}\n")
    (root / "cpuset" / JOB).mkdir(parents=True)
    (root / "cpuset" / JOB / "cpuset.cpus").write_text(cpus + "\n")
    return proc_self


def test_the_cgroup_reader_takes_the_jobs_level_and_its_processes(tmp_path):
    proc_self = fake_cgroup(tmp_path, usage=300 * 1024**2, limit=GB)
    reading = use.read_cgroup(Clock(5.0), root=tmp_path, proc_self=proc_self)
    assert reading is not None
    assert (reading.memory_bytes, reading.limit_bytes, reading.cpus) == (300 * 1024**2, GB, 2)
    assert reading.cpu_s > 0  # this test process's own CPU time, listed in the task's cgroup
    assert reading.source == "From the job's cgroup (job 3593 on cpu1)." and reading.job == "3593"


def test_no_job_cgroup_falls_back_to_the_processes_and_says_so(tmp_path):
    outside = tmp_path / "proc-self-cgroup"
    outside.write_text("4:memory:/\n0::/\n")
    assert use.read_cgroup(Clock(), root=tmp_path, proc_self=outside) is None
    reading = use.read_processes(Clock(), environ={"SLURM_MEM_PER_NODE": "1024"})
    assert reading.source == use.NO_CGROUP and reading.limit_bytes == GB
    assert reading.memory_bytes > 0


def test_the_panel_refreshes_with_the_rate_since_the_last_reading_and_stops_when_closed():
    clock = Clock(100.0)
    used = {"cpu_s": 10.0}

    def reader() -> Reading:
        return Reading(at=clock(), cpu_s=used["cpu_s"], cpus=1, memory_bytes=GB // 2,
                       limit_bytes=GB, source="From the job's cgroup (job 7 on cpu1).")  # fmt: skip

    panel = SessionUse(reader=reader, gpus=lambda: ["GPU: no GPU in this session."], refresh_s=3)
    assert panel.cpu.value.startswith("CPU: measuring")
    assert panel.memory.value == "Memory: 512 MB of 1.00 GB, the job's limit (50%)."
    assert panel.memory_bar.value == 0.5 and panel.timer.interval == 3000
    clock.at, used["cpu_s"] = 105.0, 14.0
    panel.timer.value += 1  # the browser's tick
    assert panel.ticks == 1 and panel.cpu.value == "CPU: 0.80 of 1 CPU busy (80%)."
    assert [c.value for c in panel.gpu.children] == ["GPU: no GPU in this session."]
    panel.timer.playing = True
    panel.close()
    assert not panel.timer.playing
