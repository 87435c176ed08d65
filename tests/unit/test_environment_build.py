"""Environment build requests, the sbatch command, the job's log and the job script itself
(pure: temporary folders, scripted Slurm answers, stand-in pythons that print what pip prints).
The real build job on the cluster is tests/slurm/test_environment_build.py."""

from __future__ import annotations

import io
import json
import stat
import threading
from pathlib import Path

import pytest

from aifactory_hub.environments import build, build_job, register
from aifactory_hub.environments.build import BuildError, check_request
from aifactory_hub.site import Partition, SoftwareSettings
from aifactory_hub.slurm import SlurmError

MINE = ["ai-alpha"]
CPU = Partition(name="cpu", default=True, nodes=2, cpus_per_node=4, memory_gb_per_node=5,
                max_walltime_hours=8, max_cpus=2, max_memory_gb=4)  # fmt: skip
SMALL = CPU.model_copy(update={"name": "small", "default": False, "max_walltime_hours": 0.25})
GPU = Partition(name="gpu", nodes=1, cpus_per_node=4, memory_gb_per_node=5, gpu_type="a100",
                gpus_per_node=2, max_walltime_hours=4, max_cpus=2, max_memory_gb=4,
                max_gpus=2, min_gpus=1)  # fmt: skip
PYTHONS = build.Interpreters("/opt/aifactory/venv/bin/python", "/usr/bin/python3.11", "8.1.9")

# What pip 23 printed for a missing package (captured from a build on this machine).
PIP_MISSING = """\
Collecting humanize
  Using cached humanize-4.17.0-py3-none-any.whl (128 kB)
ERROR: Could not find a version that satisfies the requirement no-such-package-aifactory==1.0 (from versions: none)
ERROR: No matching distribution found for no-such-package-aifactory==1.0
"""  # noqa: E501


def ask(home: Path, **fields) -> build.BuildRequest:
    values = {"name": "myenv", "project": "ai-alpha", "requirements": "humanize\n"}
    values.update(fields)
    return check_request(MINE, home=str(home), **values)


def refused(home: Path, **fields) -> BuildError:
    with pytest.raises(BuildError) as caught:
        ask(home, **fields)
    return caught.value


# --- the request ---------------------------------------------------------------------------


def test_a_requirements_file_is_kept_as_packaging_spells_it(tmp_path):
    text = (
        "# analysis stack\n\nnumpy >= 2.0, <3  # the array\nhumanize==4.*\n"
        "rich[jupyter]\ntomli; python_version < '3.11'\n"
    )
    req = ask(tmp_path, requirements=text)
    assert req.requirements == (
        "numpy<3,>=2.0", "humanize==4.*", "rich[jupyter]", 'tomli; python_version < "3.11"',
    )  # fmt: skip
    assert req.prefix == f"{tmp_path}/.local/share/aifactory/envs/myenv"
    assert (req.name, req.account, req.replace) == ("myenv", "ai-alpha", False)
    assert req.display_name == "Python 3 (myenv)"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("-e .", "is a pip option"),
        ("-r other.txt", "is a pip option"),
        ("--index-url https://evil.example/simple", "is a pip option"),
        ("--extra-index-url=https://x", "is a pip option"),
        ("numpy --hash=sha256:00", "is not a requirement"),
        ("https://example.org/pkg-1.0.tar.gz", "is a URL"),
        ("git+https://github.com/x/y", "is a URL"),
        ("pkg @ https://example.org/pkg.whl", "is a URL"),
        ("pkg @ file:///home/alice/pkg", "is a URL"),
        ("./mypkg", "is a local path"),
        ("/home/alice/pkg", "is a local path"),
        ("~/pkg", "is a local path"),
        ("dist/pkg-1.0-py3-none-any.whl", "is a local path"),
        ("pkg-1.0.tar.gz", "is a local path"),
        ("numpy==", "is not a requirement"),
        ("numpy \\", "continues on the next line"),
        ("dependencies:", "looks like an environment.yml"),
    ],
)
def test_options_urls_and_paths_are_refused_naming_the_line(tmp_path, line, words):
    err = refused(tmp_path, requirements=f"humanize\n# fine\n{line}\n")
    assert err.field == "requirements"
    assert str(err).startswith(f"requirements: line 3: {line.strip()[:120]!r} {words}")
    assert "\n" not in str(err)


def test_an_empty_or_huge_requirements_text_is_refused(tmp_path):
    assert "names no package" in str(refused(tmp_path, requirements="# nothing\n\n"))
    assert "at most 64 kB" in str(refused(tmp_path, requirements="a\n" * 40000))
    assert "at most 500 lines" in str(refused(tmp_path, requirements="a\n" * 501))
    assert "must be text" in str(refused(tmp_path, requirements=b"numpy"))


def test_a_list_of_packages(tmp_path):
    req = ask(tmp_path, requirements=None, packages=["humanize", "termcolor>=2", "rich[jupyter]"])
    assert req.requirements == ("humanize", "termcolor>=2", "rich[jupyter]")
    err = refused(tmp_path, requirements=None, packages=["humanize", "--pre"])
    assert err.field == "packages" and "package 2: '--pre' is a pip option" in str(err)
    assert refused(tmp_path, requirements=None, packages="humanize").field == "packages"
    assert refused(tmp_path, requirements=None, packages=["humanize", 3]).field == "packages"
    assert refused(tmp_path, requirements=None, packages=[" ", "#x"]).field == "packages"


def test_an_environment_yml_is_refused_the_site_has_no_conda(tmp_path):
    yml = "name: myenv\nchannels: [conda-forge]\ndependencies:\n  - numpy\n"
    err = refused(tmp_path, requirements=None, environment_yml=yml)
    assert err.field == "environment_yml"
    assert "this site has no conda" in str(err) and "give a requirements.txt" in str(err)
    err = refused(tmp_path, requirements=yml)  # pasted as requirements: said what it is
    assert "line 1: 'name: myenv' looks like an environment.yml: this site has no conda" in str(err)


def test_exactly_one_source_of_requirements(tmp_path):
    err = refused(tmp_path, requirements="a", packages=["b"])
    assert err.field == "requirements" and "a requirements.txt or a list" in str(err)
    assert refused(tmp_path, requirements="").field == "requirements"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "lower-case letters"),
        ("My Env", "lower-case letters"),
        ("../etc", "lower-case letters"),
        ("-rf", "lower-case letters"),
        ("x" * 33, "lower-case letters"),
        (None, "lower-case letters"),
        ("python3", "the session's own kernel"),
        ("aifactory", "the session's own kernel"),
    ],
)
def test_an_odd_name_is_refused(tmp_path, name, words):
    err = refused(tmp_path, name=name)
    assert err.field == "name" and words in str(err)


@pytest.mark.parametrize("project", ["ai-beta", "", "ai-alpha,ai-beta", None])
def test_a_project_that_is_not_the_users_is_refused(tmp_path, project):
    err = refused(tmp_path, project=project)
    assert err.field == "project"


def test_an_existing_environment_or_kernel_is_replaced_only_when_asked(tmp_path):
    prefix = Path(build.env_prefix(str(tmp_path), "myenv"))
    prefix.mkdir(parents=True)
    err = refused(tmp_path)
    assert err.field == "name" and "already have an environment myenv" in str(err)
    assert ask(tmp_path, replace=True).replace
    prefix.rmdir()
    kernel = register.kernels_dir(str(tmp_path)) / "myenv"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text("{}")
    err = refused(tmp_path)
    assert err.field == "name" and "already have a kernel 'myenv'" in str(err)


# --- the job -------------------------------------------------------------------------------


def test_builds_run_on_the_sites_build_partition_or_the_default_one_without_gpus():
    assert build.build_partition(SoftwareSettings(), [GPU, SMALL, CPU]).name == "cpu"
    assert build.build_partition(SoftwareSettings(), [GPU, SMALL]).name == "small"
    named = SoftwareSettings(build_partition="small")
    assert build.build_partition(named, [CPU, SMALL]).name == "small"
    with pytest.raises(BuildError, match="project: the project may not use small"):
        build.build_partition(named, [CPU])
    with pytest.raises(BuildError, match="project: the project has no partition"):
        build.build_partition(SoftwareSettings(), [GPU])


def test_the_time_limit_is_the_sites_within_the_partitions():
    assert build.build_minutes(SoftwareSettings(build_minutes=30), CPU) == 30
    assert build.build_minutes(SoftwareSettings(build_minutes=60), SMALL) == 15


def test_user_text_reaches_sbatch_only_in_a_file_whose_path_is_an_argument(tmp_path):
    hostile = "evil==1 ; python_version > '$(id)'"
    req = ask(tmp_path, requirements=f"humanize\n{hostile}\n")
    software = SoftwareSettings(build_minutes=45, build_max_gb=2.5)
    argv = build.sbatch_argv(req, CPU, software, "/home/alice", "/home/alice/r.txt", PYTHONS)
    script = argv.index(str(build.SCRIPT))
    assert argv[:script] == [
        "sbatch", "--parsable", "--account=ai-alpha", "--partition=cpu",
        "--job-name=aifactory-env-build", "--time=45", "--nodes=1", "--ntasks=1",
        "--cpus-per-task=1", "--mem=2G", "--chdir=/home/alice",
        "--output=/home/alice/.aifactory-jobs/environments/%j.log",
    ]  # fmt: skip
    assert argv[script + 1 :] == [
        "/opt/aifactory/venv/bin/python", "/usr/bin/python3.11",
        f"{tmp_path}/.local/share/aifactory/envs/myenv", "/home/alice/r.txt", "2.5", "8.1.9",
        "myenv", "/home/alice/.local/share/jupyter/kernels", "keep",
    ]  # fmt: skip
    assert not any("evil" in a or "humanize" in a for a in argv)
    assert build.SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")
    replace = ask(tmp_path, replace=True)
    assert build.sbatch_argv(replace, CPU, software, "/h", "/h/r", PYTHONS)[-1] == "replace"
    with pytest.raises(ValueError, match="unsupported home"):
        build.sbatch_argv(req, CPU, software, "/home/a b", "/r", PYTHONS)


def test_the_factorys_interpreters_are_the_kernels():
    found = build.Interpreters()
    assert found.factory.startswith("/") and Path(found.base).is_file()
    assert found.ipywidgets.count(".") >= 2


def test_submit_writes_the_checked_requirements_into_a_private_file(tmp_path):
    req = ask(tmp_path, requirements="humanize  # for sizes\ntermcolor>=2\n")
    seen = []
    job = build.submit(req, CPU, SoftwareSettings(), str(tmp_path),
                       run=lambda argv: seen.append(argv) or "77\n", pythons=PYTHONS)  # fmt: skip
    assert job == "77"
    path = Path(seen[0][seen[0].index(str(build.SCRIPT)) + 4])
    assert path.parent == tmp_path / ".aifactory-jobs" / "environments"
    assert path.read_text() == "humanize\ntermcolor>=2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_refused_submission_leaves_no_request_file(tmp_path):
    req = ask(tmp_path)
    folder = tmp_path / ".aifactory-jobs" / "environments"

    def refuse(argv):
        raise SlurmError(argv, 1, "", "sbatch: error: Invalid account or account/partition")

    with pytest.raises(SlurmError, match="Invalid account"):
        build.submit(req, CPU, SoftwareSettings(), str(tmp_path), run=refuse, pythons=PYTHONS)
    with pytest.raises(SlurmError, match="no job id"):
        build.submit(req, CPU, SoftwareSettings(), str(tmp_path), run=lambda a: "queued\n",
                     pythons=PYTHONS)  # fmt: skip
    assert list(folder.iterdir()) == []


# --- the log ---------------------------------------------------------------------------------

RUNNING_LOG = """\
building myenv in /home/alice/.local/share/aifactory/envs/myenv on cpu1 (at most 5 GB)
build: venv, 0 s, 0 bytes
build: download, 4 s, 24117248 bytes
Collecting humanize
  Downloading humanize-4.17.0-py3-none-any.whl (128 kB)
build: download, 7 s, 24117248 bytes
Installing collected packages: humanize, ipykernel
build: install, 10 s, 98304000 bytes
"""
DONE_LOG = RUNNING_LOG + (
    "Successfully installed humanize-4.17.0 ipykernel-7.4.0\n"
    "build: kernel, 12 s, 138412032 bytes\n"
    "build: done, 13 s, 138412032 bytes\n"
    'built: /home/alice/.local/share/aifactory/envs/myenv (138 MB); kernel "Python 3 (myenv)" '
    "registered as myenv (/home/alice/.local/share/jupyter/kernels/myenv/kernel.json)\n"
)
FAILED_LOG = (
    RUNNING_LOG.split("Installing")[0]
    + PIP_MISSING
    + "build: failed, 9 s, 24117248 bytes\n"
    + "failed: ERROR: No matching distribution found for no-such-package-aifactory==1.0\n"
    + "removed the unfinished environment /home/alice/.local/share/aifactory/envs/myenv\n"
)


def test_progress_is_the_last_progress_line():
    assert build.parse_progress(RUNNING_LOG) == build.BuildProgress("install", 10, 98_304_000)
    assert build.parse_progress(RUNNING_LOG).percent == 70
    assert build.parse_progress(DONE_LOG).percent == 100
    assert build.parse_progress("building x\n") is None
    assert build.parse_progress("") is None


def test_the_tail_keeps_only_the_latest_progress_line():
    tail = build.log_tail(RUNNING_LOG).splitlines()
    assert [t for t in tail if t.startswith("build: ")] == ["build: install, 10 s, 98304000 bytes"]
    assert "Collecting humanize" in tail and tail[0].startswith("building myenv")
    assert len(build.log_tail(DONE_LOG, lines=3).splitlines()) == 3


def test_pips_errors_and_the_final_line_are_read_from_the_log():
    assert build.errors(FAILED_LOG) == [
        "ERROR: Could not find a version that satisfies the requirement "
        "no-such-package-aifactory==1.0 (from versions: none)",
        "ERROR: No matching distribution found for no-such-package-aifactory==1.0",
    ]
    assert build.result_line(FAILED_LOG).startswith("failed: ERROR: No matching distribution")
    assert build.result_line(DONE_LOG).startswith("built: /home/alice/")
    assert build.result_line(RUNNING_LOG) == ""


def scripted(squeue, sacct):
    def run(argv):
        answer = {"squeue": squeue, "sacct": sacct}[argv[0]]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return run


def write_log(home: Path, job: str, text: str) -> None:
    folder = home / ".aifactory-jobs" / "environments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{job}.log").write_text(text)


def test_status_of_a_build_that_failed_says_why_in_pips_words(tmp_path):
    write_log(tmp_path, "31", FAILED_LOG)
    gone = SlurmError(["squeue"], 1, "", "Invalid job id specified")
    st = build.status("31", str(tmp_path), run=scripted(gone, "31|FAILED|1:0|None\n"))
    assert (st.state, st.ended, st.ok, st.exit_code) == ("FAILED", True, False, "1:0")
    assert st.why.splitlines() == build.errors(FAILED_LOG)
    assert "No matching distribution found for no-such-package-aifactory==1.0" in st.why
    assert "Traceback" not in st.why


def test_status_of_a_running_and_a_finished_build(tmp_path):
    write_log(tmp_path, "32", RUNNING_LOG)
    running = scripted("32|RUNNING|None|N/A|cpu1|ai-alpha|cpu|alice\n", "")
    st = build.status("32", str(tmp_path), run=running)
    assert (st.phase, st.ok, st.why, st.progress.phase) == ("running", False, "", "install")
    write_log(tmp_path, "32", DONE_LOG)
    st = build.status("32", str(tmp_path), run=scripted("", "32|COMPLETED|0:0|None\n"))
    assert st.ok and st.result.startswith("built: ") and st.why == ""
    with pytest.raises(ValueError, match="not a Slurm job id"):
        build.status("32; rm", str(tmp_path), run=running)


def test_a_job_that_ended_without_its_last_word_is_not_ok(tmp_path):
    """Killed before it printed a result (node failure, out of memory): not a success, and
    the reason is Slurm's."""
    write_log(tmp_path, "33", RUNNING_LOG)
    st = build.status("33", str(tmp_path), run=scripted("", "33|OUT_OF_MEMORY|0:125|None\n"))
    assert not st.ok and st.why == "the job ended OUT_OF_MEMORY (0:125); see its log"
    ok_state = build.BuildStatus("34", "COMPLETED", "ended", None, "", "0:0")
    assert not ok_state.ok and "ended COMPLETED" in ok_state.why


# --- the job script (stand-in pythons: no network, no Slurm) ----------------------------------


def stand_in_base(root: Path, pip_body: str) -> Path:
    """A 'base python' whose `-m venv PREFIX` makes PREFIX/bin/python a script that runs
    `pip_body` for `-m pip ...` and succeeds for `-c 'import ipykernel'`."""
    template = root / "venv-python"
    template.write_text(
        f'#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "pip" ]; then\n{pip_body}\nfi\nexit 0\n'
    )
    template.chmod(0o755)
    base = root / "base-python"
    base.write_text(f'#!/bin/sh\nmkdir -p "$3/bin" && cp {template} "$3/bin/python"\n')
    base.chmod(0o755)
    return base


def job_argv(root: Path, base: Path, max_gb: str = "1", mode: str = "keep") -> list[str]:
    reqs = root / "r.txt"
    reqs.write_text("humanize\n")
    prefix = root / "home" / ".local/share/aifactory/envs/myenv"
    kernels = root / "home" / ".local/share/jupyter/kernels"
    return ["build_job.py", "/factory/python", str(base), str(prefix), str(reqs), max_gb,
            "8.1.9", "myenv", str(kernels), mode]  # fmt: skip


def test_a_successful_build_registers_the_kernel(tmp_path):
    body = 'echo "pip $*"\necho "Installing collected packages: humanize"\nexit 0'
    argv = job_argv(tmp_path, stand_in_base(tmp_path, body))
    out = io.StringIO()
    assert build_job.build(argv, out) == 0
    log = out.getvalue()
    prefix = argv[3]
    assert f"pip install --no-input --disable-pip-version-check --progress-bar off -r {argv[4]} " \
        "ipykernel ipywidgets==8.1.9" in log  # fmt: skip
    spec = json.loads(Path(argv[8], "myenv", "kernel.json").read_text())
    assert spec["argv"][0] == f"{prefix}/bin/python"
    assert spec["display_name"] == "Python 3 (myenv)"
    assert build.parse_progress(log).phase == "done"
    assert build.result_line(log).startswith(f"built: {prefix} (")
    assert [p.split(",")[0] for p in log.splitlines() if p.startswith("build: ")] == [
        "build: venv", "build: download", "build: kernel", "build: done",
    ]  # fmt: skip


def test_a_failed_install_removes_the_prefix_and_ends_with_pips_error(tmp_path):
    body = "cat <<'EOF'\n" + PIP_MISSING + "EOF\nexit 1"
    argv = job_argv(tmp_path, stand_in_base(tmp_path, body))
    out = io.StringIO()
    assert build_job.build(argv, out) == 1
    log = out.getvalue()
    assert not Path(argv[3]).exists() and not Path(argv[8], "myenv").exists()
    assert build.result_line(log) == (
        "failed: ERROR: No matching distribution found for no-such-package-aifactory==1.0"
    )
    assert build.parse_progress(log).phase == "failed"
    assert f"removed the unfinished environment {argv[3]}" in log


def test_a_build_past_the_size_limit_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(build_job, "EVERY_S", 0.2)
    monkeypatch.setattr(build_job, "KILL_GRACE_S", 2.0)
    # pip that writes 3 MB and then keeps going (it would until --time)
    body = 'head -c 3000000 /dev/zero > "$(dirname "$0")/big.bin"\nexec sleep 60'
    argv = job_argv(tmp_path, stand_in_base(tmp_path, body), max_gb="0.001")
    out = io.StringIO()
    assert build_job.build(argv, out) == 1
    result = build.result_line(out.getvalue())
    assert result.startswith("failed: the environment reached 3")
    assert "over the site's limit of 1 MB: the build was stopped" in result
    assert not Path(argv[3]).exists()


def test_a_build_that_ends_over_the_limit_between_two_looks_fails(tmp_path):
    """pip may finish before the watcher's next look: the limit is checked once more."""
    body = 'head -c 3000000 /dev/zero > "$(dirname "$0")/big.bin"\nexit 0'
    argv = job_argv(tmp_path, stand_in_base(tmp_path, body), max_gb="0.001")
    out = io.StringIO()
    assert build_job.build(argv, out) == 1
    assert "over the site's limit of 1 MB" in build.result_line(out.getvalue())
    assert not Path(argv[3]).exists() and not Path(argv[8], "myenv").exists()


def test_the_jobs_own_reason_comes_before_pips_last_words():
    """Stopped for its size, pip (killed) may still have printed an ERROR line: the reason
    shown is the job's."""
    log = "ERROR: Operation cancelled by user\nfailed: the environment reached 40 MB, over\n"
    st = build.BuildStatus("35", "FAILED", "ended", None, "", "1:0", tuple(build.errors(log)),
                           build.result_line(log))  # fmt: skip
    assert st.why == "the environment reached 40 MB, over"


def test_slurms_signal_stops_pip_and_cleans_up(tmp_path, monkeypatch):
    monkeypatch.setattr(build_job, "KILL_GRACE_S", 2.0)
    base = stand_in_base(tmp_path, "exec sleep 60")
    prefix = tmp_path / "env"
    build_job.Build(str(prefix), 10**9, io.StringIO()).run([str(base), "-m", "venv", str(prefix)])
    job = build_job.Build(str(prefix), 10**9, io.StringIO())
    threading.Timer(0.5, job.on_signal, args=(15, None)).start()
    why = job.run([str(prefix / "bin" / "python"), "-m", "pip", "install", "x"])
    assert why == "the job was stopped (SIGTERM): it reached its time limit or was cancelled"


def test_an_existing_prefix_is_kept_unless_replace(tmp_path):
    body = 'echo "Installing collected packages: humanize"'
    base = stand_in_base(tmp_path, body)
    argv = job_argv(tmp_path, base)
    Path(argv[3]).mkdir(parents=True)
    (Path(argv[3]) / "old").write_text("mine")
    out = io.StringIO()
    assert build_job.build(argv, out) == 1
    assert (Path(argv[3]) / "old").exists() and "already exists" in out.getvalue()
    assert build_job.build(job_argv(tmp_path, base, mode="replace"), io.StringIO()) == 0
    assert not (Path(argv[3]) / "old").exists()


def test_the_job_script_refuses_arguments_it_does_not_know(capsys):
    good = ["build_job.py", "/py", "/base", "/p", "/r", "5", "8.1.9", "x", "/k", "keep"]
    assert build_job.main(good[:-1]) == 2
    assert build_job.main([*good[:-1], "--wrap=x"]) == 2
    assert build_job.main([*good[:2], "base", *good[3:]]) == 2
    assert "usage" in capsys.readouterr().err
