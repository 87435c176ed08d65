"""JupyterLab's AI Factory routes in a real session: bob's server, a real Slurm job started
through the test hub, asked through the proxy with bob's own token. The session's facts are
its job's (squeue as root says which), its end time is slurmctld's, its hours the factory
service's; a card's notebook lands in bob's home as bob's, once."""

from __future__ import annotations

import json
import os
import pwd
import shutil
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from aifactory_hub import slurm
from aifactory_hub.slurm import jobs
from aifactory_lab.session import hours_left
from tests.stack import session_jobs, sh, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
WALLTIME_MINUTES = 30
PROJECT, PARTITION = "ai-beta", "cpu"


@pytest.fixture(scope="module")
def bob_session(hub):
    folder = Path(pwd.getpwnam("bob").pw_dir) / "AI Factory"
    shutil.rmtree(folder, ignore_errors=True)  # a copy from an earlier run would not be "created"
    resp = hub.api(
        "POST",
        "/users/bob/server",
        "bob",
        json={"project": PROJECT, "partition": PARTITION, "cpus": 1, "memory_gb": 2,
              "walltime_hours": WALLTIME_MINUTES / 60},
    )  # fmt: skip
    assert resp.status_code in (201, 202), resp.text
    server = hub.wait_ready("bob")
    (job,) = session_jobs("bob")
    yield f"{hub.url}{server['url']}", job
    hub.stop("bob")
    wait_no_jobs("bob")
    shutil.rmtree(folder, ignore_errors=True)


def _call(hub, method: str, url: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"token {hub.token('bob')}"}
    return requests.request(method, url, headers=headers, timeout=60, **kwargs)


def _slurm_end(job_id: str) -> datetime:
    """The job's EndTime as `scontrol show job` prints it (as root, in UTC)."""
    out = slurm.run(["scontrol", "--oneliner", "show", "job", job_id], env={"TZ": "UTC"}).stdout
    fields = dict(part.split("=", 1) for part in out.split() if "=" in part)
    return datetime.fromisoformat(fields["EndTime"] + "+00:00")


def test_the_status_bar_facts_are_the_jobs(hub, bob_session):
    url, job = bob_session
    resp = _call(hub, "GET", url + "aifactory/session")
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["job_id"] == job["id"]
    assert (answer["project"], answer["partition"]) == (job["account"], job["partition"])
    assert (answer["project"], answer["partition"]) == (PROJECT, PARTITION)
    assert answer["node"] in sh("squeue", "-h", "-j", job["id"], "-o", "%N").split()

    slurm_end = _slurm_end(job["id"])
    ends_at = datetime.fromisoformat(answer["ends_at"])
    assert abs((ends_at - slurm_end).total_seconds()) <= 60, (ends_at, slurm_end)
    # the parser on what squeue itself prints for this job
    printed = slurm.run(jobs.end_time_argv(job["id"]), env=jobs.SACCT_ENV).stdout
    assert jobs.parse_end_time(printed, job["id"]) == slurm_end

    # the hours are the factory service's for the project, read with the session's token
    usage = _call(hub, "GET", f"{hub.url}/services/factory/api/usage/projects/{PROJECT}")
    assert usage.status_code == 200, usage.text
    expected, notes = hours_left(usage.json()["project"])
    assert answer["gpu_hours_granted"] == expected["gpu_hours_granted"]
    for key in ("gpu_hours_left", "cpu_hours_left"):  # the session itself burns CPU-hours
        if expected[key] is None:
            assert answer[key] is None, key
        else:
            assert abs(answer[key] - expected[key]) < 1.0, key
    assert answer["notes"] == notes, "the service and Slurm both answered"


def test_a_card_opens_its_notebook_in_bobs_home_once(hub, bob_session):
    url, _ = bob_session
    home = Path(pwd.getpwnam("bob").pw_dir)
    first = _call(hub, "POST", url + "aifactory/cards/quota/open")
    assert first.status_code == 200, first.text
    assert first.json() == {"path": "AI Factory/quota.ipynb", "created": True}
    copy = home / first.json()["path"]
    assert copy.is_file()
    assert os.stat(copy).st_uid == pwd.getpwnam("bob").pw_uid

    # bob edits it in JupyterLab (the contents API saves it), then clicks the card again
    contents = url + "api/contents/" + quote(first.json()["path"])
    notebook = _call(hub, "GET", contents).json()["content"]
    notebook["cells"][0]["source"] = "# My own quota notes"
    saved = _call(hub, "PUT", contents, json={"type": "notebook", "content": notebook})
    assert saved.status_code == 200, saved.text
    edited = copy.read_bytes()
    assert "".join(json.loads(edited)["cells"][0]["source"]) == "# My own quota notes"

    again = _call(hub, "POST", url + "aifactory/cards/quota/open")
    assert again.status_code == 200, again.text
    assert again.json() == {"path": "AI Factory/quota.ipynb", "created": False}
    assert copy.read_bytes() == edited

    unknown = _call(hub, "POST", url + "aifactory/cards/..%2F..%2Fetc/open")
    assert unknown.status_code == 404
    made = {name for name in os.listdir(copy.parent) if name != ".ipynb_checkpoints"}  # the save's
    assert made == {"quota.ipynb"}, "no other file, no temporary file left"
