"""The accounting collector against a scripted sacct, and usage read back from the store:
a restart counts nothing twice, a job with incomplete accounting is read again, an outage
keeps the last figures and says since when, and the reports add up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from aifactory_hub import slurm
from aifactory_hub.access.views import Caller
from aifactory_hub.site import load_site
from aifactory_hub.site.sessions import OptionError, SessionRequest, check_allocation
from aifactory_hub.store import models as m
from aifactory_hub.usage import billing
from aifactory_hub.usage import collector as accounting
from aifactory_hub.usage import ledgers as usage

SITE = load_site()
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
A = "101|aifactory|prj-1|alice|gpu|COMPLETED|2026-11-20T10:00:00|2026-11-20T11:00:00|3600|billing=2,cpu=2,gres/gpu=1,mem=4G,node=1"  # noqa: E501
B_RUNNING = (
    "102|aifactory|prj-1|bob|cpu|RUNNING|2026-11-20T11:30:00|Unknown|1800|cpu=4,mem=4G,node=1"
)
B_DONE = "102|aifactory|prj-1|bob|cpu|COMPLETED|2026-11-20T11:30:00|2026-11-20T12:30:00|3600|cpu=4,mem=4G,node=1"  # noqa: E501
C_EMPTY = "103|aifactory|prj-1|alice|cpu|COMPLETED|2026-11-20T11:50:00|Unknown||cpu=1,node=1"
C_DONE = "103|aifactory|prj-1|alice|cpu|COMPLETED|2026-11-20T11:50:00|2026-11-20T11:59:00|540|cpu=1,node=1"  # noqa: E501


class ScriptedSacct:
    """Answers sacct with the next scripted output (or raises it), and keeps the argv."""

    def __init__(self, *answers: str | Exception):
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    async def __call__(self, argv, env=None, timeout=None) -> slurm.CommandResult:
        self.calls.append(list(argv))
        assert env["TZ"] == "UTC"
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return slurm.CommandResult(tuple(argv), 0, answer, "")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def collector(store, runner, clock) -> accounting.Collector:
    return accounting.Collector(store, "aifactory", interval_s=60, runner=runner, clock=clock)


def add_project(store, account: str = "prj-1", gpu: float = 10, cpu: float = 20, **kw) -> None:
    with store.begin() as db:
        project = m.Project(
            account=account, title=f"{account} title", organisation="Alpha", pi="alice",
            access_mode=kw.get("mode", "fast_lane"), starts_on=date(2026, 11, 1),
            ends_on=date(2026, 12, 31), status="active", charged=kw.get("charged", False),
        )  # fmt: skip
        project.allocations = [m.Allocation(partition="gpu", gpu_hours=gpu, cpu_hours=cpu)]
        project.members = [
            m.Member(username="alice", role="pi", added_by="t"),
            m.Member(username="bob", role="member", added_by="t"),
        ]
        db.add(project)


def jobs(store) -> dict[str, m.UsageJob]:
    with store() as db:
        return {j.job_id: j for j in db.scalars(select(m.UsageJob))}


async def test_a_restart_counts_nothing_twice(store):
    clock = Clock(T0)
    runner = ScriptedSacct("\n".join([A, B_RUNNING]))
    await collector(store, runner, clock).run_once()
    first = jobs(store)
    assert first["101"].final and first["101"].gpu_seconds == 3600
    assert first["101"].cpu_seconds == 7200
    assert not first["102"].final and first["102"].cpu_seconds == 4 * 1800

    # A new collector (the service restarted) reads the same jobs again, one of them with
    # different figures: final rows are never touched, the running one is updated in place.
    clock.now = T0 + timedelta(minutes=30)
    garbled_a = A.replace("|3600|", "|99999|")
    runner = ScriptedSacct("\n".join([garbled_a, B_DONE, A]))
    await collector(store, runner, clock).run_once()
    again = jobs(store)
    assert len(again) == 2
    assert again["101"].cpu_seconds == 7200
    assert again["102"].final and again["102"].cpu_seconds == 4 * 3600
    with store() as db:
        assert db.scalar(select(func.count()).select_from(m.UsageJob)) == 2


async def test_the_watermark_moves_and_incomplete_jobs_are_read_again(store):
    clock = Clock(T0)
    runner = ScriptedSacct(C_EMPTY, C_DONE)
    c = collector(store, runner, clock)
    state = await c.run_once()
    assert not jobs(store)["103"].final  # COMPLETED with empty elapsed: not final yet
    first_mark = datetime.fromisoformat(state["watermark"])
    assert first_mark <= datetime(2026, 11, 20, 11, 50, tzinfo=UTC)  # pinned by job 103
    start = next(a for a in runner.calls[0] if a.startswith("--starttime="))
    assert start == f"--starttime={(T0 - accounting.FIRST_LOOKBACK):%Y-%m-%dT%H:%M:%S}"
    clock.now = T0 + timedelta(minutes=1)
    state = await c.run_once()
    assert f"--starttime={first_mark:%Y-%m-%dT%H:%M:%S}" in runner.calls[1]
    assert jobs(store)["103"].final and jobs(store)["103"].cpu_seconds == 540
    assert datetime.fromisoformat(state["watermark"]) == T0 - accounting.LAG


async def test_an_outage_keeps_the_figures_and_says_since_when(store):
    clock = Clock(T0)
    down = slurm.ControllerUnreachable(["sacct"], 1, "", "sacct: error: Problem talking to "
                                       "the database: Connection refused")  # fmt: skip
    runner = ScriptedSacct(A, down, A)
    c = collector(store, runner, clock)
    ok = await c.run_once()
    clock.now = T0 + timedelta(minutes=5)
    failed = await c.run_once()
    assert failed["stale"] and "Connection refused" in failed["last_error"]
    assert failed["last_success_at"] == ok["last_success_at"] == T0.isoformat()
    assert failed["watermark"] == ok["watermark"]
    assert jobs(store)["101"].gpu_seconds == 3600  # the last figures stay
    add_project(store)
    with store() as db:
        answer = usage.caller_usage(db, SITE, Caller("alice"), staff=False)
    assert answer["collector"]["stale"] and answer["as_of"] == T0.isoformat()
    clock.now = T0 + timedelta(minutes=6)
    recovered = await c.run_once()
    assert recovered["last_error"] == "" and recovered["last_success_at"] == clock.now.isoformat()


async def test_garbage_lines_are_skipped_not_fatal(store):
    text = "\n".join(["sacct: error: something", A, "x|y", "", "104|a|b|c"])
    await collector(store, ScriptedSacct(text), Clock(T0)).run_once()
    assert list(jobs(store)) == ["101"]


async def test_usage_reports_and_the_spawn_gate_read_the_store(store):
    add_project(store, gpu=1.5, cpu=20)
    add_project(store, "prj-2", gpu=100, cpu=100, charged=True)
    c = collector(store, ScriptedSacct("\n".join([A, B_DONE])), Clock(T0 + timedelta(hours=1)))
    await c.run_once()
    with store() as db:
        member = usage.caller_usage(db, SITE, Caller("bob"), staff=False)
        pi = usage.caller_usage(db, SITE, Caller("alice"), staff=False)
        staff = usage.caller_usage(db, SITE, Caller("sam"), staff=True, everyone=True)
    # bob is a member of prj-1 and prj-2 (and of the site's ai-alpha and ai-beta)
    by_account = {p["account"]: p for p in member["projects"]}
    assert set(by_account) == {"ai-alpha", "ai-beta", "prj-1", "prj-2"}
    prj1 = by_account["prj-1"]
    assert prj1["used"] == {"gpu_hours": 1.0, "cpu_hours": 6.0}
    assert prj1["remaining"] == {"gpu_hours": 0.5, "cpu_hours": 14.0}
    assert prj1["level"] == "none" and prj1["members"] is None
    assert by_account["ai-alpha"]["has_allocation"] is False
    pi_view = {p["account"]: p for p in pi["projects"]}["prj-1"]
    assert {m["username"]: m["cpu_hours"] for m in pi_view["members"]} == {
        "alice": 2.0, "bob": 4.0,
    }  # fmt: skip
    assert {p["account"] for p in staff["projects"]} >= {"prj-1", "prj-2", "ai-alpha"}

    with store() as db:
        report = billing.billing(db, SITE, date(2026, 11, 1), date(2026, 11, 30))
        funder = billing.funder(db, SITE, date(2026, 11, 1), date(2026, 11, 30))
    rows = {r["account"]: r for r in report["rows"]}
    assert rows["prj-1"]["period"] == {"gpu_hours": 1.0, "cpu_hours": 6.0}
    assert rows["prj-1"]["charge"] is None and rows["prj-2"]["charge"] == "0.00"
    assert report["totals"]["gpu_hours"] == 1.0
    csv_text = billing.billing_csv(report)
    assert csv_text.splitlines()[0].startswith("account,title,pi")
    modes = {r["key"]: r for r in funder["by_access_mode"]}
    assert modes["fast_lane"]["granted"]["gpu_hours"] == 101.5
    assert modes["fast_lane"]["used"] == {"gpu_hours": 1.0, "cpu_hours": 6.0}

    # spawn_quotas does this on the hub's own store
    with store() as db:
        as_of, _ = usage.figures_as_of(db, 60)
        project = db.scalars(select(m.Project).where(m.Project.account == "prj-1")).one()
        ledger = usage.ledger(project)
        quota = usage.quota_of(ledger, usage.load_jobs(db, ["prj-1"])["prj-1"], as_of)
    one_gpu_hour = SessionRequest("prj-1", "gpu", 1, 2, 1, 60)
    with pytest.raises(OptionError) as refused:
        check_allocation(one_gpu_hour, {"prj-1": quota})
    assert refused.value.field == "walltime_hours" and "0.5 GPU-hours left" in str(refused.value)
    check_allocation(SessionRequest("prj-1", "gpu", 1, 2, 1, 30), {"prj-1": quota})
