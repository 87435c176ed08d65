"""The launchers and the monitor, headless, with scripted Slurm answers and a fake cluster."""

from __future__ import annotations

import io
import json
import os
import pwd
import sys

import pytest

from aifactory_hub.service.routes.jobs import jobs_facts, project_partitions
from aifactory_hub.slurm import jobs
from aifactory_hub.slurm.efficiency import efficiency_argv
from aifactory_widgets import DaskLauncher, JobMonitor, SweepLauncher, TrainingLauncher
from aifactory_widgets.jobs.dask import reaper
from aifactory_widgets.jobs.limits import JobSite


@pytest.fixture
def site(demo_site) -> JobSite:
    return JobSite.from_json(jobs_facts(demo_site, project_partitions(demo_site, {}, "bob")))


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    (tmp_path / "train.py").write_text("print('hi')\n")
    return {"SLURM_JOB_ACCOUNT": "ai-beta", "SLURM_JOB_PARTITION": "cpu", "HOME": str(tmp_path),
            "JUPYTERHUB_SERVICE_PREFIX": "/user/bob/"}  # fmt: skip


class Scripted:
    """Answers Slurm commands by their first word; records every call."""

    def __init__(self, **answers: str):
        self.answers = answers
        self.calls: list[tuple[list[str], str | None]] = []

    def run(self, argv, input=None):
        self.calls.append((list(argv), input))
        answer = self.answers.get(argv[0], "")
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_training_defaults_to_the_session_place_and_shows_the_script_first(site, env):
    runner = Scripted(sbatch="77\n")
    t = TrainingLauncher(site=site, runner=runner, environ=env, python="/v/bin/python")
    assert (t.placement.account, t.placement.partition.value) == ("ai-beta", "cpu")
    assert t.placement.partition.options == ("cpu",)  # ai-beta may use cpu only
    assert t.submit() == "" and runner.calls == []  # nothing before a review
    t.script.value = "train.py"
    script = t.review()
    assert "#SBATCH --account=ai-beta" in script and not t.submit_button.disabled
    t.arguments.value = "--epochs 2"  # a change takes it back to review
    assert t.submit_button.disabled and "review the script again" in t.message.value
    script = t.review()
    assert t.submit() == "77"
    assert runner.calls == [(["sbatch", "--parsable"], script)]
    assert "Submitted job 77" in t.message.value and "--epochs 2" in script


def test_training_over_the_limits_is_refused_with_the_reason(site, env):
    runner = Scripted(sbatch="77")
    t = TrainingLauncher(site=site, runner=runner, environ=env)
    t.script.value = "train.py"
    t.tasks.value = 2
    t.cpus_per_task.value = 2
    assert t.review() == ""
    assert t.message.value.startswith("Refused: cpus_per_task: 2 tasks x 2 CPUs = 4 CPUs")
    t.tasks.value, t.cpus_per_task.value = 1, 1
    t.script.value = "missing.py"
    assert t.review() == "" and "~/missing.py is not a file" in t.message.value
    assert runner.calls == [] and t.submit_button.disabled


def test_gpu_partition_runs_one_task_per_gpu(site, env):
    t = TrainingLauncher(site=site, runner=Scripted(), environ={**env, "SLURM_JOB_ACCOUNT":
                         "ai-alpha", "SLURM_JOB_PARTITION": "gpu"})  # fmt: skip
    t.script.value = "train.py"
    assert t.gpus.min == 1 and t.gpus.max == 2
    t.gpus.value = 2
    script = t.review()
    assert "#SBATCH --gres=gpu:sim:2" in script and "#SBATCH --ntasks-per-node=2" in script


def test_sweep_writes_its_grid_then_submits_an_array(site, env, tmp_path):
    runner = Scripted(sbatch="90")
    s = SweepLauncher(site=site, runner=runner, environ=env)
    s.script.value = "train.py"
    s.set_grid({"lr": "0.1, 0.01, 0.001"})
    script = s.review()
    assert "#SBATCH --array=0-2%4" in script and "<table" in s.preview.value
    assert s.submit() == "90"
    lines = (tmp_path / ".aifactory-jobs" / "sweeps").glob("*.jsonl")
    (grid,) = list(lines)
    assert [json.loads(x) for x in grid.read_text().splitlines()] == [
        {"lr": 0.1},
        {"lr": 0.01},
        {"lr": 0.001},
    ]
    assert str(grid) in script
    s.set_grid({"lr": ""})
    assert s.review() == "" and "at least one value" in s.message.value


SQUEUE = "12|bob|ai-beta|cpu|PENDING|Priority|2026-11-27T17:00:00|0:00|1|aif-train\n"
SACCT = (  # slurm.jobs.recent_jobs_argv's fields
    "11|cpu|ai-beta|COMPLETED|0:0|2026-11-26T10:00:00|2026-11-26T11:00:00|01:00:00|3600|"
    "cpu=2,mem=4G,node=1|/home/bob|cpu[1-2]|<b>x</b>\n"
)


def test_monitor_lists_cancels_after_asking_and_tails_output(env, tmp_path):
    runner = Scripted(squeue=SQUEUE, sacct=SACCT, scontrol="JobId=12 StdOut=/nonexistent")
    m = JobMonitor(runner=runner, environ=env)
    user = pwd.getpwuid(os.getuid()).pw_name  # who Slurm sees: the kernel's own identity
    assert [argv for argv, _ in runner.calls] == [
        jobs.user_queue_argv(user),
        jobs.recent_jobs_argv(user, "now-1days"),
        efficiency_argv(["11"]),  # the finished job's use (test_job_efficiency_widget.py)
    ]
    assert [(r.id, r.state, r.cost) for r in m.rows] == [
        ("12", "PENDING", "0.000"),
        ("11", "COMPLETED", "2.000 CPU-h"),
    ]
    labels = [c.value for c in m.table.children[2].children if hasattr(c, "value")]
    assert "<b>x</b>" in labels  # a Label: shown as text, never as markup
    assert m.output_path(m.rows[0]) == "/nonexistent"  # a live job's: Slurm's StdOut=
    assert runner.calls[-1] == (jobs.show_job_argv("12"), None)
    m.ask_cancel(m.rows[0])
    assert not any(call[0][0] == "scancel" for call in runner.calls)  # it asks first
    m.confirm.yes.click()
    assert (["scancel", "12"], None) in runner.calls and "Job 12 cancelled" in m.message.value
    out = tmp_path / ".aifactory-jobs"
    out.mkdir()
    (out / "11.out").write_text("epoch 1\nepoch 2\n")
    assert m.show_output(m.rows[1]) == "epoch 1\nepoch 2"
    m.runner = Scripted(squeue=RuntimeError("no"))
    with pytest.raises(RuntimeError):
        m.refresh()  # only Slurm's own errors are shown; a bug is a bug


def test_monitor_shows_slurm_errors(env):
    from aifactory_hub.slurm import ControllerUnreachable

    down = ControllerUnreachable(["squeue"], None, "", "")
    m = JobMonitor(runner=Scripted(squeue=down), environ=env)
    assert m.status.value.startswith("Could not ask Slurm") and m.rows == []


class FakeCluster:
    def __init__(self, **options):
        self.options = options
        self.adapted = None
        self.closed = False
        self.workers = {"w0": type("Job", (), {"job_id": "31"})()}
        workers = {"tcp://127.0.0.1:1": {"name": "w0", "nthreads": 1}}
        self.scheduler_info = {"services": {"dashboard": 8788}, "workers": workers}

    def adapt(self, **kw):
        self.adapted = kw

    def scale(self, n):
        self.scaled = n

    def close(self):
        self.closed = True


class FakeClient:
    def __init__(self, cluster):
        self.cluster = cluster
        self.closed = False

    def close(self):
        self.closed = True


class FakeReaper:
    def __init__(self, user, name):
        self.args = (user, name)
        self.stdin = io.BytesIO()

    def wait(self, timeout):
        return 0


def test_dask_launcher_starts_adapts_links_and_stops_after_asking(site, env):
    made = {}

    def cluster(**options):
        made["cluster"] = FakeCluster(**options)
        return made["cluster"]

    def reaper_for(user, name):
        made["reaper"] = FakeReaper(user, name)
        return made["reaper"]

    launcher = DaskLauncher(
        site=site,
        environ=env,
        cluster_factory=cluster,
        client_factory=FakeClient,
        reaper_factory=reaper_for,
    )
    launcher.minimum.value, launcher.maximum.value = 1, 3
    client = launcher.start()
    fake = made["cluster"]
    assert client.cluster is fake and launcher.client is client
    assert fake.options["account"] == "ai-beta" and fake.options["queue"] == "cpu"
    assert fake.scaled == 1 and fake.adapted == {"minimum": 1, "maximum": 3}
    assert made["reaper"].args[1] == fake.options["job_name"]
    assert launcher.dashboard_url == "/user/bob/proxy/8788/status"
    assert launcher.watch() == 1 and "Slurm jobs: 31" in launcher.status.value
    launcher.ask_stop()
    assert not fake.closed  # it asks first
    launcher.confirm.yes.click()
    assert fake.closed and client.closed and made["reaper"].stdin.closed
    assert launcher.client is None and "Stopped" in launcher.message.value
    launcher.minimum.value = 3
    launcher.maximum.value = 2
    assert launcher.start() is None and "Not started: minimum" in launcher.message.value


def test_reaper_cancels_the_cluster_jobs_at_end_of_file(monkeypatch):
    cancelled = []
    monkeypatch.setattr(
        reaper, "cancel_named", lambda _r, user, name: cancelled.append((user, name))
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert reaper.main(["bob", "aif-dask-1234abcd"]) == 0
    assert cancelled == [("bob", "aif-dask-1234abcd")]
    assert reaper.main(["bob", "my-training"]) == 2 and len(cancelled) == 1


def test_monitor_refreshes_on_the_browser_timer(env):
    runner = Scripted(squeue=SQUEUE, sacct=SACCT)
    m = JobMonitor(runner=runner, environ=env, refresh_s=5)
    before = len(runner.calls)
    m.timer.value += 1  # what the Play widget's tick in the browser does
    # one squeue, one sacct, and one sacct more for the finished job accounting has no
    # figures for yet (this scripted one never has)
    assert m.ticks == 1 and len(runner.calls) == before + 3
    assert m.timer.interval == 5000 and m.timer.repeat


def test_launchers_say_so_when_the_service_does_not_answer(env):
    from aifactory_widgets import FactoryError

    class Down:
        def get(self, path):
            assert path == "api/site/partitions"
            raise FactoryError(0, "the factory service did not answer")

    dask = DaskLauncher(client=Down(), environ=env)
    assert (
        "Cannot offer a Dask cluster: the factory service did not answer" in dask.children[0].value
    )
    training = TrainingLauncher(client=Down(), runner=Scripted(), environ=env)
    assert training.children[0].value.startswith("Cannot offer distributed training jobs")
