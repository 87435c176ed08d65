"""Ask-an-expert on the real stack: a session of our own test hub, code run in a kernel of that
session (so as the researcher, on the compute node, inside the session's Slurm job), and a
failed batch job for the ticket to report."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import websocket

from aifactory_hub import slurm
from aifactory_hub.slurm import RunAs
from aifactory_hub.slurm.jobs import parse_recent_jobs, recent_jobs_argv
from aifactory_widgets.helpdesk.context import RECENT
from tests.stack import session_env, session_jobs, submit


def own_session_job(hub, user: str, timeout: float = 60) -> tuple[str, dict[str, str]]:
    """(job id, environment) of `user`'s session on *this* test hub (other hubs on the same
    Slurm may run sessions of the same user)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in session_jobs(user):
            try:
                env = session_env(job["id"])
            except AssertionError:
                continue  # not started yet, or not a server of ours
            if env.get("JUPYTERHUB_API_URL", "").startswith(hub.site.hub.hub_bind_url):
                return job["id"], env
        time.sleep(1)
    raise AssertionError(f"no session of {user} on this hub")


@contextmanager
def session(hub, user: str, **options) -> Iterator[tuple[str, dict[str, str]]]:
    """A running session of `user` with the spawn `options`; stopped afterwards."""
    resp = hub.api("POST", f"/users/{user}/server", user, json=options)
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready(user)
    try:
        yield own_session_job(hub, user)
    finally:
        if hub.server(user):
            hub.stop(user)


def run_in_session(hub, user: str, token: str, code: str, timeout: float = 120) -> str:
    """Run `code` in a new kernel of `user`'s running session; its stdout (errors raise)."""
    base = f"{hub.url}/user/{user}/api/kernels"
    headers = {"Authorization": f"token {token}"}
    resp = requests.post(base, json={"name": "python3"}, headers=headers, timeout=60)
    assert resp.status_code == 201, resp.text
    kernel = resp.json()["id"]
    ws_url = base.replace("http", "ws", 1) + f"/{kernel}/channels"
    conn = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"],
                                       timeout=timeout)  # fmt: skip
    try:
        return _execute(conn, code, timeout)
    finally:
        conn.close()
        requests.delete(f"{base}/{kernel}", headers=headers, timeout=60)


def _execute(conn: websocket.WebSocket, code: str, timeout: float) -> str:
    msg_id = uuid.uuid4().hex
    conn.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))  # fmt: skip
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(conn.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content.get("name") == "stdout":
            out.append(content["text"])
        elif kind == "error":
            raise AssertionError("\n".join(content.get("traceback", [])) or content["evalue"])
        elif kind == "status" and content.get("execution_state") == "idle":
            return "".join(out)
    raise AssertionError(f"the kernel did not finish in {timeout} s")


def output_of(user: str, job: str) -> Path:
    """Where `failed_job` writes; the tests remove it afterwards."""
    return Path("/home") / user / f"ticket-test-{job}.out"


def failed_job(user: str, account: str, partition: str = "cpu") -> tuple[str, str]:
    """A batch job of `user` that prints a marker and exits 3; (job id, marker) once
    accounting shows it FAILED."""
    marker = f"boom-{uuid.uuid4().hex[:8]}"
    out = output_of(user, "%j")
    job = str(submit(user, f"--account={account}", f"--partition={partition}", "--time=2",
                     "--job-name=ticket-test", f"--output={out}",
                     f"--wrap=echo started; echo {marker}; exit 3"))  # fmt: skip
    # Wait for the query the widget makes (accounting's time-window answer lags `-j` by ~2 s).
    deadline = time.monotonic() + 90
    state: dict[str, str] = {}
    while time.monotonic() < deadline:
        out = slurm.run(recent_jobs_argv(user, RECENT), run_as=RunAs.lookup(user)).stdout
        state = next((j for j in parse_recent_jobs(out) if j["id"] == job), {})
        if (state.get("state"), state.get("exit_code")) == ("FAILED", "3:0"):
            return job, marker
        time.sleep(1)
    raise AssertionError(f"job {job} did not fail as planned: {state!r}")


FILE_TICKET = """
import json
from aifactory_widgets import AskAnExpert

ask = AskAnExpert()
auto = ask.tail_job.value
offered = [value for _, value in ask.tail_job.options]
if {job!r} in offered:
    ask.tail_job.value = {job!r}
ask.topic.value = "jobs"
ask.subject.value = {subject!r}
ask.body.value = "My job fails at once. What is wrong?"
ask.send_button.click()
print(json.dumps({{"sent": ask.sent.value, "ticket": ask.current, "auto": auto,
                  "offered": offered, "context": ask.context,
                  "errors": [str(o) for o in ask.errors.outputs]}}))
"""

READ_TICKET = """
import json
from aifactory_widgets import AskAnExpert

ask = AskAnExpert()
ask.pick.value = {ticket!r}
print(json.dumps({{"state": ask.state.value, "conversation": ask.conversation.value,
                  "table": ask.table.value, "message": ask.message.value}}))
"""


def file_ticket(hub, user: str, env: dict[str, str], job: str, subject: str) -> dict:
    """File a ticket from the session's kernel about `job`; what the widget reported."""
    code = FILE_TICKET.format(job=job, subject=subject)
    return json.loads(run_in_session(hub, user, env["JUPYTERHUB_API_TOKEN"], code))


def read_ticket(hub, user: str, env: dict[str, str], ticket: int) -> dict:
    code = READ_TICKET.format(ticket=ticket)
    return json.loads(run_in_session(hub, user, env["JUPYTERHUB_API_TOKEN"], code))
