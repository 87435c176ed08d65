"""Environments built and registered on the real local cluster, as researcher alice, the way
her session's kernel does it (the factory's python, her own identity, her home):

- a build job from a two-package requirements file (humanize, termcolor: small pure-Python
  packages the factory's venv does not have) runs on a compute node, charged to ai-alpha, and
  registers a kernel that imports both, from the new environment and not the factory's;
- a build with a package that does not exist fails, its status carries pip's own "No
  matching distribution" line, and the half-built environment is gone;
- a venv she made herself is refused until it has ipykernel (the message is the command to
  install it), then registered, and its kernel runs code;
- a folder of someone else's (bob's, and root's site environment where it exists) is refused,
  naming the field, and her kernels folder is unchanged.
Builds need PyPI (or the site's index) from the compute node, as a real site's would."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import ipywidgets
import pytest

from aifactory_hub.environments import build, register
from tests.slurm.test_staging import as_user
from tests.stack import sh, wait_finished

pytestmark = pytest.mark.slurm

ALICE = pwd.getpwnam("alice")
HOME = ALICE.pw_dir

# What the kernel does, as alice: check the fields, then submit (or say which field).
SUBMIT = r"""
import json, sys
from aifactory_hub.environments import build
from aifactory_hub.site import Partition, SoftwareSettings
a = json.loads(sys.argv[1])
software = SoftwareSettings(**a["software"])
try:
    req = build.check_request(a["accounts"], name=a["name"], project=a["project"],
                              home=a["home"], requirements=a["requirements"])
    part = build.build_partition(software, [Partition(**p) for p in a["partitions"]])
    print(json.dumps({"job": build.submit(req, part, software, a["home"]), "prefix": req.prefix}))
except build.BuildError as exc:
    print(json.dumps({"field": exc.field, "error": str(exc)}))
"""
STATUS = r"""
import json, sys
from aifactory_hub.environments import build
st = build.status(sys.argv[1], sys.argv[2])
print(json.dumps({"state": st.state, "ok": st.ok, "why": st.why, "result": st.result,
                  "errors": st.errors, "phase": st.progress.phase if st.progress else ""}))
"""
REGISTER = r"""
import json, sys
from aifactory_hub.environments import register
try:
    print(json.dumps({"spec": str(register.register(sys.argv[1], sys.argv[2], sys.argv[3]))}))
except register.RegisterError as exc:
    print(json.dumps({"field": exc.field, "error": str(exc)}))
"""
# Start a kernel by its name with jupyter_client, as JupyterLab does; run code; its output.
RUN_KERNEL = r"""
import json, sys
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name=sys.argv[1], startup_timeout=120)
out = []
def keep(msg):
    c = msg["content"]
    if msg["msg_type"] == "stream":
        out.append(c["text"])
    elif msg["msg_type"] in ("execute_result", "error"):
        out.append(c.get("data", {}).get("text/plain", "") or c.get("evalue", ""))
try:
    reply = kc.execute_interactive(sys.argv[2], timeout=120, output_hook=keep)
    print(json.dumps({"status": reply["content"]["status"], "out": "".join(out)}))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
"""


def alice(script: str, *args: str) -> dict:
    out = as_user("alice", [sys.executable, "-c", script, *args]).stdout
    return json.loads(out.strip().splitlines()[-1])


def submit_as_alice(site, name: str, requirements: str, project: str = "ai-alpha") -> dict:
    usable = [site.partition(n) for p in site.projects if p.account == project
              for n in p.partitions] or list(site.partitions)  # fmt: skip
    request = {
        "accounts": [p.account for p in site.projects_of("alice")],
        "name": name,
        "project": project,
        "home": HOME,
        "requirements": requirements,
        "software": site.software.model_dump(),
        "partitions": [p.model_dump() for p in usable],
    }
    return alice(SUBMIT, json.dumps(request))


def kernels_of_alice() -> list[str]:
    folder = register.kernels_dir(HOME)
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def build_jobs() -> list[str]:
    return sh("squeue", "-h", "-u", "alice", "-n", build.JOB_NAME, "-t", "all", "-o", "%i").split()


@pytest.fixture
def env_name(demo_accounts) -> Iterator[str]:
    """A fresh environment name; whatever it left (prefix, kernel, logs) removed after."""
    name = f"t{uuid.uuid4().hex[:8]}"
    yield name
    shutil.rmtree(build.env_prefix(HOME, name), ignore_errors=True)
    shutil.rmtree(register.kernels_dir(HOME) / name, ignore_errors=True)
    for path in Path(HOME, build.LOG_DIR).glob(f"{name}-*.requirements.txt"):
        path.unlink()


def test_a_build_job_makes_an_environment_whose_kernel_imports_both_packages(
    local_cluster, env_name
):
    answer = submit_as_alice(local_cluster, env_name, "humanize\ntermcolor  # colours\n")
    assert "job" in answer, answer
    job, prefix = answer["job"], answer["prefix"]
    log = Path(build.log_path(HOME, job))
    try:
        assert wait_finished(job) == {job: "COMPLETED"}, log.read_text()
        st = alice(STATUS, job, HOME)
        assert st["ok"] and st["phase"] == "done", st
        assert st["result"].startswith(f"built: {prefix} (") and "registered as" in st["result"]
        account = sh("sacct", "-n", "-P", "-X", "-j", job, "-o", "Account,User").split()
        assert account == ["ai-alpha|alice"]  # charged to the project, run as her
        spec_file = register.kernels_dir(HOME) / env_name / "kernel.json"
        spec = json.loads(spec_file.read_text())
        assert spec["argv"][0] == f"{prefix}/bin/python"
        assert spec["display_name"] == f"Python 3 ({env_name})"
        for path in (spec_file, Path(prefix), Path(prefix, "bin", "python")):
            assert os.lstat(path).st_uid == ALICE.pw_uid, path
        code = (
            "import sys, importlib.util, humanize, termcolor, ipywidgets\n"
            "print(sys.prefix)\nprint(humanize.naturalsize(3_000_000))\n"
            "print(termcolor.colored('ok', 'green') == '\\x1b[32mok\\x1b[0m')\n"
            "print(importlib.util.find_spec('aifactory_hub') is None)\n"
            "print(ipywidgets.__version__)\n"
        )
        ran = alice(RUN_KERNEL, env_name, code)
        assert ran["status"] == "ok", ran
        assert ran["out"].split() == [prefix, "3.0", "MB", "True", "True", ipywidgets.__version__]
    finally:
        log.unlink(missing_ok=True)


def test_a_build_with_a_missing_package_fails_with_pips_message_and_leaves_nothing(
    local_cluster, env_name
):
    answer = submit_as_alice(local_cluster, env_name, "humanize\nno-such-package-aifactory==1.0\n")
    job, prefix = answer["job"], answer["prefix"]
    log = Path(build.log_path(HOME, job))
    try:
        assert wait_finished(job) == {job: "FAILED"}, log.read_text()
        st = alice(STATUS, job, HOME)
        assert not st["ok"] and st["phase"] == "failed"
        assert "No matching distribution found for no-such-package-aifactory==1.0" in st["why"]
        assert st["result"] == (
            "failed: ERROR: No matching distribution found for no-such-package-aifactory==1.0"
        )
        assert "Traceback" not in log.read_text()
        assert not os.path.lexists(prefix)
        assert env_name not in kernels_of_alice()
    finally:
        log.unlink(missing_ok=True)


def test_a_build_past_the_sites_size_limit_is_stopped_and_removed(local_cluster, env_name):
    """The site's build_max_gb, here 30 MB (a venv with ipykernel is over 100 MB)."""
    small = local_cluster.model_copy(
        update={"software": local_cluster.software.model_copy(update={"build_max_gb": 0.03})}
    )
    answer = submit_as_alice(small, env_name, "humanize\n")
    job, prefix = answer["job"], answer["prefix"]
    log = Path(build.log_path(HOME, job))
    try:
        assert wait_finished(job) == {job: "FAILED"}, log.read_text()
        st = alice(STATUS, job, HOME)
        assert st["why"].startswith("the environment reached "), st
        assert st["why"].endswith("over the site's limit of 30 MB: the build was stopped")
        assert not os.path.lexists(prefix) and env_name not in kernels_of_alice()
    finally:
        log.unlink(missing_ok=True)


@pytest.fixture
def alices_venv(demo_accounts) -> Iterator[Path]:
    """A venv alice makes herself, with the base interpreter (no ipykernel in it yet)."""
    prefix = Path(HOME, f"venv-{uuid.uuid4().hex[:8]}")
    as_user("alice", [build.base_python(), "-m", "venv", str(prefix)])
    yield prefix
    shutil.rmtree(prefix, ignore_errors=True)


def test_a_venv_alice_made_is_registered_once_it_has_ipykernel_and_its_kernel_runs(
    alices_venv, env_name
):
    python = f"{alices_venv}/bin/python"
    answer = alice(REGISTER, str(alices_venv), env_name, HOME)
    assert answer == {
        "field": "prefix",
        "error": f"prefix: {python} cannot import ipykernel; install it with: "
        f"{python} -m pip install ipykernel",
    }
    assert env_name not in kernels_of_alice()
    as_user("alice", [python, "-m", "pip", "install", "--disable-pip-version-check", "ipykernel"])
    answer = alice(REGISTER, f"~/{alices_venv.name}", env_name, HOME)
    spec_file = register.kernels_dir(HOME) / env_name / "kernel.json"
    assert answer == {"spec": str(spec_file)}
    assert json.loads(spec_file.read_text())["argv"][0] == python
    ran = alice(RUN_KERNEL, env_name, "import sys; print(sys.prefix); 6 * 7")
    assert ran == {"status": "ok", "out": f"{alices_venv}\n42"}


def test_someone_elses_environment_is_refused_and_nothing_is_written(demo_accounts, env_name):
    bob = pwd.getpwnam("bob")
    theirs = Path(f"/tmp/bobs-env-{uuid.uuid4().hex[:8]}")
    (theirs / "bin").mkdir(parents=True)
    (theirs / "bin" / "python").symlink_to(sys.executable)
    for path in (theirs, theirs / "bin", theirs / "bin" / "python"):
        os.lchown(path, bob.pw_uid, bob.pw_gid)
    theirs.chmod(0o755)
    before = kernels_of_alice()
    try:
        prefixes = [str(theirs)] + [p for p in ["/opt/aifactory/envs/jax"] if os.path.isdir(p)]
        for prefix in prefixes:
            answer = alice(REGISTER, prefix, env_name, HOME)
            assert answer["field"] == "prefix", answer
            assert f"the folder {prefix} is not yours" in answer["error"]
        assert kernels_of_alice() == before
    finally:
        shutil.rmtree(theirs)


def test_a_build_charged_to_a_project_not_hers_is_refused_before_any_job(local_cluster, env_name):
    jobs_before = build_jobs()
    answer = submit_as_alice(local_cluster, env_name, "humanize\n", project="ai-beta")
    assert answer["field"] == "project" and "not one of your projects" in answer["error"]
    answer = submit_as_alice(local_cluster, env_name, "-e /home/bob/src\n")
    assert answer == {
        "field": "requirements",
        "error": "requirements: line 1: '-e /home/bob/src' is a pip option; only package "
        "requirements are built",
    }
    assert build_jobs() == jobs_before
    assert not os.path.lexists(build.env_prefix(HOME, env_name))
