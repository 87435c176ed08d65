"""Workshops on the real stack: one request makes the reservation, the project and the
temporary accounts; a participant's session lands in the reservation with the materials;
a raised hand shows in the room; ending leaves nothing running; a workshop that fills the rest
of the partition's cores (5 beside the small one's 3, of the demo's 2 x 4) all starts."""

from __future__ import annotations

import asyncio
import grp
import pwd
import stat
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest
import requests

from tests.access import api, ok
from tests.session_kernel import SessionKernel
from tests.stack import HubClient, session_env, session_jobs, sh, wait_finished, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
MATERIALS = Path(__file__).resolve().parents[2] / "notebooks" / "workshop-intro"
# The workshop names an environment other than the default (apply_site builds it), so the
# participant's session loading it shows the workshop's choice reached the job.
ENVIRONMENT = "jax"


def workshop(hub, participants: int, **change) -> dict:
    start = datetime.now(UTC).replace(microsecond=0)
    body = {"title": "Intro to the AI factory", "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(), "participants": participants,
            "partition": "cpu", "cpus": 1, "memory_gb": 1, "materials": "workshop-intro",
            **change}  # fmt: skip
    return ok(api(hub, "POST", "workshops", "tess", json=body), 201)


def reservation(name: str) -> str:
    return sh("scontrol", "show", "reservation", name)


def end(hub, ws: dict) -> dict:
    return ok(api(hub, "POST", f"workshops/{ws['id']}/end", "tess"))


@pytest.fixture(scope="module")
def small(hub):
    made = workshop(hub, 3, environment=ENVIRONMENT)
    participants = HubClient(hub.site, {c["username"]: c["password"] for c in made["credentials"]})
    yield made["workshop"], participants
    if ok(api(hub, "GET", f"workshops/{made['workshop']['id']}", "tess"))["status"] != "ended":
        end(hub, made["workshop"])


def test_only_trainers_make_workshops_and_bad_forms_change_nothing(hub):
    before = sh("scontrol", "show", "reservation")
    assert api(hub, "POST", "workshops", "alice", json={}).status_code == 403
    refused = api(hub, "POST", "workshops", "tess", json={"title": "x"})
    assert refused.status_code == 400 and refused.json()["field"]
    start = datetime.now(UTC)
    too_big = {"title": "Huge", "starts_at": start.isoformat(),
               "ends_at": (start + timedelta(hours=1)).isoformat(), "participants": 200,
               "partition": "cpu"}  # fmt: skip
    assert api(hub, "POST", "workshops", "tess", json=too_big).json()["field"] == "participants"
    unknown = {**too_big, "participants": 1, "environment": "tensorflow"}
    refused = api(hub, "POST", "workshops", "tess", json=unknown)
    assert refused.status_code == 400 and refused.json()["field"] == "environment"
    assert sh("scontrol", "show", "reservation") == before


def test_one_form_makes_reservation_project_and_accounts(hub, small):
    ws, participants = small
    assert len(participants.passwords) == 3 and ws["status"] == "active"
    assert ws["environment"] == ENVIRONMENT
    shown = reservation(ws["reservation"])
    assert f"Accounts={ws['account']}" in shown and "CoreCnt=3" in shown
    assert "PartitionName=cpu" in shown
    assocs = sh("sacctmgr", "-n", "-P", "show", "assoc", f"account={ws['account']}",
                "format=User,Partition")  # fmt: skip
    for user in participants.passwords:
        assert f"{user}|cpu" in assocs
        expiry = sh("chage", "-l", user)
        assert "Account expires" in expiry and "never" not in expiry.split("Account expires")[1]
    # The workshop's project folder: the trainer (its PI) and the participants share it.
    assert set(grp.getgrnam(ws["account"]).gr_mem) == {"tess", *participants.passwords}
    shared = Path(hub.site.storage.project_root) / ws["account"]
    assert stat.S_IMODE(shared.stat().st_mode) == 0o2770


@pytest.mark.hardening(
    "attack",
    "a workshop participant lists and reads a researcher's home and another participant's",
    "Permission denied: every home the factory makes is 0700",
)
def test_a_participant_cannot_read_another_home(hub, small):
    _, participants = small
    me, other = sorted(participants.passwords)[:2]
    for user in (me, other):
        assert stat.S_IMODE(Path(pwd.getpwnam(user).pw_dir).stat().st_mode) == 0o700
    for home in (pwd.getpwnam("carol").pw_dir, pwd.getpwnam(other).pw_dir):
        probe = subprocess.run(["sudo", "-n", "-u", me, "--", "/bin/ls", home],
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert probe.returncode != 0 and "Permission denied" in probe.stderr, home


def test_a_participant_starts_in_the_reservation_with_materials_kept(hub, small):
    ws, participants = small
    user = sorted(participants.passwords)[0]
    form = participants.login(user).get(f"{hub.url}/hub/spawn/{user}", timeout=60).text
    assert "Your workshop session" in form and "aif-project" not in form  # nothing to pick
    assert participants.api("POST", f"/users/{user}/server", user, json={}).status_code in (
        201,
        202,
    )
    server = participants.wait_ready(user)
    assert server["user_options"]["environment"] == ENVIRONMENT  # the workshop's, not chosen
    (job,) = session_jobs(user)
    assert job["account"] == ws["account"]
    assert session_env(job["id"])["AIFACTORY_ENVIRONMENT"] == ENVIRONMENT
    assert f"Reservation={ws['reservation']}" in sh("scontrol", "show", "job", job["id"])
    welcome = Path(f"/home/{user}/workshop-intro/01-welcome.ipynb")
    assert welcome.is_file()
    welcome.write_text("my own edits")
    participants.stop(user)
    wait_no_jobs(user)
    participants.api("POST", f"/users/{user}/server", user, json={})
    participants.wait_ready(user)
    assert welcome.read_text() == "my own edits"


def test_a_raised_hand_shows_in_the_room(hub, small):
    ws, participants = small
    user = sorted(participants.passwords)[1]
    token = participants.token(user)
    headers = {"Authorization": f"token {token}"}
    base = f"{hub.url}/services/factory/api/workshops"
    mine = requests.get(f"{base}/mine", headers=headers, timeout=30).json()
    assert mine["id"] == ws["id"] and mine["hand_raised"] is False
    assert requests.post(f"{base}/mine/hand", headers=headers, timeout=30).status_code == 200
    room = {r["username"]: r for r in ok(api(hub, "GET", f"workshops/{ws['id']}", "tess"))["room"]}
    assert room[user]["hand_raised_at"] and room[user]["state"] == "logged_in"
    assert room[sorted(participants.passwords)[2]]["state"] == "not_logged_in"
    # a researcher has no business in a room
    assert api(hub, "GET", f"workshops/{ws['id']}", "alice").status_code == 403
    lowered = ok(api(hub, "DELETE", f"workshops/{ws['id']}/hands/{user}", "tess"))
    assert all(r["hand_raised_at"] is None for r in lowered["room"])


def test_the_trainer_restarts_a_participants_session(hub, small):
    ws, participants = small
    user = sorted(participants.passwords)[0]
    (before,) = session_jobs(user)
    resp = api(hub, "POST", f"workshops/{ws['id']}/participants/{user}/restart", "tess")
    assert resp.status_code == 202
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        jobs = [j for j in session_jobs(user) if j["state"] == "RUNNING"]
        if jobs and jobs[0]["id"] != before["id"]:
            break
        time.sleep(2)
    assert jobs and jobs[0]["id"] != before["id"]
    assert api(hub, "POST", f"workshops/{ws['id']}/participants/alice/restart",
               "tess").status_code == 404  # fmt: skip


def test_the_workshop_notebooks_run_in_a_participants_session(hub, small):
    """The materials as a participant runs them: in their session, as them, in the workshop."""
    ws, participants = small
    user = sorted(participants.passwords)[0]
    if not participants.server(user):
        participants.api("POST", f"/users/{user}/server", user, json={})
    participants.wait_ready(user, timeout=300)
    names = ("01-welcome", "02-dask", "03-distributed-training")
    notebooks = [nbformat.read(MATERIALS / f"{name}.ipynb", as_version=4) for name in names]
    # The materials name the AI Factory tools kernel (they use the factory's widgets), so
    # they run in any workshop environment: here jax's, which has no widgets of its own.
    (kernel_name,) = {nb.metadata.kernelspec.name for nb in notebooks}
    assert kernel_name == "aifactory"
    kernel = SessionKernel(hub.url, user, participants.token(user), kernel=kernel_name)
    try:
        for nb in notebooks:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    kernel.execute(cell.source, timeout=900)  # raises on any error
        assert kernel.value("os.environ['SLURM_JOB_ACCOUNT']") == ws["account"]
        assert kernel.value("launcher.client is None")  # the Dask cluster was stopped
        job = kernel.value("training_job")
    finally:
        kernel.shutdown()
    assert wait_finished(job) == {job: "COMPLETED"}
    out = (Path(f"/home/{user}") / ".aifactory-jobs" / f"{job}.out").read_text()
    assert "rank 0 of 2: final loss" in out and "rank 1 of 2: final loss" in out


def test_ending_leaves_nothing_running(hub, small):
    ws, participants = small
    ended = end(hub, ws)
    assert ended["status"] == "ended" and ended["problems"] == []
    for user in participants.passwords:
        wait_no_jobs(user, timeout=60)
        assert sh("passwd", "-S", user).split()[1] == "L"
    assert "not found" in sh_quiet("scontrol", "show", "reservation", ws["reservation"])
    limits = sh("sacctmgr", "-n", "-P", "show", "assoc", f"account={ws['account']}",
                "format=User,GrpTRESMins")  # fmt: skip
    assert {line.split("|")[0] for line in limits.split()} <= {""}  # members removed
    assert grp.getgrnam(ws["account"]).gr_mem == []  # and out of the project's folders
    with pytest.raises(AssertionError, match=r"login of \S+ failed: 403"):  # PAM refuses
        participants.login(sorted(participants.passwords)[0])


def sh_quiet(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout + done.stderr


FILL = 5  # the cpu partition's 8 cores less the `small` workshop's 3, reserved meanwhile


def test_a_workshop_filling_the_partition_all_starts(hub):
    made = workshop(hub, FILL, memory_gb=1)
    ws = made["workshop"]
    people = HubClient(hub.site, {c["username"]: c["password"] for c in made["credentials"]})
    try:
        tokens = {user: people.token(user) for user in people.passwords}

        async def start_all() -> list[int]:
            def start(user: str) -> int:
                return requests.post(
                    f"{hub.url}/hub/api/users/{user}/server",
                    headers={"Authorization": f"token {tokens[user]}"},
                    json={},
                    timeout=120,
                ).status_code

            return await asyncio.gather(*(asyncio.to_thread(start, u) for u in tokens))

        assert set(asyncio.run(start_all())) <= {201, 202}
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            room = ok(api(hub, "GET", f"workshops/{ws['id']}", "tess"))["room"]
            if all(r["state"] == "running" for r in room):
                break
            time.sleep(5)
        assert [r["username"] for r in room if r["state"] != "running"] == []
        jobs = sh("squeue", "-h", f"--reservation={ws['reservation']}", "-o", "%T")
        assert jobs.split().count("RUNNING") == FILL
    finally:
        end(hub, ws)
    for user in people.passwords:
        wait_no_jobs(user, timeout=120)
