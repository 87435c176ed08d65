"""Parsing squeue/sacct, cost in the project's units, the grid of a sweep, and the argv of
jobs/commands.py."""

from __future__ import annotations

import json

import pytest

from aifactory_widgets.jobs import commands
from aifactory_widgets.jobs.limits import LimitError
from aifactory_widgets.jobs.status import (
    cost_so_far,
    merge,
    output_candidates,
    parse_sacct,
    parse_squeue,
    stdout_of,
    tail,
)
from aifactory_widgets.jobs.sweep_grid import MAX_POINTS, expand_grid, grid_lines, parse_grid

SQUEUE = (  # the console's format: the job name last
    "12|bob|ai-alpha|cpu|PENDING|Priority|2026-11-27T17:00:00|0:00|1|aif-train\n"
    "13|bob|ai-alpha|gpu|RUNNING|None|2026-11-27T16:00:00|5:01|1|a|b name\n"
    "garbage line\n"
)
SACCT = (
    "13|a|b name|RUNNING|301|billing=4,cpu=4,gres/gpu=2,mem=8G,node=1|ai-alpha|gpu|2026-11-27\n"
    "11|aif-sweep|CANCELLED by 1002|7200|billing=2,cpu=2,mem=4G,node=1|ai-beta|cpu|2026-11-26\n"
    "9_1|aif-sweep|COMPLETED|36|cpu=1,mem=2G,node=1|ai-beta|cpu|2026-11-26\n"
)


def test_parse_keeps_a_name_holding_the_separator():
    live = parse_squeue(SQUEUE)
    assert [r.id for r in live] == ["12", "13"]
    assert live[1].name == "a|b name" and live[1].partition == "gpu"
    assert parse_sacct(SACCT)[0]["name"] == "a|b name"
    assert parse_sacct(SACCT)[1]["state"] == "CANCELLED"


def test_cost_is_gpu_hours_for_gpu_jobs_and_cpu_hours_otherwise():
    assert cost_so_far("billing=4,cpu=4,gres/gpu=2,mem=8G,node=1", 1800) == (1.0, "GPU-h")
    assert cost_so_far("cpu=2,mem=4G,node=1", 7200) == (4.0, "CPU-h")
    assert cost_so_far("cpu=x", 60) == (0.0, "CPU-h")


def test_merge_live_first_then_recent_newest_first():
    rows = merge(parse_squeue(SQUEUE), parse_sacct(SACCT))
    assert [r.id for r in rows] == ["12", "13", "11", "9_1"]
    pending, running, cancelled, task = rows
    assert (pending.state, pending.reason, pending.expected_start) == (
        "PENDING",
        "Priority",
        "2026-11-27T17:00:00",
    )
    assert pending.cost == "0.000" and pending.live
    assert (running.reason, running.expected_start, running.cost) == ("", "", "0.167 GPU-h")
    assert (cancelled.elapsed, cancelled.cost, cancelled.live) == ("2:00:00", "4.000 CPU-h", False)
    assert task.cost == "0.010 CPU-h"


def test_output_files(tmp_path):
    assert stdout_of("JobId=5 JobName=x StdErr=/h/e StdIn=/dev/null StdOut=/h/5.out Power=") == (
        "/h/5.out"
    )
    assert stdout_of("JobId=5") == ""
    places = output_candidates("/home/bob", "9_1")
    assert str(places[0]) == "/home/bob/.aifactory-jobs/9_1.out"
    log = tmp_path / "x.out"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, lines=2) == "line 98\nline 99"


def test_jobs_get_a_clean_environment_without_the_session_token():
    env = commands.job_env({"HOME": "/home/bob", "USER": "bob", "JUPYTERHUB_API_TOKEN": "secret",
                        "SLURM_JOB_ID": "7", "SLURM_CONF": "/etc/slurm/slurm.conf"})  # fmt: skip
    assert env == {"HOME": "/home/bob", "USER": "bob", "SLURM_CONF": "/etc/slurm/slurm.conf"}


class Scripted:
    def __init__(self, answer: str):
        self.answer = answer
        self.calls: list[tuple[list[str], str | None]] = []

    def run(self, argv, input=None):
        self.calls.append((list(argv), input))
        return self.answer


def test_submit_reads_the_job_id_and_cancel_validates_it():
    runner = Scripted("123;aifactory\n")
    assert commands.submit(runner, "#!/bin/bash\n") == "123"
    assert runner.calls == [(["sbatch", "--parsable"], "#!/bin/bash\n")]
    with pytest.raises(commands.SlurmError, match="no job id"):
        commands.submit(Scripted("sbatch: error"), "x")
    commands.cancel(runner, "9_1")
    assert runner.calls[-1][0] == ["scancel", "9_1"]
    for bad in ("1;scancel -u bob", "-1", "12 13", ""):
        with pytest.raises(ValueError, match="not a Slurm job id"):
            commands.cancel(runner, bad)


def test_monitor_argv():
    assert (
        commands.squeue_argv("bob")[0] == "squeue"
        and commands.squeue_argv("bob")[-1] == "--user=bob"
    )
    assert "--starttime=now-1days" in commands.sacct_argv("bob")
    assert commands.scontrol_job_argv("12_3") == ["scontrol", "--oneliner", "show", "job", "12_3"]


def test_a_grid_becomes_one_json_line_per_combination():
    grid = parse_grid([("lr", "0.1, 0.01"), ("", ""), ("model", 'small, "big one", true')])
    assert grid == {"lr": [0.1, 0.01], "model": ["small", "big one", True]}
    points = expand_grid(grid)
    assert len(points) == 6 and points[1] == {"lr": 0.1, "model": "big one"}
    lines = grid_lines(points).splitlines()
    assert len(lines) == 6 and json.loads(lines[5]) == {"lr": 0.01, "model": True}


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([], "at least one parameter"),
        ([("1lr", "1")], "not a parameter name"),
        ([("lr", "")], "at least one value"),
        ([("lr", "1"), ("lr", "2")], "appears twice"),
        ([("lr", "1\n2")], "one line"),
    ],
)
def test_bad_grids_are_refused(rows, why):
    with pytest.raises(LimitError, match=why):
        parse_grid(rows)


def test_a_grid_too_large_for_one_array_is_refused():
    values = ", ".join(str(i) for i in range(40))
    with pytest.raises(LimitError, match=f"at most {MAX_POINTS}"):
        expand_grid(parse_grid([("a", values), ("b", values)]))


def test_a_busy_day_shows_every_live_job_and_only_the_newest_finished():
    recent = [
        {"id": str(100 + i), "name": "aif-sweep", "state": "COMPLETED", "elapsed_s": "1",
         "tres": "cpu=1", "account": "ai-alpha", "partition": "cpu",
         "start": f"2026-11-27T10:{i // 60:02d}:{i % 60:02d}"}
        for i in range(300)
    ]  # fmt: skip
    rows = merge(parse_squeue(SQUEUE), recent, finished=25)
    live = [r for r in rows if r.live]
    assert len(live) == len(parse_squeue(SQUEUE)) and len(rows) == len(live) + 25
    assert rows[len(live)].id == "399"  # the newest finished first
