"""Security on the real stack, around one real session of alice's (a Slurm job on ai-alpha):
where the hub's token for it can be read, what another researcher gets from the factory
service, from the session's own port and from a Dask cluster alice starts in it. "Another
researcher" is bob (or carol) as a POSIX process of their own on the same node."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from sqlalchemy import select
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from aifactory_hub.store import models as m
from tests.access import api, draft, ok, store_of
from tests.helpdesk import session
from tests.session_kernel import SessionKernel
from tests.stack import hub_log, server_token, sh, submit, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
QUEUE_WAIT_S = 600
SLURM_LOGS = Path("/var/log/aifactory/slurm")
CTLD_STATE = Path("/var/lib/aifactory/slurm/ctld")


@pytest.fixture(scope="module")
def alice(hub) -> Iterator[dict]:
    """alice's running session: its job id, environment, token and the server's own address
    (its node's, host:port)."""
    with session(hub, "alice", project="ai-alpha", partition="cpu", memory_gb=2,
                 walltime_hours=1) as (job, env):  # fmt: skip
        yield {"job": job, "env": env, "token": server_token(job),
               "address": server_address(job)}  # fmt: skip


def job_pids(job: str) -> list[int]:
    """Processes of Slurm job `job` (as root, from /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"SLURM_JOB_ID={job}\0".encode() in environ:
            pids.append(int(proc.name))
    return pids


def server_address(job: str) -> str:
    """host:port the session's Jupyter server listens on (ss, matched by pid): its node's
    address, which bob can find as easily."""
    pids = set(job_pids(job))
    for line in sh("ss", "-H", "-ltnp").splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            return line.split()[3]
    raise AssertionError(f"no listening port of job {job}")


def as_user(user: str, code: str, stdin: str = "", timeout: float = 120) -> str:
    """Run Python `code` as POSIX `user` (no shell); its stdout."""
    who = pwd.getpwnam(user)
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/tmp",
        env={"PATH": "/usr/bin:/bin", "HOME": who.pw_dir, "USER": user, "LANG": "C.UTF-8"},
        user=who.pw_uid,
        group=who.pw_gid,
        extra_groups=os.getgrouplist(user, who.pw_gid),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def denied(user: str, path: Path) -> dict[str, str]:
    """What `user` gets trying to list `path`'s folder and read `path` (no shell: os calls)."""
    code = f"""
import json, os
out = {{}}
for what, call in (("list", lambda: os.listdir({str(path.parent)!r})),
                   ("read", lambda: open({str(path)!r}, "rb").read(1))):
    try:
        call()
        out[what] = "allowed"
    except OSError as exc:
        out[what] = exc.strerror
print(json.dumps(out))
"""
    return json.loads(as_user(user, code))


# --- 0. files: a home is its owner's only ----------------------------------------------------


@pytest.mark.hardening(
    "attack",
    "bob (another start-up's researcher) and the console's service account list alice's home "
    "and session-log folder and read her notebook and session log",
    "Permission denied for each (homes are 0700); alice herself reads them",
)
def test_a_home_and_its_session_logs_are_private_to_their_owner(hub, alice):
    home = Path(pwd.getpwnam("alice").pw_dir)
    notebook = home / "aif-private-test.ipynb"
    as_user("alice", f"open({str(notebook)!r}, 'w').write('{{}}')")
    log = home / ".jupyter-sessions" / f"{alice['job']}.log"
    assert log.is_file() and stat.S_IMODE(home.stat().st_mode) == 0o700
    try:
        for intruder in ("bob", hub.site.services.console_user):
            for path in (notebook, log):
                assert denied(intruder, path) == {
                    "list": "Permission denied", "read": "Permission denied"
                }, (intruder, path)  # fmt: skip
        assert denied("alice", notebook) == {"list": "allowed", "read": "allowed"}
        assert denied("alice", log) == {"list": "allowed", "read": "allowed"}
    finally:
        notebook.unlink(missing_ok=True)


# --- 1. the hub token of a session ----------------------------------------------------------


@pytest.mark.hardening(
    "attack",
    "looking for a session's hub token in sacct --json (SubmitLine, Comment, script/env), "
    "the Slurm daemons' logs, every process's command line, and the controller's saved job",
    "nowhere; the saved job environment is readable by slurm only, bob cannot read the "
    "server's environment",
)
def test_the_session_token_is_nowhere_another_user_can_read_it(hub, alice):
    """Complements test_sessions (batch script, scontrol show job -dd, sacct -o ALL, hub log,
    output file) with the places that test does not look at."""
    token, job = alice["token"], alice["job"]
    assert len(token) >= 32
    accounting = sh("sacct", "--json", "-j", job)
    record = next(j for j in json.loads(accounting)["jobs"] if str(j["job_id"]) == job)
    assert record["user"] == "alice"  # the right record: what is stored of it has no token
    assert token not in accounting
    fields = sh("sacct", "-n", "-P", "-X", "-j", job, "-o", "SubmitLine,Comment,WorkDir")
    assert token not in fields
    assert token not in sh("scontrol", "show", "job", "-dd", job)
    assert token not in hub_log(hub)
    for log in SLURM_LOGS.glob("*.log"):
        assert token not in log.read_text(errors="replace"), log
    # every user can list every process's command line: the token is never on one
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        assert token.encode() not in cmdline, proc
    # sbatch --export saves the job's environment in the controller's state: slurm's only
    saved = [p for p in CTLD_STATE.glob(f"hash.*/job.{job}/environment") if p.is_file()]
    for path in [*saved, *(p.parent for p in saved), CTLD_STATE]:
        st = path.stat()
        assert st.st_uid == pwd.getpwnam("slurm").pw_uid and st.st_mode & 0o077 == 0, path
    # and bob cannot read the server's environment, nor the job's output folder
    probe = """
import json, sys
paths = json.loads(sys.stdin.read())
out = {}
for p in paths:
    try:
        open(p, "rb").read(1)
        out[p] = "read"
    except OSError as exc:
        out[p] = type(exc).__name__
print(json.dumps(out))
"""
    targets = [f"/proc/{pid}/environ" for pid in job_pids(job)]
    targets.append(f"/home/alice/.jupyter-sessions/{job}.log")
    seen = json.loads(as_user("bob", probe, json.dumps(targets)))
    assert seen and all(result == "PermissionError" for result in seen.values()), seen


# --- 2. the factory service, one researcher against another ---------------------------------


@pytest.fixture(scope="module")
def carols(hub, hub_site) -> Iterator[dict]:
    """What of carol's alice asks for: a ticket, a draft proposal, a held job in ai-beta (so
    the staff's cluster view has a job of hers) and a project of her own in the store (ai-beta
    comes from the site file, which the project API does not serve: asking for it is a 404 to
    anyone, carol too). The project is in the store only, never in Slurm (no step here
    provisions it); it is ended in the store afterwards."""
    ticket = ok(api(hub, "POST", "tickets", "carol", json={
        "topic": "jobs", "subject": f"carol's private question {uuid.uuid4().hex[:6]}",
        "body": "Only carol and staff may read this."}), 201)  # fmt: skip
    call = ok(api(hub, "POST", "calls", "sam", json={
        "mode": "fast_lane", "title": f"Isolation {uuid.uuid4().hex[:6]}",
        "capacity": {"gpu": {"gpu_hours": 100, "cpu_hours": 100}}}), 201)  # fmt: skip
    body = draft(call["id"], "Carol's secret plan", "Beta Health", 10)
    proposal = ok(api(hub, "POST", "proposals", "carol", json=body), 201)
    store = store_of(hub_site[0])
    account = f"t-sec-{uuid.uuid4().hex[:6]}"
    today = date.today()
    with store.begin() as db:
        project = m.Project(
            account=account, title="Carol's private project", organisation="Beta Health",
            pi="carol", access_mode="fast_lane", starts_on=today,
            ends_on=today + timedelta(days=30), status="active",
        )  # fmt: skip
        project.allocations = [m.Allocation(partition="cpu", gpu_hours=0, cpu_hours=1)]
        project.members = [m.Member(username="carol", role="pi", added_by="tests")]
        db.add(project)
    job = str(submit("carol", "--account=ai-beta", "--partition=cpu", "--time=1", "--hold",
                     "--output=/dev/null", "--chdir=/tmp", "--job-name=aif-carols-held",
                     "--wrap=true"))  # fmt: skip
    try:
        yield {"ticket": ticket["id"], "proposal": proposal["id"], "project": account,
               "subject": ticket["subject"], "job": job}  # fmt: skip
    finally:
        sh("scancel", job)
        with store.begin() as db:
            ended = db.scalars(select(m.Project).where(m.Project.account == account)).one()
            ended.status, ended.ended_at = "ended", datetime.now(UTC)


YEAR = f"from={date.today().year}-01-01&to={date.today().year}-12-31"
FOREIGN = {
    "usage-of-ai-beta": ("GET", "usage/projects/ai-beta", None),
    "usage-of-carols-project": ("GET", "usage/projects/{project}", None),
    "usage-of-everyone": ("GET", "usage?all=1", None),
    "billing": ("GET", f"usage/billing?{YEAR}", None),
    "billing-csv": ("GET", f"usage/billing.csv?{YEAR}", None),
    "funder-report": ("GET", f"usage/funder?{YEAR}", None),
    "carols-project": ("GET", "projects/{project}", None),
    "add-self-to-carols-project": ("POST", "projects/{project}/members", {"username": "alice"}),
    "remove-carol-from-her-project": ("DELETE", "projects/{project}/members/carol", None),
    "end-carols-project": ("POST", "projects/{project}/end", None),
    "carols-ticket": ("GET", "tickets/{ticket}", None),
    "reply-to-carols-ticket": ("POST", "tickets/{ticket}/messages", {"body": "hijack"}),
    "close-carols-ticket": ("POST", "tickets/{ticket}/close", None),
    "carols-proposal": ("GET", "proposals/{proposal}", None),
    "edit-carols-proposal": ("PUT", "proposals/{proposal}", {"title": "mine now"}),
    "submit-carols-proposal": ("POST", "proposals/{proposal}/submit", None),
    "withdraw-carols-proposal": ("POST", "proposals/{proposal}/withdraw", None),
    "cluster-sessions": ("GET", "cluster", None),
}


def staff_sees(hub, path: str) -> requests.Response:
    """sam's (support staff's) answer to `path`, which must be a 200."""
    resp = api(hub, "GET", path, "sam")
    assert resp.status_code == 200, (resp.status_code, resp.text[:500])
    return resp


def carols_project(hub, carols) -> dict:
    """carol's project as carol herself sees it."""
    return ok(api(hub, "GET", f"projects/{carols['project']}", "carol"))


def carol_sees_usage_of(account: str) -> Callable[..., bool]:
    def seen(hub, carols) -> bool:
        account_ = account.format(**carols)
        answer = ok(api(hub, "GET", f"usage/projects/{account_}", "carol"))
        return answer["project"]["account"] == account_

    return seen


def staff_sees_carols_usage(hub, carols) -> bool:
    accounts = {p["account"] for p in staff_sees(hub, "usage?all=1").json()["projects"]}
    return {"ai-beta", carols["project"]} <= accounts


def staff_bills_carols_project(hub, carols) -> bool:
    rows = staff_sees(hub, f"usage/billing?{YEAR}").json()["rows"]
    return any(r["account"] == carols["project"] and r["pi"] == "carol" for r in rows)


def staff_bills_carols_project_in_csv(hub, carols) -> bool:
    return f"\r\n{carols['project']}," in staff_sees(hub, f"usage/billing.csv?{YEAR}").text


def funder_counts_carols_project(hub, carols) -> bool:
    mode = carols_project(hub, carols)["access_mode"]
    report = staff_sees(hub, f"usage/funder?{YEAR}").json()
    return any(r["key"] == mode and r["projects"] >= 1 for r in report["by_access_mode"])


def carol_leads_her_project(hub, carols) -> bool:
    return carols_project(hub, carols)["pi"] == "carol"


def carol_a_member_alice_not(hub, carols) -> bool:
    project = carols_project(hub, carols)
    members = {mb["username"] for mb in project["members"]}
    return project["status"] == "active" and "carol" in members and "alice" not in members


def carols_ticket_is_open(hub, carols) -> bool:
    ticket = ok(api(hub, "GET", f"tickets/{carols['ticket']}", "carol"))
    return ticket["subject"] == carols["subject"] and ticket["status"] == "open"


def carols_draft_is_hers(hub, carols) -> bool:
    proposal = ok(api(hub, "GET", f"proposals/{carols['proposal']}", "carol"))
    return proposal["title"] == "Carol's secret plan" and proposal["status"] == "draft"


def cluster_lists_carols_job(hub, carols) -> bool:
    """The staff's cluster view (a snapshot every few seconds) lists carol's held job."""
    queue = staff_sees(hub, "cluster").json()["queue"]
    return any(j["id"] == carols["job"] and j["user"] == "carol" for j in queue)


# The control of each case, asked before alice's request: carol herself or staff does see
# what alice is refused, so the refusal hid something that is there.
SEEN = {
    "usage-of-ai-beta": carol_sees_usage_of("ai-beta"),
    "usage-of-carols-project": carol_sees_usage_of("{project}"),
    "usage-of-everyone": staff_sees_carols_usage,
    "billing": staff_bills_carols_project,
    "billing-csv": staff_bills_carols_project_in_csv,
    "funder-report": funder_counts_carols_project,
    "carols-project": carol_leads_her_project,
    "add-self-to-carols-project": carol_a_member_alice_not,
    "remove-carol-from-her-project": carol_a_member_alice_not,
    "end-carols-project": carol_a_member_alice_not,
    "carols-ticket": carols_ticket_is_open,
    "reply-to-carols-ticket": carols_ticket_is_open,
    "close-carols-ticket": carols_ticket_is_open,
    "carols-proposal": carols_draft_is_hers,
    "edit-carols-proposal": carols_draft_is_hers,
    "submit-carols-proposal": carols_draft_is_hers,
    "withdraw-carols-proposal": carols_draft_is_hers,
    "cluster-sessions": cluster_lists_carols_job,
}


@pytest.mark.hardening(
    "attack",
    "researcher alice's token asks the factory service for carol's project, usage, tickets, "
    "proposals or the staff reports, or changes them",
    "403 or 404; nothing of carol's in the answer, nothing changed; carol or staff does see it",
)
@pytest.mark.parametrize("case", list(FOREIGN))
def test_alices_token_gets_nothing_of_carols(hub, carols, case):
    method, path, body = FOREIGN[case]
    # the control: what alice asks for is there (carol or staff sees it)
    wait_for(lambda: SEEN[case](hub, carols), 60, f"carol's or staff's view for {case}")
    resp = api(hub, method, path.format(**carols), "alice", json=body)
    assert resp.status_code in (403, 404), (resp.status_code, resp.text[:500])
    for secret in ("Carol's secret plan", carols["subject"], "Only carol and staff"):
        assert secret not in resp.text
    # carol's things are as they were
    assert ok(api(hub, "GET", f"proposals/{carols['proposal']}", "carol"))["status"] == "draft"
    ticket = ok(api(hub, "GET", f"tickets/{carols['ticket']}", "carol"))
    assert ticket["status"] == "open" and len(ticket["messages"]) == 1
    assert carol_a_member_alice_not(hub, carols)


@pytest.mark.hardening(
    "attack",
    "researcher alice lists projects, usage, tickets, proposals and partitions",
    "only her own: no project, ticket or proposal of carol's, which carol's own lists show",
)
def test_alices_lists_are_filtered_to_her_own(hub, carols):
    def lists(user: str) -> dict:
        return {
            "projects": {p["account"] for p in ok(api(hub, "GET", "projects", user))},
            "usage": {p["account"] for p in ok(api(hub, "GET", "usage", user))["projects"]},
            "partitions": json.dumps(ok(api(hub, "GET", "site/partitions", user))),
            "tickets": ok(api(hub, "GET", "tickets", user)),
            "proposals": ok(api(hub, "GET", "proposals", user)),
        }

    # the control: carol's own lists show what alice's must not
    hers = lists("carol")
    assert carols["project"] in hers["projects"]
    assert {"ai-beta", carols["project"]} <= hers["usage"]
    assert "ai-beta" in hers["partitions"] and carols["project"] in hers["partitions"]
    assert carols["ticket"] in {t["id"] for t in hers["tickets"]}
    assert carols["proposal"] in {p["id"] for p in hers["proposals"]}
    mine = lists("alice")
    assert "ai-alpha" in mine["usage"]  # and her own project is in hers
    for account in ("ai-beta", carols["project"]):
        assert account not in mine["projects"] | mine["usage"]
        assert account not in mine["partitions"]
    assert carols["ticket"] not in {t["id"] for t in mine["tickets"]}
    assert all(t["user"] == "alice" for t in mine["tickets"])
    assert carols["proposal"] not in {p["id"] for p in mine["proposals"]}
    assert all(p["applicant"] == "alice" for p in mine["proposals"])


# --- 4. another local user straight at the session's port and its Dask cluster --------------

HTTP_PROBE = """
import json, sys, requests
out = []
for url, headers in json.loads(sys.stdin.read()):
    try:
        r = requests.get(url, headers=headers, allow_redirects=False, timeout=30)
        out.append([r.status_code, r.headers.get("Location", ""), r.text[:3000]])
    except requests.RequestException as exc:
        out.append([0, "", type(exc).__name__])
print(json.dumps(out))
"""
SERVER_PATHS = ["api/contents", "api/kernels", "api/sessions", "api/terminals", "lab", "tree",
                "files/.bashrc", "api/contents/.bashrc?content=1"]  # fmt: skip


def probe_as(user: str, requests_: list) -> list:
    return json.loads(as_user(user, HTTP_PROBE, json.dumps(requests_)))


@pytest.mark.hardening(
    "attack",
    "bob connects straight to alice's session port (no hub proxy) with no token, his own "
    "token, or his token as ?token=, for contents, kernels, terminals, /lab and files",
    "403 or a redirect to the hub's login; never content",
)
def test_bob_at_alices_session_port_gets_nothing(hub, alice):
    base = f"http://{alice['address']}/user/alice/"
    assert alice["address"].startswith("127.0.1."), alice["address"]  # its node's address
    bob = hub.token("bob")
    # the control: alice's own token at the same port gets her contents
    own = requests.get(base + "api/contents", headers={"Authorization": f"token "
                       f"{hub.token('alice')}"}, timeout=30)  # fmt: skip
    assert own.status_code == 200 and '"content"' in own.text
    tries = []
    for path in SERVER_PATHS:
        tries += [
            [base + path, {}],
            [base + path, {"Authorization": f"token {bob}"}],
            [base + path + ("&" if "?" in path else "?") + f"token={bob}", {}],
        ]
    for (url, _), (status, location, body) in zip(tries, probe_as("bob", tries), strict=True):
        assert status in (302, 403, 404, 405), (url, status, body[:300])
        if status == 302:
            assert "/hub/" in location and "/user/alice/" not in location.split("?")[0], location
        assert '"content"' not in body and '"kernels"' not in body and "JupyterLab" not in body
        assert "\\nexport" not in body and '"id"' not in body


START_CLUSTER = """
from aifactory_widgets import DaskLauncher
launcher = DaskLauncher()
launcher.minimum.value, launcher.maximum.value = 1, 1
launcher.placement.walltime.value = 15
launcher.start_button.click()
client = launcher.client
client.wait_for_workers(1, timeout={wait})
"""
DASK_PROBE = """
import json, sys, uuid
from distributed import Client
address, marker = json.loads(sys.stdin.read())
host = address.split("://", 1)[1]
out = {}
for scheme in ("tcp", "tls"):
    try:
        c = Client(f"{scheme}://{host}", timeout=10)
    except Exception as exc:
        out[scheme] = type(exc).__name__
        continue
    try:
        c.submit(lambda: open(marker, "w").write("ran as " + __import__("getpass").getuser())
                 ).result(timeout=20)
        out[scheme] = "connected and ran"
    except Exception as exc:
        out[scheme] = "connected: " + type(exc).__name__
    finally:
        c.close()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def dask_cluster(hub, alice) -> Iterator[dict]:
    kernel = SessionKernel(hub.url, "alice", hub.token("alice"))
    try:
        kernel.execute(START_CLUSTER.replace("{wait}", str(QUEUE_WAIT_S)),
                       timeout=QUEUE_WAIT_S + 60)  # fmt: skip
        yield {
            "kernel": kernel,
            "address": kernel.value("launcher.cluster.scheduler_address"),
            "dashboard": kernel.value("launcher.dashboard_url"),
            "dashboard_port": kernel.value(
                "launcher.cluster.scheduler_info['services']['dashboard']"
            ),
            "name": kernel.value("launcher.cluster.job_name"),
            "jobs": kernel.value("[str(j.job_id) for j in launcher.cluster.workers.values()]"),
        }
        kernel.execute("launcher.stop()")
    finally:
        kernel.shutdown()


@pytest.mark.hardening(
    "attack",
    "bob connects a dask Client (tcp:// and tls:// without the credentials) to the scheduler "
    "of alice's Dask cluster and submits a task",
    "the handshake fails; no task runs as alice; alice's own client and worker still work",
)
def test_bob_cannot_use_alices_dask_scheduler(hub, dask_cluster):
    kernel, address = dask_cluster["kernel"], dask_cluster["address"]
    assert address.startswith("tls://127.0.0.1:"), address
    # the control: alice's client computes on her worker over the same address
    assert kernel.value("float(client.submit(sum, [1, 2, 3]).result(timeout=60))") == 6.0
    marker = f"/tmp/aif-dask-probe-{uuid.uuid4().hex}"
    seen = json.loads(as_user("bob", DASK_PROBE, json.dumps([address, marker]), timeout=180))
    assert set(seen) == {"tcp", "tls"}
    assert not any(result.startswith("connected") for result in seen.values()), seen
    assert not Path(marker).exists()
    assert kernel.value("len(client.scheduler_info()['workers'])") == 1


@pytest.mark.hardening(
    "attack",
    "bob reads the TLS key material of alice's Dask cluster (files, worker job script, "
    "command lines)",
    "keys only in 0600 files of alice's 0700 folder; the job script and command lines carry "
    "paths, never a key",
)
def test_the_clusters_keys_are_alices_only(dask_cluster):
    home = Path("/home/alice/.aifactory-jobs/dask")
    keys = list(home.glob(".dask-jobqueue.worker.*"))
    assert keys, "dask-jobqueue wrote no worker credentials"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for key in keys:
        st = key.stat()
        assert st.st_uid == pwd.getpwnam("alice").pw_uid and st.st_mode & 0o077 == 0, key
    (job,) = dask_cluster["jobs"]
    script = sh("scontrol", "write", "batch_script", job, "-")
    assert "--tls-key" in script and "PRIVATE KEY" not in script
    for proc in Path("/proc").iterdir():
        try:
            assert b"PRIVATE KEY" not in (proc / "cmdline").read_bytes(), proc
        except OSError:
            continue
    probe = "import sys, json\nfor p in json.loads(sys.stdin.read()):\n try:\n  open(p).read()\n"
    probe += "  print('read', p)\n except OSError:\n  pass\n"
    assert as_user("bob", probe, json.dumps([str(k) for k in keys])) == ""


@pytest.mark.hardening(
    "attack",
    "bob opens the dashboard of alice's Dask cluster through the proxy path of her server",
    "403 (or the hub's login), never the dashboard; alice's token gets it",
)
def test_bob_cannot_open_alices_dask_dashboard_through_the_hub(hub, dask_cluster):
    link = dask_cluster["dashboard"]
    assert link.startswith("/user/alice/proxy/")
    url = hub.url + link
    mine = requests.get(url, headers={"Authorization": f"token {hub.token('alice')}"},
                        timeout=60)  # fmt: skip
    assert mine.status_code == 200 and "Dask" in mine.text
    for headers in ({}, {"Authorization": f"token {hub.token('bob')}"}):
        resp = requests.get(url, headers=headers, allow_redirects=False, timeout=60)
        assert resp.status_code in (302, 403), resp.status_code
        assert "Dask" not in resp.text and "bokeh" not in resp.text.lower()


def dashboard_guesses(port: int, link: str) -> list[str]:
    """What bob can know or guess about alice's dashboard: its port (ss shows it), her name, the
    proxy's path and Dask's own routes; never the secret in her link."""
    real = link.rsplit("/dask-", 1)[0]  # /user/alice/proxy/absolute/PORT
    paths = ["/", "/status", "/json/identity.json", "/sitemap.json", "/statics/css/base.css",
             "/static/js/bokeh.min.js", "/info/main/workers.html", "/info/main/logs.html",
             "/metrics", "/health", "/status/ws", "/individual-task-stream", "/workers",
             "/user/alice/", f"/user/alice/proxy/{port}/status", real, real + "/",
             real + "/status", real + "/json/identity.json", real + "/dask-/status",
             link.rsplit("/", 1)[0], link[:-12] + "/status"]  # fmt: skip
    return [f"http://127.0.0.1:{port}{path}" for path in paths]


@pytest.mark.hardening(
    "attack",
    "bob connects straight to the dashboard port of alice's Dask cluster (no hub) and asks for "
    "/, /status, /json/identity.json, /sitemap.json, statics, info pages, /metrics, /health, "
    "the proxy's paths under her name and near misses of her secret prefix",
    "404 for each: no redirect, no route list, no sign of Dask, the secret in no answer; "
    "alice's link through the hub still opens the dashboard, its scripts and its websocket",
)
def test_bob_at_alices_dask_dashboard_port_gets_404(hub, dask_cluster):
    link, port = dask_cluster["dashboard"], dask_cluster["dashboard_port"]
    secret = link.rsplit("/dask-", 1)[1].split("/")[0]
    assert link == f"/user/alice/proxy/absolute/{port}/dask-{secret}/status" and len(secret) >= 32
    urls = dashboard_guesses(port, link)
    answers = probe_as("bob", [[url, {}] for url in urls])
    assert answers[0][0] != 0, answers[0]  # bob does reach the port: the guard is what stops him
    for url, (status, location, body) in zip(urls, answers, strict=True):
        assert status == 404, (url, status, location, body[:300])
        assert not location and secret not in body, url
        assert "Dask" not in body and "bokeh" not in body.lower(), url
    # the control: alice, through the hub, gets the page, what it loads and its websocket
    alice = {"Authorization": f"token {hub.token('alice')}"}
    page = requests.get(hub.url + link, headers=alice, timeout=60)
    assert page.status_code == 200 and "Dask" in page.text
    assets = re.findall(r'(?:src|href)="((?:/|static)[^"]*)"', page.text)
    assert any("bokeh.min.js" in a for a in assets), assets
    for asset in assets:
        path = urljoin(link, asset)
        assert path.startswith(link.rsplit("/", 1)[0] + "/"), asset
        assert requests.get(hub.url + path, headers=alice, timeout=60).status_code == 200, path
    token = re.search(r'"token":"([^"]+)"', page.text).group(1)
    assert asyncio.run(bokeh_ack(hub.url.replace("http", "ws", 1) + link + "/ws", alice, token))


async def bokeh_ack(url: str, headers: dict, token: str) -> str:
    """bokeh's first websocket message, as its page's script would get it."""
    ws = await websocket_connect(HTTPRequest(url, headers=headers), subprotocols=["bokeh", token])
    try:
        return await asyncio.wait_for(ws.read_message(), 30)
    finally:
        ws.close()


def test_the_cluster_left_no_job(hub, dask_cluster):
    """Runs last in this module: the cluster stops with the fixture; nothing lingers."""
    name = dask_cluster["name"]
    dask_cluster["kernel"].execute("launcher.stop()")
    wait_for(lambda: not sh("squeue", "-h", "-n", name, "-o", "%i").split(), 60, name)
