"""Training and sweep batch scripts, line by line; user text only ever shell-quoted."""

from __future__ import annotations

import pytest

from aifactory_widgets.jobs.limits import LimitError, Resources
from aifactory_widgets.jobs.scripts import (
    JobContext,
    render_sweep_script,
    render_training_script,
    script_args,
    script_path,
)

CTX = JobContext(home="/home/bob", python="/opt/aifactory/venv/bin/python", interface="lo")
CPU = Resources("ai-alpha", "cpu", nodes=1, tasks_per_node=2, cpus_per_task=1, memory_gb=2,
                gpus_per_node=0, walltime_minutes=10)  # fmt: skip
GPU = Resources("ai-alpha", "gpu", nodes=2, tasks_per_node=2, cpus_per_task=4, memory_gb=16,
                gpus_per_node=2, walltime_minutes=120, gpu_type="sim")  # fmt: skip


def test_training_script_lines():
    lines = render_training_script(CPU, "train.py", ("--epochs", "3"), CTX).splitlines()
    assert lines == [
        "#!/bin/bash",
        "#SBATCH --job-name=aif-train",
        "#SBATCH --account=ai-alpha",
        "#SBATCH --partition=cpu",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=2",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=2G",
        "#SBATCH --time=10",
        "#SBATCH --chdir=/home/bob",
        "#SBATCH --output=/home/bob/.aifactory-jobs/%j.out",
        "",
        "set -eu",
        "export PATH=/opt/aifactory/venv/bin:$PATH",
        "# Rendezvous as torchrun does it: the first node of the allocation is the master, by",
        "# its name (node names resolve to the nodes' addresses); the port (torch's 29500 + job",
        "# id % 1000) differs between jobs sharing a node, below the kernel's ephemeral ports.",
        'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        "export MASTER_ADDR",
        "export MASTER_PORT=$((29500 + SLURM_JOB_ID % 1000))",
        "export WORLD_SIZE=$SLURM_NTASKS",
        "export GLOO_SOCKET_IFNAME=lo NCCL_SOCKET_IFNAME=lo",
        'echo "aifactory: training job $SLURM_JOB_ID: $SLURM_NNODES node(s), $WORLD_SIZE '
        'processes, master $MASTER_ADDR:$MASTER_PORT"',
        "srun --kill-on-bad-exit=1 bash -c 'export RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID "
        'LOCAL_WORLD_SIZE=$SLURM_NTASKS_PER_NODE; exec "$@"\' rank '
        "/opt/aifactory/venv/bin/python /home/bob/train.py --epochs 3",
    ]


def test_gpu_training_asks_for_typed_gres_per_node():
    lines = render_training_script(GPU, "t.py", (), JobContext("/home/bob", "/v/bin/python"))
    lines = lines.splitlines()
    assert "#SBATCH --gres=gpu:sim:2" in lines
    assert "#SBATCH --nodes=2" in lines and "#SBATCH --ntasks-per-node=2" in lines
    assert not any("SOCKET_IFNAME" in line for line in lines)  # no interface: libraries choose


def test_user_text_is_quoted_words_after_the_command():
    hostile = ("--name", "x; rm -rf ~", "$(id)", "`id`", "a'b")
    text = render_training_script(CPU, "my dir/t r.py", hostile, CTX)
    last = text.splitlines()[-1]
    assert last.endswith(
        "'/home/bob/my dir/t r.py' --name 'x; rm -rf ~' '$(id)' '`id`' 'a'\"'\"'b'"
    )
    assert not any(line.startswith("#SBATCH") and "rm" in line for line in text.splitlines())


def test_sweep_script_lines():
    grid = "/home/bob/.aifactory-jobs/sweeps/sweep-1.jsonl"
    text = render_sweep_script(
        CPU, "sweep.py", ("--fast",), CTX, grid_file=grid, points=3, parallel=2
    )
    lines = text.splitlines()
    assert lines[1] == "#SBATCH --job-name=aif-sweep"
    assert "#SBATCH --array=0-2%2" in lines
    assert "#SBATCH --output=/home/bob/.aifactory-jobs/%A_%a.out" in lines
    assert f"export AIFACTORY_SWEEP_FILE={grid}" in lines
    assert (
        'AIFACTORY_SWEEP_PARAMS=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$AIFACTORY_SWEEP_FILE")'
        in lines
    )
    assert "export AIFACTORY_SWEEP_PARAMS" in lines
    assert lines[-1] == "exec /opt/aifactory/venv/bin/python /home/bob/sweep.py --fast"


def test_sweep_grid_file_must_live_in_the_job_folder():
    with pytest.raises(ValueError, match="outside"):
        render_sweep_script(CPU, "s.py", (), CTX, grid_file="/tmp/x.jsonl", points=1, parallel=1)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "name the Python script"),
        ("/etc/passwd", "relative to your home"),
        ("~/t.py", "relative to your home"),
        ("-rf", "relative to your home"),
        ("a/../../etc/t.py", "leave your home"),
        ("t.py\n#SBATCH --account=other", "one line"),
    ],
)
def test_script_paths_are_refused(text, why):
    with pytest.raises(LimitError, match=why) as refused:
        script_path(text)
    assert refused.value.field == "script"


def test_arguments_split_like_a_shell_and_refuse_newlines():
    assert script_args("--lr 0.1 --name 'a b'") == ("--lr", "0.1", "--name", "a b")
    with pytest.raises(LimitError, match="one line"):
        script_args("--lr 0.1\nsrun evil")
    with pytest.raises(LimitError, match="cannot split"):
        script_args("--name 'unclosed")


def test_a_home_that_would_break_sbatch_lines_is_refused():
    with pytest.raises(ValueError, match="unsupported home"):
        render_training_script(CPU, "t.py", (), JobContext("/home/b ob", "/v/python"))
