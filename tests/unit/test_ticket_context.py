"""The context a ticket carries, built from scripted Slurm answers (no Slurm needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

from aifactory_hub.helpdesk.bodies import Context
from aifactory_hub.slurm.jobs import recent_jobs_argv
from aifactory_hub.slurm.states import ended_badly
from aifactory_widgets.helpdesk import context as tc
from aifactory_widgets.jobs.commands import SlurmError

# slurm.jobs.recent_jobs_argv's fields: JobID, Partition, Account, State, ExitCode, Start, End,
# Elapsed, ElapsedRaw, AllocTRES, WorkDir, JobName (the free text last).
ROWS = [
    "101|gpu|ai-alpha|COMPLETED|0:0|2026-11-27T10:00|2026-11-27T10:05|00:05:00|300|cpu=1|"
    "/home/alice|cpu1|prep",
    "102|gpu|ai-alpha|FAILED|1:0|2026-11-27T11:00|2026-11-27T11:02|00:02:00|120|cpu=1|"
    "/home/alice/run|cpu1|train|big",
    "103|gpu|ai-alpha|CANCELLED by 1000|0:15|2026-11-27T12:00|2026-11-27T12:01|00:00:09|9|cpu=1|"
    "/tmp|cpu1|x",
    "104|gpu|ai-alpha|RUNNING|0:0|2026-11-27T13:00|Unknown|00:10:00|600|cpu=2|/home/alice|cpu[1-2]|"
    "jupyterhub-session",
]
SACCT = "\n".join(ROWS) + "\n"
ENV = {
    "JUPYTERHUB_USER": "alice",
    "SLURM_JOB_ID": "104",
    "SLURM_JOB_ACCOUNT": "ai-alpha",
    "SLURM_JOB_PARTITION": "gpu",
    "SLURMD_NODENAME": "node1",
    "HOME": "/home/alice",
}


class Scripted:
    """Answers Slurm commands from a table keyed by the command's first word."""

    def __init__(self, **answers: str | Exception):
        self.answers = answers
        self.calls: list[list[str]] = []

    def run(self, argv: Sequence[str], input: str | None = None) -> str:
        self.calls.append(list(argv))
        answer = self.answers.get(argv[0], "")
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_sacct_is_asked_for_the_users_jobs_of_the_last_week():
    runner = Scripted(sacct=SACCT)
    tc.gather(ENV, runner, None)
    assert runner.calls == [recent_jobs_argv("alice", "now-7days")]


def test_the_jobs_come_newest_first_with_names_holding_bars():
    context, jobs = tc.gather(ENV, Scripted(sacct=SACCT), None)
    assert [j["id"] for j in jobs] == ["104", "103", "102", "101"]
    assert jobs[2]["name"] == "train|big" and jobs[2]["exit_code"] == "1:0"
    assert jobs[2]["workdir"] == "/home/alice/run"
    # the ticket: the state as sacct printed it, no working directory, nothing else
    assert context["jobs"][1] == {
        "id": "103", "name": "x", "partition": "gpu", "account": "ai-alpha",
        "state": "CANCELLED by 1000", "exit_code": "0:15", "start": "2026-11-27T12:00",
        "end": "2026-11-27T12:01", "elapsed": "00:00:09",
    }  # fmt: skip
    assert tc.gather(ENV, Scripted(sacct="garbage\n\n|||\n"), None)[1] == []
    pending_array = (
        "205_[0-3%2]|cpu|ai-alpha|PENDING|0:0|Unknown|Unknown|00:00:00|0||/home/a||sweep"
    )
    odd = "x;rm|cpu|ai-alpha|PENDING|0:0|Unknown|Unknown|00:00:00|0||/home/a||odd"
    context, jobs = tc.gather(ENV, Scripted(sacct=f"{pending_array}\n{odd}\n"), None)
    assert [j["id"] for j in jobs] == ["205_[0-3%2]"]
    Context.model_validate(context)
    Context.model_validate({"jobs": [{"id": "205_[0-3%2]"}, {"id": "7+1"}, {"id": "7.batch"}]})


def test_at_most_the_newest_jobs_and_fields_within_the_services_bounds():
    long = "n" * 300
    rows = [f"{300 + i}|cpu|ai-alpha|COMPLETED|0:0|a|b|c|1|cpu=1|/h|cpu1|{long}" for i in range(40)]
    context, jobs = tc.gather(ENV, Scripted(sacct="\n".join(rows)), None)
    assert len(jobs) == tc.MAX_JOBS and jobs[0]["id"] == "339" and jobs[-1]["id"] == "310"
    assert len(context["jobs"][0]["name"]) == 200
    Context.model_validate(context)


def test_failed_jobs_and_the_latest_one():
    _, jobs = tc.gather(ENV, Scripted(sacct=SACCT), None)
    assert [ended_badly(j["state"], j["exit_code"]) for j in jobs] == [False, True, True, False]
    assert tc.latest_failed(jobs, skip="104") == "103"
    assert tc.latest_failed(jobs, skip="103") == "102"
    assert tc.latest_failed(jobs[3:]) == ""  # only a clean COMPLETED


@pytest.mark.parametrize(
    ("state", "exit_code", "attached"),
    [
        # live: waiting for its nodes, or held after a requeue; once taken for failed
        ("CONFIGURING", "0:0", False),
        ("REQUEUE_HOLD", "0:0", False),
        ("PENDING", "0:0", False),
        ("COMPLETED", "0:0", False),
        ("FAILED", "1:0", True),
        ("OUT_OF_MEMORY", "0:125", True),
        ("TIMEOUT", "0:0", True),
        ("NODE_FAIL", "0:0", True),
        ("COMPLETED", "2:0", True),  # ended_badly: a non-zero exit code
    ],
)
def test_only_a_job_that_ended_badly_is_attached_as_failed(state, exit_code, attached):
    assert ended_badly(state, exit_code) is attached
    line = f"105|cpu|ai-alpha|{state}|{exit_code}|a|b|c|1|cpu=1|/home/alice|cpu[1-2]|job"
    runner = Scripted(sacct=f"{ROWS[3]}\n{line}\n", scontrol="JobId=105 StdOut=/home/alice/105.out")
    context, _ = tc.gather(ENV, runner, "auto", reader=lambda _: "the end")
    if attached:
        assert context["output_tail"]["job_id"] == "105"
        assert runner.calls[1] == ["scontrol", "--oneliner", "show", "job", "105"]
    else:
        assert context["output_tail"] is None and len(runner.calls) == 1  # sacct only


def test_the_context_carries_session_jobs_and_the_failed_jobs_output():
    runner = Scripted(sacct=SACCT, scontrol="JobId=103 StdOut=/home/alice/x-103.out StdErr=...")
    read = {"/home/alice/x-103.out": "step 1\nTraceback: CUDA out of memory"}
    context, jobs = tc.gather(ENV, runner, "auto", reader=read.get)
    assert runner.calls[0] == recent_jobs_argv("alice", "now-7days")
    assert runner.calls[1] == ["scontrol", "--oneliner", "show", "job", "103"]
    assert (context["project"], context["partition"], context["job_id"], context["node"]) == (
        "ai-alpha", "gpu", "104", "node1",
    )  # fmt: skip
    assert [j["id"] for j in context["jobs"]] == ["104", "103", "102", "101"]
    assert "workdir" not in context["jobs"][0]  # paths stay private unless output is attached
    assert context["jobs"][1]["state"] == "CANCELLED by 1000"
    assert context["output_tail"]["job_id"] == "103"
    assert context["output_tail"]["text"].endswith("CUDA out of memory")
    assert context["versions"]["python"]
    assert len(jobs) == 4
    Context.model_validate(context)  # what the service accepts


def test_without_slurms_memory_the_usual_output_files_are_tried():
    runner = Scripted(sacct=SACCT, scontrol=SlurmError(["scontrol"], 1, "", "Invalid job id"))
    tried: list[str] = []

    def reader(path: str) -> str | None:
        tried.append(path)
        return "the end" if path.endswith("slurm-102.out") else None

    context, _ = tc.gather(ENV, runner, "102", reader=reader)
    assert tried == ["/home/alice/.jupyter-sessions/102.log", "/home/alice/run/slurm-102.out"]
    assert context["output_tail"] == {
        "job_id": "102", "path": "/home/alice/run/slurm-102.out", "text": "the end",
    }  # fmt: skip


def test_no_output_when_the_researcher_leaves_it_out_or_nothing_is_readable():
    context, _ = tc.gather(ENV, Scripted(sacct=SACCT), None, reader=lambda _: "secret")
    assert context["output_tail"] is None and context["problems"] == []
    context, _ = tc.gather(ENV, Scripted(sacct=SACCT), "102", reader=lambda _: None)
    assert context["output_tail"] is None
    assert context["problems"] == ["no output of job 102 found that you own"]


def test_accounting_down_is_a_problem_not_an_error():
    down = SlurmError(["sacct"], 1, "", "sacct: error: Problem talking to the database")
    context, jobs = tc.gather(ENV, Scripted(sacct=down), "auto")
    assert jobs == [] and context["jobs"] == []
    assert context["problems"][0].startswith("recent jobs unavailable: sacct")
    Context.model_validate(context)


def test_a_user_name_sacct_must_not_get_is_a_problem_not_an_error():
    context, jobs = tc.gather({**ENV, "JUPYTERHUB_USER": "alice,bob"}, Scripted(sacct=SACCT))
    assert jobs == [] and context["problems"] == [
        "recent jobs unavailable: not a user name: 'alice,bob'"
    ]


def test_outside_a_session_there_is_little_context():
    context, _ = tc.gather({}, Scripted(), "auto")
    assert context["project"] == context["job_id"] == "" and context["jobs"] == []


def test_read_tail_reads_only_the_users_own_files(tmp_path):
    path = tmp_path / "out.log"
    path.write_text("".join(f"line {i}\n" for i in range(100)))
    tail = tc.read_tail(str(path), lines=3)
    assert tail == "line 97\nline 98\nline 99"
    assert tc.read_tail(str(tmp_path / "missing")) is None
    assert tc.read_tail(str(tmp_path)) is None  # a directory
    if os.getuid() == 0:
        os.chown(path, 65534, 65534)  # nobody's file: not the caller's to send
        assert tc.read_tail(str(path)) is None
