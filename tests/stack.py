"""Talking to the real stack from tests: the hub as a person would, Slurm as root."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import requests

from aifactory_hub import slurm
from aifactory_hub.site import DEMO_SITE, Site
from aifactory_hub.slurm import RunAs


def demo_site_on_port(port: int, state_dir: Path, kernel_cull_s: int = 300) -> str:
    """The demo site's text with the hub on `port` (proxy API +1, hub API +81, factory
    service +90, console +91) and its own state, so a test or benchmark hub never touches a
    demo hub on :8000."""
    text = DEMO_SITE.read_text()
    text += (
        f'\n[services]\nfactory_url = "http://127.0.0.1:{port + 90}"\n'
        f'console_url = "http://127.0.0.1:{port + 91}"\nkernel_cull_idle_s = {kernel_cull_s}\n'
        f'store_url = "sqlite:///{state_dir}/factory.sqlite"\n'
    )
    text = text.replace(
        'bind_url = "http://127.0.0.1:8000"', f'bind_url = "http://127.0.0.1:{port}"'
    )
    return text.replace(
        "[hub]\n",
        f'[hub]\nhub_bind_url = "http://127.0.0.1:{port + 81}"\n'
        f'proxy_api_url = "http://127.0.0.1:{port + 1}"\nstate_dir = "{state_dir}"\n',
        1,
    )


class HubClient:
    """Talks to the test hub as a person would: log in through the form, then use the API."""

    def __init__(self, site: Site, passwords: dict[str, str]):
        self.site = site
        self.url = site.hub.bind_url.rstrip("/")
        self.passwords = passwords
        self._tokens: dict[str, str] = {}

    def login(self, user: str, password: str | None = None) -> requests.Session:
        s = requests.Session()
        page = s.get(f"{self.url}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        resp = s.post(
            f"{self.url}/hub/login?next=",
            data={"username": user, "password": password or self.passwords[user], "_xsrf": xsrf},
            allow_redirects=False,
            timeout=60,
        )
        assert resp.status_code == 302, f"login of {user} failed: {resp.status_code}"
        s.headers["X-XSRFToken"] = s.cookies.get("_xsrf", xsrf)
        return s

    def token(self, user: str) -> str:
        if user not in self._tokens:
            s = self.login(user)
            resp = s.post(
                f"{self.url}/hub/api/users/{user}/tokens",
                json={"note": "tests", "expires_in": 3600},
                timeout=30,
            )
            assert resp.status_code == 201, resp.text
            self._tokens[user] = resp.json()["token"]
        return self._tokens[user]

    def api(self, method: str, path: str, user: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token(user)}"}
        return requests.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs
        )

    def server(self, user: str) -> dict:
        return self.api("GET", f"/users/{user}", user).json()["servers"].get("", {})

    def wait_ready(self, user: str, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.server(user)
            if server.get("ready"):
                return server
            if not server:
                raise AssertionError(f"{user}'s server is gone while waiting for it")
            time.sleep(1)
        raise AssertionError(f"{user}'s server not ready after {timeout} s")

    def stop(self, user: str, timeout: float = 60) -> None:
        resp = self.api("DELETE", f"/users/{user}/server", user)
        assert resp.status_code in (202, 204), resp.text
        deadline = time.monotonic() + timeout
        while self.server(user) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not self.server(user), f"{user}'s server did not stop"


def submit(user: str, *args: str) -> int:
    """sbatch as `user` (the way the hub submits); returns the job id."""
    out = slurm.run(["sbatch", "--parsable", *args], run_as=RunAs.lookup(user)).stdout
    return int(out.strip().split(";")[0])


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def session_jobs(user: str) -> list[dict[str, str]]:
    """The user's live session jobs according to squeue (as root)."""
    out = sh(
        "squeue",
        "-h",
        "-u",
        user,
        "-n",
        "jupyterhub-session",
        "-t",
        "PD,R,CG,CF",
        "-o",
        "%i|%a|%P|%T|%r",
    )
    keys = ("id", "account", "partition", "state", "reason")
    return [dict(zip(keys, line.split("|"), strict=True)) for line in out.splitlines()]


def session_job_ids(user: str) -> set[str]:
    """Ids of every session job of the user squeue still lists, finished ones too."""
    args = ("-h", "-u", user, "-n", "jupyterhub-session", "-t", "all", "-o", "%i")
    return set(sh("squeue", *args).split())


def wait_no_jobs(user: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while session_jobs(user) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert session_jobs(user) == []


def progress_events(hub, user: str, timeout: float, stop_on=None) -> list[dict]:
    """Read the spawn progress event stream (what the spawn page shows)."""
    events: list[dict] = []
    try:
        with requests.get(
            f"{hub.url}/hub/api/users/{user}/server/progress",
            headers={"Authorization": f"token {hub.token(user)}"},
            stream=True,
            timeout=timeout,
        ) as resp:
            for line in resp.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if stop_on and stop_on(events[-1]):
                        break
    except requests.exceptions.ConnectionError:
        pass
    return events


def session_env(job_id: str) -> dict[str, str]:
    """The environment of the session's server in job `job_id` (read as root from /proc)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            items = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        env = dict(i.decode(errors="replace").split("=", 1) for i in items if b"=" in i)
        if env.get("SLURM_JOB_ID") == job_id and "JUPYTERHUB_API_TOKEN" in env:
            return env
    raise AssertionError(f"no process of job {job_id} carries a hub token")


def server_token(job_id: str) -> str:
    """The API token the hub gave this session."""
    return session_env(job_id)["JUPYTERHUB_API_TOKEN"]


def hub_log(hub) -> str:
    return (Path(hub.site.hub.state_dir) / "jupyterhub.log").read_text()


def wait_for(condition, timeout: float, what: str, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def sacct_states(job: str) -> dict[str, str]:
    out = sh("sacct", "-n", "-X", "-P", "-j", job, "-o", "JobID,State")
    return dict(line.split("|", 1) for line in out.splitlines() if line)


def wait_finished(job: str, tasks: int = 1) -> dict[str, str]:
    """{job or array task id: end state} once all `tasks` have ended (sacct as root)."""
    done = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL")

    def finished():
        states = sacct_states(job)
        ended = {k: v for k, v in states.items() if v.split()[0] in done}
        return ended if len(ended) == tasks and "[" not in "".join(states) else None

    return wait_for(finished, 600, f"job {job} to finish", every=2)


def wait_final_in_sacct(job: int, timeout: float = 60) -> None:
    """Until slurmdbd has the job's end and elapsed (it lags slurmctld a little)."""
    deadline = time.monotonic() + timeout
    while True:
        line = sh("sacct", "-n", "-P", "-X", "-j", str(job), "-o", "State,End,ElapsedRaw").strip()
        state, end, elapsed = [*line.split("|"), "", "", ""][:3]
        if state and state not in ("RUNNING", "PENDING") and end != "Unknown" and elapsed:
            return
        assert time.monotonic() < deadline, f"job {job} not complete in sacct: {line!r}"
        time.sleep(1)
