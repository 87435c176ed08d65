"""The monitor's rows from slurm.jobs' parsed squeue/sacct, cost in the project's units, the grid
of a sweep, and what jobs/commands.py runs."""

from __future__ import annotations

import json

import pytest

from aifactory_hub.slurm.jobs import parse_queue, parse_recent_jobs
from aifactory_widgets.jobs import commands
from aifactory_widgets.jobs.limits import LimitError
from aifactory_widgets.jobs.status import JobRow, cost_so_far, merge, output_candidates, tail
from aifactory_widgets.jobs.sweep_grid import MAX_POINTS, expand_grid, grid_lines, parse_grid

SQUEUE = (  # the console's format: the job name last
    "12|bob|ai-alpha|cpu|PENDING|Priority|2026-11-27T17:00:00|0:00|1|aif-train\n"
    "13|bob|ai-alpha|gpu|RUNNING|None|2026-11-27T16:00:00|5:01|1|a|b name\n"
    "garbage line\n"
)
SACCT = (  # slurm.jobs.recent_jobs_argv's fields, the job name last
    "13|gpu|ai-alpha|RUNNING|0:0|2026-11-27T16:00:00|Unknown|00:05:01|301|"
    "billing=4,cpu=4,gres/gpu=2,mem=8G,node=1|/home/bob|cpu[1-2]|a|b name\n"
    "11|cpu|ai-beta|CANCELLED by 1002|0:15|2026-11-26T10:00:00|2026-11-26T12:00:00|02:00:00|7200|"
    "billing=2,cpu=2,mem=4G,node=1|/home/bob|cpu[1-2]|aif-sweep\n"
    "9_1|cpu|ai-beta|COMPLETED|0:0|2026-11-26T09:00:00|2026-11-26T09:00:36|00:00:36|36|"
    "cpu=1,mem=2G,node=1|/home/bob|cpu[1-2]|aif-sweep\n"
)


def parse_squeue(text: str):
    return parse_queue(text)[0]


def test_parse_keeps_a_name_holding_the_separator():
    live = parse_squeue(SQUEUE)
    assert [r.id for r in live] == ["12", "13"]
    assert live[1].name == "a|b name" and live[1].partition == "gpu"
    assert parse_recent_jobs(SACCT)[0]["name"] == "a|b name"
    assert parse_recent_jobs(SACCT)[1]["state"] == "CANCELLED"


def test_cost_is_gpu_hours_for_gpu_jobs_and_cpu_hours_otherwise():
    assert cost_so_far("billing=4,cpu=4,gres/gpu=2,mem=8G,node=1", 1800) == (1.0, "GPU-h")
    assert cost_so_far("cpu=2,mem=4G,node=1", 7200) == (4.0, "CPU-h")
    assert cost_so_far("cpu=x", 60) == (0.0, "CPU-h")
    # typed GPUs only (no gres/gpu total): their sum, as the accounting collector counts them
    assert cost_so_far("cpu=2,gres/gpu:a100=2,gres/gpu:sim=1", 3600) == (3.0, "GPU-h")


def test_merge_live_first_then_recent_newest_first():
    rows = merge(parse_squeue(SQUEUE), parse_recent_jobs(SACCT))
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


def test_live_is_the_one_state_table_s_pending_or_running():
    row = JobRow("5", "x", "REQUEUE_HOLD", "", "", "", "a", "cpu", "")
    assert row.live  # held after a requeue: Slurm holds it, it may be cancelled
    for state, live in (("CONFIGURING", True), ("COMPLETING", True), ("NODE_FAIL", False),
                        ("CANCELLED", False), ("NEWSTATE", False)):  # fmt: skip
        assert JobRow("5", "x", state, "", "", "", "a", "cpu", "").live is live
    # a job sacct lists live but squeue no longer does (a moment's lag) is not shown as finished
    held = "14|cpu|ai-beta|REQUEUE_HOLD|0:0|Unknown|Unknown|00:00:00|0||/home/bob|cpu[1-2]|x\n"
    rows = merge(parse_squeue(SQUEUE), parse_recent_jobs(SACCT + held))
    assert [r.id for r in rows] == ["12", "13", "11", "9_1"]


def test_output_files(tmp_path):
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
    for bad in ("1;scancel -u bob", "-1", "12 13", "", "12_[1-3]"):
        with pytest.raises(ValueError, match="not a Slurm job id"):
            commands.cancel(runner, bad)
    assert len(runner.calls) == 2  # a refused id runs nothing


def test_cancel_named_cancels_the_users_jobs_of_one_name():
    runner = Scripted("")
    commands.cancel_named(runner, "bob", "aif-dask-1a2b")
    assert runner.calls == [(["scancel", "--user=bob", "--name=aif-dask-1a2b"], None)]
    for user, name in (("bob", "a,b"), ("bob", ""), ("--all", "aif-dask-1")):
        with pytest.raises(ValueError):
            commands.cancel_named(runner, user, name)
    assert len(runner.calls) == 1


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
