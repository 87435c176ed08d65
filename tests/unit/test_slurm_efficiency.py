"""Finished jobs' efficiency (slurm.efficiency), table-tested on real sacct lines.

`CAPTURED` is what this machine's Slurm 22.05 printed for `efficiency_argv` after five short jobs
submitted as bob (2026-12-06): 3585 busy on 1 CPU with 300 MB; 3586 idle on 2 CPUs with 2 GB;
3587 busy through srun on 2 CPUs (--mem-per-cpu=512M); 3588 idle on two nodes (--mem=512M
each); 3589 idle with one GPU. The machine has 2 cores shared with other jobs, so a busy job
got less than all of its CPU."""

from __future__ import annotations

import pytest

from aifactory_hub.slurm.efficiency import (
    FIELDS,
    JobEfficiency,
    asked_bytes,
    duration_s,
    efficiency_argv,
    hints,
    memory_bytes,
    parse_efficiency,
)

CAPTURED = """\
3585|COMPLETED|40|00:24.319|1|1|1G||billing=1,cpu=1,mem=1G,node=1
3585.batch|COMPLETED|40|00:24.319|1|1||316644K|cpu=1,mem=1G,node=1
3586|COMPLETED|35|00:00.044|2|1|2G||billing=2,cpu=2,mem=2G,node=1
3586.batch|COMPLETED|35|00:00.044|2|1||60964K|cpu=2,mem=2G,node=1
3587|COMPLETED|40|00:21.327|2|1|1G||billing=2,cpu=2,mem=1G,node=1
3587.batch|COMPLETED|40|00:00.011|2|1||10484K|cpu=2,mem=1G,node=1
3587.0|COMPLETED|40|00:21.315|2|1||315256K|cpu=2,mem=1G,node=1
3588|COMPLETED|35|00:00.094|2|2|1G||billing=2,cpu=2,mem=1G,node=2
3588.batch|COMPLETED|35|00:00.011|1|1||10816K|cpu=1,mem=512M,node=1
3588.0|COMPLETED|35|00:00.082|2|2||59336K|cpu=2,mem=1G,node=2
3589|COMPLETED|35|00:00.041|1|1|1G||billing=1,cpu=1,gres/gpu=1,mem=1G,node=1
3589.batch|COMPLETED|35|00:00.041|1|1||60724K|cpu=1,gres/gpu=1,mem=1G,node=1
"""
G, K = 1024**3, 1024


def test_one_sacct_asks_for_every_job_and_its_steps():
    argv = efficiency_argv(["12", "13_4"])
    assert argv[:3] == ["sacct", "--noheader", "--parsable2"]
    assert "--jobs=12,13_4" in argv and f"--format={','.join(FIELDS)}" in argv
    assert "--allocations" not in argv  # MaxRSS is on the steps
    with pytest.raises(ValueError, match="not a Slurm job id"):
        efficiency_argv(["12", "13;rm"])


@pytest.mark.parametrize(
    ("job", "cpu_efficiency", "peak", "asked", "gpu_hours"),
    [
        ("3585", 24.319 / 40, 316644 * K, 1 * G, 0.0),
        ("3586", 0.044 / 70, 60964 * K, 2 * G, 0.0),
        ("3587", 21.327 / 80, 315256 * K, 1 * G, 0.0),  # the srun step's peak, not the batch's
        ("3588", 0.094 / 70, 59336 * K, 1 * G, 0.0),  # two nodes: ReqMem is the job's total
        ("3589", 0.041 / 35, 60724 * K, 1 * G, 35 / 3600),
    ],
)
def test_real_lines_give_seffs_figures(job, cpu_efficiency, peak, asked, gpu_hours):
    found = parse_efficiency(CAPTURED)[job]
    assert found.cpu_efficiency == pytest.approx(cpu_efficiency)
    assert (found.peak_bytes, found.asked_bytes) == (peak, asked)
    assert found.gpu_hours == pytest.approx(gpu_hours)
    assert found.state == "COMPLETED"


def test_only_jobs_that_held_much_more_than_they_used_get_a_hint():
    found = parse_efficiency(CAPTURED)
    assert hints(found["3585"]) == []  # one CPU, 300 MB of 1 GB: nothing smaller to ask for
    assert hints(found["3586"]) == [
        "asked for 2 CPUs, used about 0.0: ask for 1 next time",
        "asked for 2.0 GB of memory, peaked at 60 MB: ask for 1 GB next time",
    ]
    assert hints(found["3587"]) == []  # 27 % of two CPUs: over the line
    short = JobEfficiency("8", "COMPLETED", 10, 1, 9.0, 3 * 2**20, 2 * G, 0)
    assert hints(short) == []  # shorter than accounting's sampling: its peak is not known
    eight = JobEfficiency("9", "COMPLETED", 3600, 8, 1.2 * 3600, 2 * G, 32 * G, 0)
    assert hints(eight) == [
        "asked for 8 CPUs, used about 1.2: ask for 2 next time",
        "asked for 32.0 GB of memory, peaked at 2.0 GB: ask for 3 GB next time",
    ]


def test_a_job_that_never_ran_has_no_efficiency_and_no_hint():
    text = "77|CANCELLED by 1001|0|00:00:00|0|1|4G||\n"
    (job,) = parse_efficiency(text).values()
    assert job.state == "CANCELLED"
    assert (job.cpu_efficiency, job.peak_bytes, job.memory_fraction) == (None, None, None)
    assert job.gpu_hours == 0 and hints(job) == []


def test_garbage_and_other_widths_are_left_out():
    assert parse_efficiency("x\n1|2|3\n\n" + "|" * 20) == {}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:38.801", 38.801), ("1:02:03", 3723.0), ("2-01:00:00", 176400.0), ("05:00", 300.0),
     ("", None), ("abc", None), ("1:2:3:4", None)],
)  # fmt: skip
def test_total_cpu_durations(text, seconds):
    assert duration_s(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_memory_figures_and_the_old_per_node_and_per_cpu_requests():
    assert memory_bytes("316644K") == 316644 * K
    assert memory_bytes("0") == 0
    assert memory_bytes("") is None and memory_bytes("4Gn") is None
    assert asked_bytes("2G", cpus=4, nodes=2) == 2 * G  # since 21.08: the job's total
    assert asked_bytes("2Gn", cpus=4, nodes=2) == 4 * G  # older Slurm: per node
    assert asked_bytes("512Mc", cpus=4, nodes=2) == 2 * G  # older Slurm: per CPU
    assert asked_bytes("4000", cpus=1, nodes=1) == 4000 * 1024**2  # a bare ReqMem is MB
    assert asked_bytes("", cpus=1, nodes=1) is None
