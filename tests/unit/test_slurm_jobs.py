"""Slurm's job commands and their output (slurm.jobs), the TRES lists (slurm.tres) and the node
commands (slurm.nodes): argv lists with one argument per setting, parsers that skip garbage."""

from __future__ import annotations

import pytest

from aifactory_hub.slurm import jobs, nodes
from aifactory_hub.slurm.tres import format_tres, parse_tres, tres_counts, tres_numbers

# --- job ids, sbatch, scancel ------------------------------------------------------------


def test_a_job_id_is_ascii_digits_and_an_array_task_only_where_asked():
    assert jobs.check_job_id("12") == "12"
    assert jobs.check_job_id("12_3", array_task=True) == "12_3"
    for bad in ("12_3", "12\n", "١٢", "", "1" * 13, "12,13", "-1"):
        with pytest.raises(ValueError, match="not a Slurm job id"):
            jobs.check_job_id(bad)
    with pytest.raises(ValueError):
        jobs.check_job_id(12)  # type: ignore[arg-type]


def test_sbatch_and_what_it_prints():
    assert jobs.sbatch_argv() == ["sbatch", "--parsable"]
    assert jobs.parse_sbatch("123\n") == "123"
    assert jobs.parse_sbatch("123;aifactory\n") == "123"
    for nothing in ("", "Submitted batch job 5", "sbatch: error: x"):
        assert jobs.parse_sbatch(nothing) == ""


def test_scancel_takes_one_job_or_one_name():
    assert jobs.scancel_argv("12") == ["scancel", "12"]
    assert jobs.scancel_argv("12_3", array_task=True) == ["scancel", "12_3"]
    with pytest.raises(ValueError, match="not a Slurm job id"):
        jobs.scancel_argv("12; scancel -u alice")
    with pytest.raises(ValueError):
        jobs.scancel_argv("12_3")  # the hub's sudo rule takes a plain job id only
    assert jobs.scancel_named_argv("jupyterhub-session") == ["scancel", "--name=jupyterhub-session"]
    assert jobs.scancel_named_argv("dask-w", "bob") == ["scancel", "--user=bob", "--name=dask-w"]
    for bad in ("", "a,b", "a\nb"):
        with pytest.raises(ValueError, match="not one job name"):
            jobs.scancel_named_argv(bad)
    with pytest.raises(ValueError, match="user name"):
        jobs.scancel_named_argv("x", "Bob")


# --- squeue ------------------------------------------------------------------------------


def test_squeue_and_sacct_of_the_hubs_jobs():
    assert jobs.squeue_argv(["12", "7"]) == [
        "squeue",
        "--noheader",
        "--states=all",
        "--jobs=12,7",
        "--format=%i|%T|%r|%S|%N|%a|%P|%u",
    ]
    assert jobs.sacct_argv(["3"])[-2:] == ["--jobs=3", "--format=JobID,State,ExitCode,Reason"]
    with pytest.raises(ValueError):
        jobs.squeue_argv(["12", "7,8"])


def test_squeue_phases_come_from_the_state_table():
    text = (
        "1|RUNNING|None|N/A|vm|a|cpu|u\n2|STOPPED|None|N/A|vm|a|cpu|u\n"
        "3|SPECIAL_EXIT|JobHeldAdmin|N/A||a|cpu|u\n4|NODE_FAIL|None|N/A|vm|a|cpu|u\n"
        "5|PENDING|Priority|2026-11-27T10:00:00|(null)|a|cpu|u\n"
    )
    found, skipped = jobs.parse_squeue(text)
    assert skipped == []
    assert {j: i.phase for j, i in found.items()} == {
        "1": "running", "2": "pending", "3": "pending", "4": "gone", "5": "pending",
    }  # fmt: skip
    assert found["5"].expected_start == "2026-11-27T10:00:00" and found["5"].node == ""
    assert found["1"].reason == "" and found["3"].reason == "JobHeldAdmin"


def test_accounting_on_the_hubs_jobs():
    found = jobs.parse_sacct(
        "7|CANCELLED by 0|0:15|None\n8|RUNNING|0:0|None\n7.batch|CANCELLED|0:15|\n"
        "9|weird|0:0|None\nx|y\n"
    )
    assert set(found) == {"7", "8"}
    assert (found["7"].state, found["7"].phase, found["7"].exit_code) == (
        "CANCELLED",
        "gone",
        "0:15",
    )
    assert found["8"].phase == "running" and found["8"].alive


def test_the_queue_for_one_user():
    argv = jobs.user_queue_argv("bob")
    assert argv[: len(jobs.QUEUE_ARGV)] == list(jobs.QUEUE_ARGV) and argv[-1] == "--user=bob"
    with pytest.raises(ValueError, match="user name"):
        jobs.user_queue_argv("bob,alice")


def test_a_users_jobs_of_one_name_with_their_comments():
    assert jobs.named_jobs_argv("alice", "jupyterhub-session") == [
        "squeue", "--noheader", "--user=alice", "--name=jupyterhub-session", "--format=%i|%k",
    ]  # fmt: skip
    out = "12|aifactory-spawn-ab\n13|\nnot|a job\n14|with|pipe\n"
    assert jobs.parse_job_comments(out) == [
        ("12", "aifactory-spawn-ab"), ("13", ""), ("14", "with|pipe"),
    ]  # fmt: skip


# --- sacct: a user's recent jobs (what the widgets need) ----------------------------------

RECENT = (
    "101|cpu|ai-alpha|COMPLETED|0:0|2026-11-27T10:00:00|2026-11-27T10:05:00|00:05:00|300|"
    "billing=2,cpu=2,mem=4G,node=1|/home/bob|cpu[1-2]|train\n"
    "102|gpu|ai-alpha|CANCELLED by 1002|0:15|2026-11-27T11:00:00|2026-11-27T11:01:00|"
    "00:01:00|60|cpu=4,gres/gpu:sim=1,gres/gpu=1|/home/bob/x|cpu[1-2]|a|b name\n"
    "103_[1-3]|cpu|ai-beta|PENDING|0:0|Unknown|Unknown|00:00:00|0||/home/bob|cpu[1-2]|sweep\n"
    "104|cpu|ai-beta|CONFIGURING|0:0|2026-11-27T12:00:00|Unknown|00:00:01|1|cpu=1|/h|cpu1|c\n"
    "sacct: error: nonsense\n"
    "\n"
)


def test_recent_jobs_argv():
    argv = jobs.recent_jobs_argv("bob", "now-1days")
    assert argv[:5] == ["sacct", "--noheader", "--parsable2", "--allocations", "--user=bob"]
    assert "--starttime=now-1days" in argv
    # The job name, the one field a user chooses, is last: a '|' in it shifts nothing.
    assert argv[-1].startswith("--format=") and argv[-1].endswith(",JobName")
    assert "--starttime=now-7days" in jobs.recent_jobs_argv("bob")
    with pytest.raises(ValueError, match="user name"):
        jobs.recent_jobs_argv("--allusers")


def test_recent_jobs_as_dicts_in_sacct_order():
    rows = jobs.parse_recent_jobs(RECENT)
    assert [r["id"] for r in rows] == ["101", "102", "103_[1-3]", "104"]
    assert set(rows[0]) == {*jobs.RECENT_FIELDS, "state_text"}
    assert rows[1]["name"] == "a|b name" and rows[1]["state"] == "CANCELLED"
    assert rows[1]["state_text"] == "CANCELLED by 1002" and rows[1]["exit_code"] == "0:15"
    assert rows[1]["elapsed_s"] == "60" and tres_counts(rows[1]["tres"]) == (4, 1)
    assert rows[0]["workdir"] == "/home/bob" and rows[0]["elapsed"] == "00:05:00"


def test_recent_jobs_split_into_live_and_ended_by_the_one_table():
    from aifactory_hub.slurm.states import ended_badly, is_live

    rows = jobs.parse_recent_jobs(RECENT)
    assert [r["id"] for r in rows if is_live(r["state"])] == ["103_[1-3]", "104"]
    assert [r["id"] for r in rows if ended_badly(r["state"], r["exit_code"])] == ["102"]


def test_scontrol_show_job_and_its_output_path():
    assert jobs.show_job_argv("12_3") == ["scontrol", "--oneliner", "show", "job", "12_3"]
    line = "JobId=12 JobName=x UserId=bob(1001) StdErr=/h/e StdIn=/dev/null StdOut=/h/o.out Power="
    assert jobs.job_stdout(line) == "/h/o.out"
    assert jobs.job_stdout("JobId=12 MyStdOut=/nope") == "" and jobs.job_stdout("") == ""


# --- TRES --------------------------------------------------------------------------------


def test_tres_lists_both_ways():
    text = "billing=2,cpu=2,gres/gpu:sim=1,gres/gpu=1,mem=4G,node=1,junk"
    assert parse_tres(text) == {
        "billing": "2", "cpu": "2", "gres/gpu:sim": "1", "gres/gpu": "1", "mem": "4G", "node": "1",
    }  # fmt: skip
    assert tres_numbers(text) == {"billing": 2, "cpu": 2, "gres/gpu:sim": 1, "gres/gpu": 1,
                                  "node": 1}  # fmt: skip
    assert format_tres({"cpu": 60, "gres/gpu": 0}) == "cpu=60,gres/gpu=0"
    assert tres_numbers(format_tres({"cpu": 60, "gres/gpu": 0})) == {"cpu": 60, "gres/gpu": 0}
    assert parse_tres("") == {} and tres_counts("") == (0, 0)


# --- nodes -------------------------------------------------------------------------------


def test_node_commands():
    assert nodes.show_nodes_argv() == ["scontrol", "--oneliner", "show", "node"]
    assert nodes.show_nodes_argv("vm") == ["scontrol", "--oneliner", "show", "node", "vm"]
    assert nodes.resume_node_argv("vm") == ["scontrol", "update", "nodename=vm", "state=resume"]
    assert nodes.ping_argv() == ["scontrol", "ping"]
    assert nodes.controller_answers("Slurmctld(primary) at vm is UP\n")
    assert not nodes.controller_answers("Slurmctld(primary) at vm is DOWN\n")


@pytest.mark.parametrize(
    ("state", "usable", "out_of_service"),
    [
        ("IDLE", True, False),
        ("MIXED", True, False),
        ("ALLOCATED+RESERVED", True, False),
        ("MIXED+DRAIN", False, True),
        ("IDLE+DRAIN", False, True),
        ("DOWN+NOT_RESPONDING", False, True),
        ("IDLE*", False, False),  # slurmd does not answer: its daemon, not a resume, helps
        ("IDLE+NOT_RESPONDING", False, False),
        ("IDLE+FAIL", False, True),
        ("UNKNOWN", False, False),
    ],
)
def test_node_states(state, usable, out_of_service):
    assert nodes.node_usable(state) is usable
    assert nodes.node_out_of_service(state) is out_of_service
