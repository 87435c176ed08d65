"""sacct's parsable output into jobs: fields checked one by one, garbage skipped, array and
heterogeneous job ids kept, empty fields never counted as final."""

from __future__ import annotations

from datetime import UTC, datetime

from aifactory_hub.slurm.jobs import SACCT_ENV, parse_usage, parse_usage_line, usage_argv
from aifactory_hub.slurm.tres import tres_counts
from aifactory_hub.usage import collector as accounting

GPU_JOB = "77|aifactory|ai-alpha|alice|gpu|COMPLETED|2026-11-27T16:00:00|2026-11-27T16:30:00|1800|billing=2,cpu=2,gres/gpu:sim=2,gres/gpu=2,mem=4G,node=1"  # noqa: E501


def test_a_finished_gpu_job():
    job = parse_usage_line(GPU_JOB)
    assert job is not None and job.final
    assert (job.job_id, job.account, job.user, job.partition) == ("77", "ai-alpha", "alice", "gpu")
    assert job.start == datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    assert (job.cpus, job.gpus, job.cpu_seconds, job.gpu_seconds) == (2, 2, 3600.0, 3600.0)


def test_tres_counts_typed_gpus_when_the_total_is_missing():
    assert tres_counts("cpu=4,gres/gpu:a100=2,gres/gpu:sim=1,mem=1G") == (4, 3)
    assert tres_counts("cpu=1,mem=100M,node=1") == (1, 0)
    assert tres_counts("") == (0, 0)
    assert tres_counts("cpu=x,gres/gpu=") == (0, 0)


def test_states_and_empty_fields():
    running = parse_usage_line(
        "80|aifactory|p|bob|cpu|RUNNING|2026-11-27T16:00:00|Unknown|120|cpu=4"
    )
    assert running.end is None and not running.final and running.cpu_seconds == 480
    cancelled = parse_usage_line(
        "81|aifactory|p|bob|cpu|CANCELLED by 0|2026-11-27T16:00:00|2026-11-27T16:01:00|60|cpu=1"
    )
    assert cancelled.state == "CANCELLED" and cancelled.final
    # sacct can show an ended job with its end or elapsed still empty: not final yet
    empty = parse_usage_line("82|aifactory|p|bob|cpu|COMPLETED|2026-11-27T16:00:00|Unknown||cpu=1")
    assert empty.state == "COMPLETED" and not empty.final and empty.cpu_seconds == 0
    requeued = parse_usage_line("83|aifactory|p|bob|cpu|REQUEUED|2026-11-27T16:00:00|None|5|cpu=1")
    assert not requeued.final


def test_array_and_heterogeneous_job_ids():
    task = parse_usage_line("90_3|aifactory|p|bob|cpu|COMPLETED|2026-11-27T16:00:00|"
                      "2026-11-27T16:00:10|10|cpu=1")  # fmt: skip
    het = parse_usage_line("91+1|aifactory|p|bob|cpu|COMPLETED|2026-11-27T16:00:00|"
                     "2026-11-27T16:00:10|10|cpu=1")  # fmt: skip
    assert (task.job_id, het.job_id) == ("90_3", "91+1")
    # a pending array's range line is not a job that ran
    assert parse_usage_line("92_[1-5]|aifactory|p|bob|cpu|PENDING|Unknown|Unknown|0|") is None


def test_garbage_is_skipped_and_counted():
    text = "\n".join([
        GPU_JOB,
        "sacct: error: slurmdbd: Connection refused",
        "77|aifactory|ai-alpha|alice|gpu",  # too few fields
        "78|aifactory|ai alpha;rm|alice|gpu|COMPLETED|x|y|1|cpu=1",  # not an account name
        "79|aifactory|p|bob|cpu|PENDING|Unknown|Unknown|0|",  # never ran: left out, not garbage
        "80|aifactory|p|bob|cpu|CANCELLED by 0|None|2026-11-27T16:13:20|0|",  # cancelled pending
        "",
    ])  # fmt: skip
    jobs, skipped = parse_usage(text)
    assert [j.job_id for j in jobs] == ["77"] and skipped == 3


def test_the_command_is_an_argv_in_utc():
    since = datetime(2026, 11, 1, tzinfo=UTC)
    argv = usage_argv("aifactory", since, datetime(2026, 11, 27, 16, 30, tzinfo=UTC))
    assert argv[:5] == ["sacct", "--noheader", "--parsable2", "--allusers", "--allocations"]
    assert "--starttime=2026-11-01T00:00:00" in argv and "--endtime=2026-11-27T16:30:00" in argv
    assert (
        "--format=JobID,Cluster,Account,User,Partition,State,Start,End,ElapsedRaw,AllocTRES" in argv
    )
    assert SACCT_ENV["TZ"] == "UTC"


def test_staleness():
    now = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    assert accounting.state_json(None, 60, now)["stale"]
    from aifactory_hub.store.models import CollectorState

    fresh = CollectorState(name="sacct", last_success_at=now, last_run_at=now, last_error="")
    assert not accounting.state_json(fresh, 60, now)["stale"]
    failed = CollectorState(name="sacct", last_success_at=now, last_run_at=now, last_error="down")
    assert accounting.state_json(failed, 60, now)["stale"]
    old = CollectorState(name="sacct", last_success_at=now, last_error="")
    assert accounting.state_json(old, 60, now.replace(hour=17))["stale"]
