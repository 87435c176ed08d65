"""The environment widgets, headless: RegisterKernel on temporary folders (the python a
stand-in script), BuildEnvironment against scripted Slurm answers and logs written as the
build job writes them. The real job is tests/slurm/test_environment_build.py."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

import aifactory_widgets
from aifactory_hub.environments import build
from aifactory_hub.site import SoftwareSettings
from aifactory_hub.slurm import SlurmError, jobs
from aifactory_widgets.environments.build import package_list, software_from_facts
from aifactory_widgets.environments.register import kernels_table
from tests.unit.test_environment_build import DONE_LOG, FAILED_LOG, RUNNING_LOG, write_log
from tests.unit.test_environment_register import OTHER_UID, fake_env
from tests.unit.test_job_follow import Scripted
from tests.unit.test_widgets_apply import FakeClient


@pytest.fixture
def env(tmp_path, demo_site) -> dict:
    from aifactory_hub.service.routes.jobs import jobs_facts, project_partitions
    from aifactory_widgets.jobs.limits import JobSite

    home = tmp_path / "home"
    home.mkdir()
    site = JobSite.from_json(jobs_facts(demo_site, project_partitions(demo_site, {}, "alice")))
    environ = {"HOME": str(home), "SLURM_JOB_ACCOUNT": "ai-alpha", "SLURM_JOB_PARTITION": "cpu"}
    return {"site": site, "environ": environ, "home": home, "tmp": tmp_path}


def builder(env, runner, software=None):
    return aifactory_widgets.BuildEnvironment(
        site=env["site"],
        software=software or SoftwareSettings(build_minutes=30, build_max_gb=3),
        runner=runner,
        environ=env["environ"],
    )


# --- RegisterKernel --------------------------------------------------------------------------


def test_the_widget_registers_the_users_environment(env):
    prefix = fake_env(env["tmp"])
    widget = aifactory_widgets.RegisterKernel(environ=env["environ"])
    assert "no kernels of your own" in widget.kernels.value
    widget.prefix.value, widget.display_name.value = str(prefix), "My project"
    assert widget.register() == "my-project"
    assert widget.message.value.startswith("Registered the kernel “My project” (<code>my-project")
    assert "launcher" in widget.message.value
    assert f"{prefix}/bin/python" in widget.kernels.value
    spec = env["home"] / ".local/share/jupyter/kernels/my-project/kernel.json"
    assert json.loads(spec.read_text())["argv"][0] == f"{prefix}/bin/python"


def test_the_widget_refuses_someone_elses_environment_in_words(env):
    prefix = fake_env(env["tmp"])
    os.chown(prefix, OTHER_UID, OTHER_UID)
    widget = aifactory_widgets.RegisterKernel(environ=env["environ"])
    widget.prefix.value, widget.display_name.value = str(prefix), "<b>theirs</b>"
    assert widget.register() == ""
    assert widget.message.value.startswith("Refused: prefix: the folder ")
    assert "is not yours" in widget.message.value
    assert not (env["home"] / ".local").exists()


def test_the_kernels_table_escapes_what_it_shows(env):
    folder = env["home"] / ".local/share/jupyter/kernels/x"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text('{"argv": ["/p/bin/python"], "display_name": "<script>"}')
    table = kernels_table(str(env["home"]))
    assert "&lt;script&gt;" in table and "<script>" not in table


# --- BuildEnvironment --------------------------------------------------------------------------


def test_the_build_bounds_come_from_the_sites_facts():
    facts = {"software": {"build_minutes": 45, "build_max_gb": 7.5, "build_partition": "cpu",
                          "kernels_root": "/elsewhere"}}  # fmt: skip
    got = software_from_facts(facts)
    assert (got.build_minutes, got.build_max_gb, got.build_partition) == (45, 7.5, "cpu")
    assert software_from_facts({"name": "AI Factory"}) == SoftwareSettings()


def test_built_without_a_software_answer_the_widget_uses_the_site_defaults(env):
    client = FakeClient({("GET", "api/site"): {"name": "x"}})
    widget = aifactory_widgets.BuildEnvironment(
        client=client, site=env["site"], runner=Scripted(), environ=env["environ"]
    )
    assert widget.software == SoftwareSettings()
    assert client.calls == [("GET", "api/site", None)]


def test_the_form_says_where_and_within_what_the_build_runs(env):
    widget = builder(env, Scripted())
    assert widget.project.value == "ai-alpha" and widget.source.value == "requirements"
    widget.env_name.value = "myenv"
    assert "~/.local/share/aifactory/envs/myenv" in widget.where.value
    assert "partition cpu, charged to ai-alpha: at most 30 min and 3 GB" in widget.where.value
    assert "“Python 3 (myenv)”" in widget.where.value
    widget.source.value = "packages"
    assert widget.text.placeholder == "numpy pandas scikit-learn"


def test_the_widget_refuses_in_words_and_submits_nothing(env):
    runner = Scripted(sbatch="91\n")
    widget = builder(env, runner)
    widget.env_name.value = "myenv"
    widget.text.value = "humanize\n--index-url https://evil.example/simple\n"
    assert widget.submit() == ""
    assert widget.message.value == (
        "Refused: requirements: line 2: &#x27;--index-url https://evil.example/simple&#x27; is "
        "a pip option; only package requirements are built"
    )
    widget.text.value, widget.env_name.value = "humanize", "My Env"
    assert widget.submit() == "" and widget.message.value.startswith("Refused: name: ")
    assert runner.calls == []
    assert not (env["home"] / build.LOG_DIR).exists()


def test_an_uploaded_environment_yml_is_refused_the_site_has_no_conda(env):
    widget = builder(env, Scripted())
    widget.env_name.value = "myenv"
    content = b"name: x\ndependencies:\n"
    upload = {"name": "environment.yml", "type": "", "size": len(content),
              "content": memoryview(content), "last_modified": datetime.now(UTC)}  # fmt: skip
    widget.upload.value = (upload,)  # what the browser sends for one file
    assert widget.source.value == "environment_yml"
    assert widget.text.value.startswith("name: x")
    assert widget.submit() == ""
    assert "Refused: environment_yml: this site has no conda" in widget.message.value


def test_package_names_are_split_on_spaces_and_commas():
    assert package_list("numpy pandas,rich[jupyter,x]\nscipy>=1.11") == [
        "numpy", "pandas", "rich[jupyter,x]", "scipy>=1.11",
    ]  # fmt: skip


def test_the_widget_submits_the_build_and_follows_it_to_the_kernel(env):
    runner = Scripted(sbatch="91\n", squeue="91|RUNNING|None|N/A|cpu1|ai-alpha|cpu|alice\n")
    widget = builder(env, runner)
    widget.env_name.value = "myenv"
    widget.source.value = "packages"
    widget.text.value = "humanize termcolor"
    assert widget.submit() == "91"
    sbatch = runner.calls[0]
    assert sbatch[:3] == ["sbatch", "--parsable", "--account=ai-alpha"]
    assert "--partition=cpu" in sbatch and "--time=30" in sbatch
    request_file = Path(sbatch[sbatch.index(str(build.SCRIPT)) + 4])
    assert request_file.read_text() == "humanize\ntermcolor\n"
    assert "Submitted job 91: building myenv with 2 requirement(s)" in widget.message.value
    assert widget.job_box.layout.display == "flex"
    assert widget.state.value == "Job 91, running."
    write_log(env["home"], "91", RUNNING_LOG)
    widget.refresh()
    assert widget.bar.value == 70
    assert widget.state.value == "Job 91, running: installing packages, 0:10 so far, 98.3 MB."
    assert "Installing collected packages" in widget.tail.value
    assert widget.submit() == "" and "still building" in widget.message.value
    write_log(env["home"], "91", DONE_LOG)
    runner.answers.update(squeue="", sacct="91|COMPLETED|0:0|None\n")
    st = widget.refresh()
    assert st.ok and widget.bar.value == 100 and widget.bar.bar_style == "success"
    assert widget.state.value == "Job 91, done: 0:13, 138 MB."
    assert "The kernel “Python 3 (myenv)” is registered" in widget.result.value
    assert widget.cancel_button.disabled and not widget.timer.playing


def test_the_widget_says_why_a_build_failed_in_pips_words(env):
    runner = Scripted(sbatch="92", sacct="92|FAILED|1:0|None\n",
                      squeue=SlurmError(["squeue"], 1, "", "Invalid job id specified"))  # fmt: skip
    widget = builder(env, runner)
    widget.env_name.value = "myenv"
    widget.text.value = "humanize\nno-such-package-aifactory==1.0\n"
    write_log(env["home"], "92", FAILED_LOG)
    assert widget.submit() == "92"
    assert widget.state.value == "Job 92, ended FAILED (1:0): 0:09, 24.1 MB."
    assert widget.bar.bar_style == "danger"
    assert "The build failed:" in widget.result.value
    assert "No matching distribution found for no-such-package-aifactory==1.0" in (
        widget.result.value
    )
    assert "Traceback" not in widget.result.value and "removed" in widget.result.value


def test_slurm_refusing_the_build_is_said_in_words(env):
    err = SlurmError(["sbatch"], 1, "", "sbatch: error: Invalid account or account/partition")
    widget = builder(env, Scripted(sbatch=err))
    widget.env_name.value = "myenv"
    widget.text.value = "humanize"
    assert widget.submit() == ""
    assert widget.message.value == (
        "Slurm refused the build: sbatch: error: Invalid account or account/partition"
    )
    assert list((env["home"] / build.LOG_DIR).iterdir()) == []


def test_cancelling_asks_first_then_runs_scancel(env):
    runner = Scripted(sbatch="93", squeue="93|PENDING|Priority|N/A||ai-alpha|cpu|alice\n")
    widget = builder(env, runner)
    widget.env_name.value = "myenv"
    widget.text.value = "humanize"
    widget.submit()
    assert widget.state.value == "Job 93, waiting for a node."
    widget.ask_cancel()
    assert not [c for c in runner.calls if c[0] == "scancel"]  # asked, not yet done
    widget.confirm.yes.click()
    assert [c for c in runner.calls if c[0] == "scancel"] == [jobs.scancel_argv("93")]
    assert widget.message.value == "Job 93 cancelled."
