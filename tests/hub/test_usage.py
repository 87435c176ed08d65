"""Usage on the real stack: real Slurm jobs charged to a project, the factory service's
collector reads them from slurmdbd, and the figures match sacct's to the minute; staff get
the billing report, its CSV and the funder report; a project whose allocation is used up is
refused at spawn, with a message naming it, and nothing is submitted."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from aifactory_hub import slurm
from aifactory_hub.access import projects as prj
from aifactory_hub.store import db as store_db
from aifactory_hub.store import models as m
from tests.access import api, ok
from tests.slurm.test_localcluster import wait_for_job
from tests.stack import sh, submit, wait_final_in_sacct

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
NAME = "af-usage-test"  # our jobs' name: other suites look for jupyterhub-session jobs only


@pytest.fixture(scope="module")
def store(hub_site):
    site, _ = hub_site
    return store_db.session_factory(store_db.make_engine(site.services.store_url))


def sacct_use(*selection: str) -> dict[str, tuple[float, float]]:
    """{job id: (cpu_seconds, gpu_seconds)} as sacct says now (elapsed x allocated TRES)."""
    out = sh("sacct", "-n", "-P", "-X", *selection,
             "--format=JobID,ElapsedRaw,AllocTRES,State")  # fmt: skip
    use = {}
    for line in out.splitlines():
        job, elapsed, tres, state = line.split("|")
        if state.startswith("PENDING") or not elapsed:
            continue
        fields = dict(t.split("=", 1) for t in tres.split(",") if "=" in t)
        seconds = int(elapsed)
        use[job] = (seconds * int(fields.get("cpu", 0)), seconds * int(fields.get("gres/gpu", 0)))
    return use


def wait_running(job: int, timeout: float = 300) -> None:
    """Until the job runs (the shared cluster may be full for a while)."""
    deadline = time.monotonic() + timeout
    while sh("squeue", "-h", "-j", str(job), "-o", "%T").strip() != "RUNNING":
        assert time.monotonic() < deadline, f"job {job} did not start"
        time.sleep(0.5)


def collect(hub) -> dict:
    state = ok(api(hub, "POST", "usage/collect", "sam"))
    assert state["last_error"] == "" and not state["stale"], state
    return state


def pg_dave(hub) -> dict:
    answer = ok(api(hub, "GET", "usage", "dave"))
    return next(p for p in answer["projects"] if p["account"] == "pg-dave")


def test_real_jobs_are_counted_live_and_match_sacct_to_the_minute(hub, store):
    hub.login("dave")  # the first login gives dave his playground, pg-dave
    common = ["--account=pg-dave", f"--job-name={NAME}", "--output=/dev/null", "--time=2"]
    gpu_job = submit("dave", *common, "--partition=gpu", "--gres=gpu:1", "--cpus-per-task=2",
                     "--wrap=sleep 25")  # fmt: skip
    # the CPU job spans both cpu nodes: its figures are the allocation's, on every node
    cpu_job = submit("dave", *common, "--partition=cpu", "--nodes=2", "--ntasks-per-node=1",
                     "--cpus-per-task=3", "--wrap=srun sleep 15")  # fmt: skip
    try:
        wait_running(gpu_job)
        time.sleep(5)
        collect(hub)
        with store() as db:
            running = db.get(m.UsageJob, str(gpu_job))
            assert running is not None and not running.final and running.gpu_seconds >= 5
        assert pg_dave(hub)["used"]["gpu_hours"] > 0  # a running job counts before it ends
    finally:
        for job in (gpu_job, cpu_job):
            wait_for_job(job, timeout=300)
    for job in (gpu_job, cpu_job):
        wait_final_in_sacct(job)
    collect(hub)

    expected = sacct_use("-j", f"{gpu_job},{cpu_job}")
    with store() as db:
        rows = {r.job_id: r for r in db.scalars(select(m.UsageJob).where(
            m.UsageJob.job_id.in_([str(gpu_job), str(cpu_job)])))}  # fmt: skip
    for job in (gpu_job, cpu_job):
        row = rows[str(job)]
        assert row.final and row.account == "pg-dave" and row.user == "dave"
        assert (row.cpu_seconds, row.gpu_seconds) == expected[str(job)]
    assert rows[str(gpu_job)].gpu_seconds >= 20 and rows[str(cpu_job)].gpu_seconds == 0
    assert sh("sacct", "-n", "-X", "-j", str(cpu_job), "-o", "NodeList%40").split() == ["cpu[1-2]"]
    assert rows[str(cpu_job)].cpu_seconds >= 6 * 15  # 2 nodes x 3 CPUs for the sleep at least

    # The project's figures against every pg-dave job sacct knows since the allocation began
    # (other runs on this shared cluster charge pg-dave too): equal to the minute.
    project = pg_dave(hub)
    since = f"{project['starts_on']}T00:00:00"
    everything = sacct_use("-a", "-A", "pg-dave", "-S", since, "-E", "now")
    cpu_h = sum(c for c, _ in everything.values()) / 3600
    gpu_h = sum(g for _, g in everything.values()) / 3600
    assert abs(project["used"]["cpu_hours"] - cpu_h) <= 1 / 60
    assert abs(project["used"]["gpu_hours"] - gpu_h) <= 1 / 60
    assert project["granted"] == {"gpu_hours": 10.0, "cpu_hours": 100.0}
    assert project["remaining"]["gpu_hours"] == pytest.approx(10 - gpu_h, abs=1 / 60)
    gpu_row = next(p for p in project["partitions"] if p["partition"] == "gpu")
    assert gpu_row["used"]["gpu_hours"] == pytest.approx(gpu_h, abs=1 / 60)
    # dave is the PI: he sees who used what; the plot's last point is the total
    assert [mb["username"] for mb in project["members"]] == ["dave"]
    assert project["daily"][-1]["gpu_hours"] == pytest.approx(gpu_h, abs=1 / 60)
    assert project["burn_per_day"]["gpu_hours"] > 0
    assert project["level"] == "none"


def test_staff_billing_csv_and_funder_report(hub):
    today = datetime.now(UTC).date()
    query = f"from={today.replace(day=1)}&to={today}"
    assert api(hub, "GET", f"usage/billing?{query}", "dave").status_code == 403
    report = ok(api(hub, "GET", f"usage/billing?{query}", "sam"))
    rows = {r["account"]: r for r in report["rows"]}
    assert rows["pg-dave"]["access_mode"] == "playground" and rows["pg-dave"]["charge"] is None
    assert rows["ai-alpha"]["access_mode"] == "site" and rows["ai-alpha"]["level"] == "none"
    csv_resp = api(hub, "GET", f"usage/billing.csv?{query}", "sam")
    assert csv_resp.status_code == 200 and csv_resp.headers["Content-Type"].startswith("text/csv")
    assert csv_resp.text.startswith("account,title,pi,") and "\npg-dave," in csv_resp.text
    funder = ok(api(hub, "GET", f"usage/funder?{query}", "sam"))
    modes = {r["key"]: r for r in funder["by_access_mode"]}
    assert modes["playground"]["used"]["gpu_hours"] > 0
    bad = api(hub, "GET", "usage/billing?from=2026-13-01", "sam")
    assert bad.status_code == 400 and bad.json()["field"] == "from"
    assert api(hub, "GET", "usage", None).status_code == 401


@pytest.fixture
def tiny_project(hub, hub_site, store):
    """A throw-away project of carol's with 0.02 CPU-hours, provisioned in the real Slurm."""
    site, _ = hub_site
    account = f"t-usage-{secrets.token_hex(4)}"
    today = date.today()
    with store.begin() as db:
        project = m.Project(
            account=account, title="Tiny allocation", organisation="Beta Health", pi="carol",
            access_mode="fast_lane", starts_on=today, ends_on=today + timedelta(days=30),
        )  # fmt: skip
        project.allocations = [m.Allocation(partition="cpu", gpu_hours=0, cpu_hours=0.02)]
        project.members = [m.Member(username="carol", role="pi", added_by="tests")]
        db.add(project)
    done, error = prj.provision_project(store, site.site.cluster, account)
    assert done, error
    yield account
    for job in sh("squeue", "-h", "-A", account, "-o", "%i").split():
        sh("scancel", job)
    slurm.run(["sacctmgr", "-i", "delete", "account", f"name={account}"], check=False)


def test_a_used_up_project_is_refused_at_spawn(hub, tiny_project):
    account = tiny_project
    # 2 CPUs x 50 s = 100 CPU-seconds, more than the 72 granted (Slurm rounds its own
    # limit up to 2 CPU-minutes, so it lets this one job run).
    args = [f"--account={account}", "--partition=cpu", "--cpus-per-task=2", "--time=1"]
    job = submit("carol", *args, f"--job-name={NAME}", "--output=/dev/null", "--wrap=sleep 50")
    wait_for_job(job, timeout=300)
    wait_final_in_sacct(job)
    collect(hub)
    usage = ok(api(hub, "GET", f"usage/projects/{account}", "carol"))["project"]
    assert usage["level"] == "exhausted" and usage["remaining"]["cpu_hours"] < 0

    resp = hub.api("POST", "/users/carol/server", "carol", json={"project": account})
    assert resp.status_code == 400, resp.text
    message = resp.json()["message"]
    assert f"project {account} has used its CPU-hours" in message
    assert sh("squeue", "-h", "-A", account, "-o", "%i").strip() == ""  # nothing submitted
    s = hub.login("carol")
    form = s.get(f"{hub.url}/hub/spawn", timeout=60).text
    assert f"{account} - Tiny allocation (allocation used up)" in form
