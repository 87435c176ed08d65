"""Staging requests, the sbatch command, progress and the job script's own copy (pure, on
temporary folders; no Slurm). The real copy job is tests/slurm/test_staging.py."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from aifactory_hub.data import stage_job, staging
from aifactory_hub.data.staging import StagingError, check_request
from aifactory_hub.site import Partition, StorageSettings
from aifactory_hub.slurm import SlurmError
from tests.unit.test_job_follow import Scripted

MINE = ["ai-alpha"]

# Captured from rsync 3.5.0 (`rsync -a --info=progress2 --no-inc-recursive`, 30 MB at
# --bwlimit=10000) writing to a file, read as bytes: every update starts with '\r'.
RSYNC_LOG = (
    b"staging /home/alice/src into /srv/aifactory/projects/ai-alpha\n"
    b"\r         32,768   0%    0.00kB/s    0:00:00  \r     10,551,296  35%    9.77MB/s    0:00:01"
    b"  \r     21,069,824  70%    9.77MB/s    0:00:00  \r     30,000,000  99%    9.94MB/s    "
    b"0:00:02 (xfr#1, to-chk=2/4)\r     30,005,000 100%    9.95MB/s    0:00:02 (xfr#2, to-chk=0/4)"
    b"\r     30,005,000 100%    9.95MB/s    0:00:02 (xfr#2, to-chk=0/4)\n"
).decode()
# The same rsync, run as a user, on a folder holding one file only root may read (exit 23).
RSYNC_FAILED_LOG = (
    b"\r         32,768   1%    0.00kB/s    0:00:00  \r      2,000,000  99%  469.02MB/s    "
    b"0:00:00 (xfr#1, to-chk=1/3)\nrsync: [sender] send_files failed to open "
    b'"/tmp/rs3/src/secret": Permission denied (13)\n\r      2,001,000 100%  469.26MB/s    '
    b"0:00:00 (xfr#2, to-chk=0/3)\r      2,001,000 100%  469.26MB/s    0:00:00 (xfr#2, "
    b"to-chk=0/3)rsync error: some files/attrs were not transferred (see previous errors) "
    b"(code 23) at main.c(1394) [sender=3.5.0]\n\n"
).decode()


@pytest.fixture
def place(tmp_path: Path) -> dict:
    """A site's folders (two projects) and a home holding a file and a folder."""
    storage = StorageSettings(
        project_root=str(tmp_path / "projects"), scratch_root=str(tmp_path / "scratch")
    )
    for root in ("projects", "scratch"):
        for account in ("ai-alpha", "ai-beta"):
            (tmp_path / root / account).mkdir(parents=True)
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "a.csv").write_text("x,y\n1,2\n")
    return {"storage": storage, "home": home, "tmp": tmp_path}


def request(place: dict, **fields) -> staging.StagingRequest:
    values = {"source": str(place["home"] / "data"), "account": "ai-alpha", "folder": "project"}
    values.update(fields)
    return check_request(place["storage"], MINE, home=str(place["home"]), **values)


def refused(place: dict, **fields) -> StagingError:
    with pytest.raises(StagingError) as caught:
        request(place, **fields)
    return caught.value


# --- the request ---------------------------------------------------------------------------


def test_a_folder_in_the_home_goes_into_the_project_folder(place):
    req = request(place, subdir="inputs/v1")
    assert req.source == str(place["home"] / "data")
    assert req.destination == str(place["tmp"] / "projects" / "ai-alpha" / "inputs" / "v1")
    assert req.copy_path == req.destination + "/data"
    assert (req.account, req.folder, req.subdir) == ("ai-alpha", "project", "inputs/v1")


def test_a_home_relative_source_and_the_scratch_folder(place):
    req = request(place, source="~/data/a.csv", folder="scratch", subdir="./run1/")
    assert req.source == str(place["home"] / "data" / "a.csv")
    assert req.destination == str(place["tmp"] / "scratch" / "ai-alpha" / "run1")
    assert req.subdir == "run1"


@pytest.mark.parametrize(
    ("subdir", "words"),
    [
        ("..", "'..'"),
        ("a/../../ai-beta", "'..'"),
        ("/etc", "not an absolute path"),
        ("~/x", "not an absolute path"),
        ("a\x00b", "NUL"),
        ("x" * 5000, "longer than"),
        (7, "must be text"),
    ],
)
def test_a_subfolder_that_is_not_inside_the_folder_is_refused(place, subdir, words):
    err = refused(place, subdir=subdir)
    assert err.field == "subdir" and words in str(err)


def test_a_symlink_in_the_project_folder_to_etc_is_seen(place):
    (place["tmp"] / "projects" / "ai-alpha" / "etc").symlink_to("/etc")
    err = refused(place, subdir="etc")
    assert err.field == "subdir" and "leads out of ai-alpha's project folder (to /etc)" in str(err)
    assert refused(place, subdir="etc/ssh").field == "subdir"


def test_a_symlink_in_the_project_folder_to_another_project_is_seen(place):
    beta = place["tmp"] / "projects" / "ai-beta"
    (place["tmp"] / "projects" / "ai-alpha" / "shared").symlink_to(beta)
    err = refused(place, subdir="shared/new")
    assert err.field == "subdir" and str(beta) in str(err)


def test_a_symlink_that_stays_in_the_folder_is_followed(place):
    alpha = place["tmp"] / "projects" / "ai-alpha"
    (alpha / "v2").mkdir()
    (alpha / "latest").symlink_to(alpha / "v2")
    assert request(place, subdir="latest").destination == str(alpha / "v2")


def test_a_subfolder_that_is_a_file_is_refused(place):
    (place["tmp"] / "projects" / "ai-alpha" / "notes.txt").write_text("hi")
    assert "not a folder" in str(refused(place, subdir="notes.txt"))


@pytest.mark.parametrize("account", ["ai-beta", "nobody", "AI-ALPHA", "", "ai-alpha,ai-beta"])
def test_a_project_that_is_not_the_users_is_refused(place, account):
    err = refused(place, account=account)
    assert err.field == "account"


def test_the_folder_is_project_or_scratch(place):
    err = refused(place, folder="home")
    assert err.field == "folder" and "project, scratch" in str(err)


def test_a_project_without_its_folder_is_refused(place):
    (place["tmp"] / "scratch" / "ai-alpha").rmdir()
    err = refused(place, folder="scratch")
    assert err.field == "folder" and "no scratch folder" in str(err)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("", "is required"),
        ("data/a.csv", "absolute path"),
        ("/no/such/file", "does not exist"),
        ("/dev/null", "not a file or a folder"),
        ("/tmp/x\x00y", "NUL"),
    ],
)
def test_a_source_that_is_not_a_readable_file_or_folder_is_refused(place, source, words):
    err = refused(place, source=source)
    assert err.field == "source" and words in str(err)


def test_a_source_in_another_projects_folder_is_refused_even_through_a_symlink(place):
    secret = place["tmp"] / "projects" / "ai-beta" / "model.pt"
    secret.write_bytes(b"weights")
    (place["home"] / "theirs").symlink_to(secret)
    for source in (str(secret), "~/theirs", f"{place['home']}/../projects/ai-beta/model.pt"):
        err = refused(place, source=source)
        assert err.field == "source" and "in a folder of ai-beta, not yours" in str(err)


def test_a_source_in_the_users_own_project_folder_may_go_to_scratch(place):
    own = place["tmp"] / "projects" / "ai-alpha" / "big.bin"
    own.write_bytes(b"0" * 10)
    assert request(place, source=str(own), folder="scratch").source == str(own)


def test_a_source_holding_the_destination_or_already_there_is_refused(place):
    alpha = place["tmp"] / "projects" / "ai-alpha"
    (alpha / "sub").mkdir()
    assert refused(place, source=str(alpha), subdir="sub").field == "source"
    (alpha / "f.txt").write_text("x")
    assert "already in" in str(refused(place, source=str(alpha / "f.txt")))


def test_what_the_user_may_not_read_or_write_is_refused(place, monkeypatch):
    """Checked with the process's own identity (os.access); the suite may run as root, so
    the answers are stood in for here (the real-stack test asks the filesystem as alice)."""
    home, alpha = str(place["home"]), str(place["tmp"] / "projects" / "ai-alpha")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: p != alpha and real_access(p, mode))
    assert refused(place).field == "account"
    monkeypatch.setattr(os, "access", lambda p, mode: not str(p).startswith(home))
    err = refused(place)
    assert err.field == "source" and "you cannot read" in str(err)


# --- the job -------------------------------------------------------------------------------

CPU = Partition(name="cpu", default=True, nodes=2, cpus_per_node=4, memory_gb_per_node=5,
                max_walltime_hours=8, max_cpus=2, max_memory_gb=4)  # fmt: skip
GPU = Partition(name="gpu", nodes=1, cpus_per_node=4, memory_gb_per_node=5, gpu_type="a100",
                gpus_per_node=2, max_walltime_hours=4, max_cpus=2, max_memory_gb=4,
                max_gpus=2, min_gpus=1)  # fmt: skip


def test_user_text_reaches_sbatch_only_as_the_scripts_trailing_arguments(place):
    name = "--wrap=rm -rf ~ $(id) `x`; #SBATCH --account=ai-beta"
    (place["home"] / name).write_text("x")
    req = request(place, source=f"~/{name}", subdir="in put")
    argv = staging.sbatch_argv(req, CPU, "/home/alice", minutes=30)
    script = argv.index(str(staging.SCRIPT))
    assert argv[script + 1 :] == ["keep-times", req.source, req.destination]
    options = argv[:script]
    assert options == [
        "sbatch", "--parsable", "--account=ai-alpha", "--partition=cpu",
        "--job-name=aifactory-stage", "--time=30", "--nodes=1", "--ntasks=1",
        "--cpus-per-task=1", "--mem=2G", "--chdir=/home/alice",
        "--output=/home/alice/.aifactory-jobs/staging/%j.log",
    ]  # fmt: skip
    assert not any(name in a or "in put" in a for a in options)
    assert staging.SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")


def test_a_copy_into_scratch_starts_the_purge_clock_at_the_copy(place):
    req = request(place, folder="scratch")
    assert staging.sbatch_argv(req, CPU, "/home/alice")[-3] == "fresh-times"
    assert "--no-times" in stage_job.rsync_argv("fresh-times", "/a", "/b")
    assert "--no-times" not in stage_job.rsync_argv("keep-times", "/a", "/b")


def test_the_time_limit_is_within_the_partitions(place):
    req = request(place)
    for minutes in (0, 8 * 60 + 1, "60", True):
        with pytest.raises(StagingError) as caught:
            staging.sbatch_argv(req, CPU, "/home/alice", minutes=minutes)
        assert caught.value.field == "minutes" and "1 to 480" in str(caught.value)


def test_a_copy_runs_on_the_default_partition_without_gpus():
    other = CPU.model_copy(update={"name": "small", "default": False})
    assert staging.staging_partition([GPU, other, CPU]).name == "cpu"
    assert staging.staging_partition([GPU, other]).name == "small"
    with pytest.raises(StagingError, match="account: the project has no partition"):
        staging.staging_partition([GPU])


def test_submit_makes_the_private_log_folder_and_returns_the_job_id(place):
    req, home, seen = request(place), place["tmp"] / "alice", []
    home.mkdir()
    job = staging.submit(req, CPU, str(home), run=lambda argv: seen.append(argv) or "4242\n")
    assert job == "4242" and seen == [staging.sbatch_argv(req, CPU, str(home))]
    assert stat.S_IMODE((home / ".aifactory-jobs" / "staging").stat().st_mode) == 0o700
    with pytest.raises(SlurmError, match="no job id"):
        staging.submit(req, CPU, str(home), run=lambda argv: "sbatch: queued\n")


def test_the_job_gets_no_hub_token_or_session_job_variables():
    env = {"HOME": "/home/alice", "PATH": "/usr/bin", "JUPYTERHUB_API_TOKEN": "t",
           "SLURM_JOB_ID": "7", "SLURM_JOB_ACCOUNT": "ai-alpha"}  # fmt: skip
    assert staging.job_env(env) == {"HOME": "/home/alice", "PATH": "/usr/bin"}


# --- progress ------------------------------------------------------------------------------


def test_rsync_progress_is_read_from_its_last_rewritten_line():
    assert staging.parse_progress(RSYNC_LOG) == staging.Progress(30_005_000, 100)
    cut = RSYNC_LOG[: RSYNC_LOG.index("  \r     21,069,824")]
    assert staging.parse_progress(cut) == staging.Progress(10_551_296, 35)
    assert staging.parse_progress(RSYNC_FAILED_LOG) == staging.Progress(2_001_000, 100)


def test_progress_in_other_locales_and_from_the_python_copy():
    assert staging.parse_progress("\r  1.234.567  45%  1.00MB/s  0:00:01") == staging.Progress(
        1_234_567, 45
    )
    assert staging.parse_progress("\r        512   3%  0.50kB/s  0:00:00").percent == 3
    log = "staging /a into /b\nprogress 0 2000 0%\nprogress 1500 2000 75%\n"
    assert staging.parse_progress(log) == staging.Progress(1500, 75, 2000)
    assert staging.parse_progress("staging /a into /b\n") is None
    assert staging.parse_progress("") is None


def test_the_log_tail_keeps_the_latest_progress_and_rsyncs_errors():
    assert staging.log_tail(RSYNC_LOG).splitlines() == [
        "staging /home/alice/src into /srv/aifactory/projects/ai-alpha",
        "30,005,000 100%    9.95MB/s    0:00:02 (xfr#2, to-chk=0/4)",
    ]
    tail = staging.log_tail(RSYNC_FAILED_LOG).splitlines()
    assert tail[0].startswith("rsync: [sender] send_files failed to open")
    assert tail[1].startswith("2,001,000 100%")
    assert tail[2].startswith("rsync error: some files/attrs were not transferred")
    assert staging.log_tail("\n".join(f"line {i}" for i in range(30)), lines=3) == (
        "line 27\nline 28\nline 29"
    )


# --- the job's state -----------------------------------------------------------------------


def test_the_state_comes_from_squeue_then_from_sacct_once_it_ended():
    assert staging.job_phase("12", "12|RUNNING|None|N/A|cpu1|ai-alpha|cpu|alice\n", None) == (
        "RUNNING", "running", "",
    )  # fmt: skip
    assert staging.job_phase("12", "12|PENDING|Priority|N/A||ai-alpha|cpu|alice", None)[1] == (
        "pending"
    )
    squeue_done = "12|COMPLETED|None|N/A|cpu1|ai-alpha|cpu|alice\n"
    assert staging.job_phase("12", squeue_done, "12|FAILED|23:0|None\n") == (
        "FAILED", "ended", "23:0",
    )  # fmt: skip
    assert staging.job_phase("12", None, "12|COMPLETED|0:0|None\n") == (
        "COMPLETED", "ended", "0:0",
    )  # fmt: skip
    assert staging.job_phase("12", squeue_done, "")[:2] == ("COMPLETED", "ended")
    assert staging.job_phase("12", None, None) == ("", "unknown", "")


def test_status_reads_slurm_and_the_log(tmp_path):
    logs = tmp_path / ".aifactory-jobs" / "staging"
    logs.mkdir(parents=True)
    (logs / "12.log").write_bytes(RSYNC_FAILED_LOG.encode())
    asked = []

    def run(argv):
        asked.append(argv[0])
        if argv[0] == "squeue":
            raise SlurmError(argv, 1, "", "slurm_load_jobs error: Invalid job id specified")
        return "12|FAILED|23:0|None\n"

    st = staging.status("12", str(tmp_path), run=run)
    assert asked == ["squeue", "sacct"]
    assert (st.state, st.ended, st.ok, st.progress.percent) == ("FAILED", True, False, 100)
    assert "rsync error" in st.tail
    ok = staging.StagingStatus("13", "COMPLETED", "ended", None, "", "0:0")
    assert ok.ok
    with pytest.raises(ValueError, match="not a Slurm job id"):
        staging.status("12; rm", str(tmp_path), run=run)


# --- the job script's own copy (where the node has no rsync) -------------------------------


def test_the_python_copy_shares_the_files_with_the_group_and_prints_progress(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "w.bin").write_bytes(b"1" * 3000)
    (src / "run.sh").write_text("echo hi\n")
    (src / "run.sh").chmod(0o700)
    (src / "sub" / "w.bin").chmod(0o600)
    (src / "link").symlink_to("/etc/passwd")
    os.utime(src / "sub" / "w.bin", (1_000_000_000, 1_000_000_000))
    dest = tmp_path / "dest"
    dest.mkdir()
    out = io.StringIO()
    assert stage_job.python_copy("keep-times", str(src), str(dest), out) == 3008
    copy = dest / "src"
    assert (copy / "sub" / "w.bin").read_bytes() == b"1" * 3000
    assert os.readlink(copy / "link") == "/etc/passwd"
    assert stat.S_IMODE((copy / "sub" / "w.bin").stat().st_mode) == 0o660
    assert stat.S_IMODE((copy / "run.sh").stat().st_mode) == 0o770
    assert stat.S_IMODE((copy / "sub").stat().st_mode) == 0o2770
    assert (copy / "sub" / "w.bin").stat().st_mtime == 1_000_000_000
    lines = out.getvalue().splitlines()
    assert lines[0] == "progress 0 3008 0%" and lines[-1] == "progress 3008 3008 100%"
    assert staging.parse_progress(out.getvalue()) == staging.Progress(3008, 100, 3008)


def test_the_python_copy_into_scratch_gives_fresh_times(tmp_path):
    src = tmp_path / "old.txt"
    src.write_text("old")
    os.utime(src, (1_000_000_000, 1_000_000_000))
    stage_job.python_copy("fresh-times", str(src), str(tmp_path / "out"), io.StringIO())
    assert (tmp_path / "out" / "old.txt").stat().st_mtime > 1_000_000_000


def test_the_job_script_refuses_arguments_it_does_not_know(capsys):
    assert stage_job.main(["stage_job.py", "--wrap=x", "/a", "/b"]) == 2
    assert stage_job.main(["stage_job.py", "keep-times", "/a"]) == 2
    assert "usage" in capsys.readouterr().err


# --- the widget (headless, scripted Slurm) -------------------------------------------------


@pytest.fixture
def widget_env(place, demo_site):
    from aifactory_hub.service.routes.jobs import jobs_facts, project_partitions
    from aifactory_widgets.jobs.limits import JobSite

    home = place["home"]
    site = JobSite.from_json(jobs_facts(demo_site, project_partitions(demo_site, {}, "alice")))
    environ = {"HOME": str(home), "SLURM_JOB_ACCOUNT": "ai-alpha", "SLURM_JOB_PARTITION": "cpu",
               "PROJECT_DIR": str(place["tmp"] / "projects" / "ai-alpha"),
               "SCRATCH_DIR": str(place["tmp"] / "scratch" / "ai-alpha")}  # fmt: skip
    return {"site": site, "environ": environ, "home": home, "tmp": place["tmp"]}


def staging_widget(widget_env, runner):
    from aifactory_widgets import DataStaging

    return DataStaging(site=widget_env["site"], runner=runner, environ=widget_env["environ"])


def test_the_widget_finds_the_folders_from_the_sessions_variables(widget_env):
    from aifactory_widgets.data.staging import storage_from_env

    storage = storage_from_env(widget_env["environ"])
    assert storage.project_root == str(widget_env["tmp"] / "projects")
    assert storage.scratch_root == str(widget_env["tmp"] / "scratch")
    assert storage_from_env({}).project_root == StorageSettings().project_root
    d = staging_widget(widget_env, Scripted())
    assert d.project.value == "ai-alpha" and d.folder.value == "project"
    assert "projects/ai-alpha</code>, shared with ai-alpha's members only" in d.where.value
    d.folder.value = "scratch"
    assert "scratch/ai-alpha" in d.where.value and "removed from scratch" in d.where.value


def test_the_widget_refuses_in_words_and_submits_nothing(widget_env):
    runner = Scripted(sbatch="91\n")
    d = staging_widget(widget_env, runner)
    d.source.value = "~/data"
    d.subdir.value = "../ai-beta"
    assert d.copy() == ""
    assert d.message.value == "Refused: subdir: must not contain '..'"
    d.subdir.value, d.source.value = "", "~/nothing-here"
    assert d.copy() == "" and d.message.value.startswith("Refused: source: ")
    assert "does not exist" in d.message.value and "Traceback" not in d.message.value
    assert runner.calls == []


def test_the_widget_submits_the_copy_and_follows_it_to_the_end(widget_env):
    logs = widget_env["home"] / ".aifactory-jobs" / "staging"
    runner = Scripted(sbatch="91\n", squeue="91|RUNNING|None|N/A|cpu1|ai-alpha|cpu|alice\n")
    d = staging_widget(widget_env, runner)
    d.source.value, d.subdir.value = "~/data", "raw"
    assert d.copy() == "91"
    sbatch = runner.calls[0]
    assert sbatch[:3] == ["sbatch", "--parsable", "--account=ai-alpha"]
    assert "--partition=cpu" in sbatch and "--time=60" in sbatch
    assert sbatch[-2:] == [str(widget_env["home"] / "data"),
                           str(widget_env["tmp"] / "projects" / "ai-alpha" / "raw")]  # fmt: skip
    assert "Submitted job 91" in d.message.value and d.job_box.layout.display == "flex"
    assert d.state.value == "Job 91, copying."
    (logs / "91.log").write_bytes(RSYNC_LOG[: RSYNC_LOG.index("  \r     21,069,824")].encode())
    d.refresh()
    assert d.bar.value == 35 and d.state.value == "Job 91, copying: 35%, 10.6 MB."
    assert d.copy() == "" and "still copying" in d.message.value
    (logs / "91.log").write_bytes(RSYNC_LOG.encode())
    runner.answers.update(squeue="91|COMPLETED|None|N/A|cpu1|ai-alpha|cpu|alice\n",
                          sacct="91|COMPLETED|0:0|None\n")  # fmt: skip
    st = d.refresh()
    assert st.ok and d.bar.value == 100 and d.bar.bar_style == "success"
    assert d.state.value == "Job 91, done: 100%, 30 MB."
    assert "30,005,000 100%" in d.tail.value and d.cancel_button.disabled


def test_the_widget_says_how_a_failed_copy_ended(widget_env):
    logs = widget_env["home"] / ".aifactory-jobs" / "staging"
    runner = Scripted(sbatch="92", sacct="92|FAILED|23:0|None\n",
                      squeue=SlurmError(["squeue"], 1, "", "Invalid job id specified"))  # fmt: skip
    d = staging_widget(widget_env, runner)
    d.source.value = "~/data"
    logs.mkdir(parents=True)
    (logs / "92.log").write_bytes(RSYNC_FAILED_LOG.encode())
    assert d.copy() == "92"
    assert d.state.value == "Job 92, ended FAILED (23:0): 100%, 2 MB."
    assert d.bar.bar_style == "danger" and "Permission denied" in d.tail.value


def test_slurm_refusing_the_copy_is_said_in_words(widget_env):
    err = SlurmError(["sbatch"], 1, "", "sbatch: error: Invalid account or account/partition")
    d = staging_widget(widget_env, Scripted(sbatch=err))
    d.source.value = "~/data"
    assert d.copy() == ""
    assert d.message.value == (
        "Slurm refused the copy: sbatch: error: Invalid account or account/partition"
    )


def test_the_guide_quotes_the_sites_folders_and_purge_age():
    from aifactory_hub.service.routes.site import public_site
    from aifactory_hub.site import DEMO_SITE, parse_site
    from aifactory_widgets.guides.facts import site_facts
    from aifactory_widgets.guides.library import fill, load_guides

    guide = next(g for g in load_guides() if g.slug == "moving-and-staging-data")
    text = DEMO_SITE.read_text()
    assert "scratch_purge_days = 14\n" in text
    changed = text.replace("scratch_purge_days = 14\n", "scratch_purge_days = 21\n").replace(
        'scratch_root = "/srv/aifactory/scratch"', 'scratch_root = "/lustre/scratch"'
    )
    before = fill(guide, site_facts(public_site(parse_site(text))))
    after = fill(guide, site_facts(public_site(parse_site(changed))))
    assert "files unchanged for 14 days are removed" in before
    assert "files unchanged for 21 days are removed" in after
    assert "`/lustre/scratch/<project>` | `$SCRATCH_DIR`" in after
    assert "from aifactory_widgets import DataStaging" in after
