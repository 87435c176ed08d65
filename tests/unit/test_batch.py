from dataclasses import replace

import pytest

from aifactory_hub.hubside.batch import JOB_NAME, ScriptContext, render_session_script
from aifactory_hub.site.sessions import validate_options
from aifactory_hub.slurm.jobs import named_jobs_argv

CTX = ScriptContext(
    home="/home/alice",
    venv_bin="/opt/aifactory/venv/bin",
    command=["batchspawner-singleuser", "jupyterhub-singleuser", "--debug"],
)


def script_for(site, raw):
    req = validate_options(raw, site=site, projects=site.projects_of("alice"))
    return render_session_script(req, CTX).splitlines()


def test_cpu_session_script_lines(demo_site):
    lines = script_for(demo_site, {"cpus": 2, "memory_gb": 4, "walltime_hours": 1.5})
    assert lines[0] == "#!/bin/bash"
    sbatch = [line for line in lines if line.startswith("#SBATCH")]
    assert sbatch == [
        "#SBATCH --job-name=jupyterhub-session",
        "#SBATCH --account=ai-alpha",
        "#SBATCH --partition=cpu",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=4G",
        "#SBATCH --time=90",
        "#SBATCH --chdir=/home/alice",
        "#SBATCH --output=/home/alice/.jupyter-sessions/%j.log",
        "#SBATCH --signal=B:TERM@60",
        "#SBATCH --no-requeue",
    ]
    assert "export PATH=/opt/aifactory/venv/bin:$PATH" in lines
    assert lines[-1] == "exec batchspawner-singleuser jupyterhub-singleuser --debug"


def test_gpu_session_requests_typed_gres(demo_site):
    lines = script_for(demo_site, {"partition": "gpu", "gpus": 2})
    assert "#SBATCH --gres=gpu:sim:2" in lines
    assert "#SBATCH --partition=gpu" in lines


def test_command_arguments_are_shell_quoted(demo_site):
    req = validate_options({}, site=demo_site, projects=demo_site.projects_of("alice"))
    ctx = ScriptContext("/home/alice", "/v/bin", ["jupyterhub-singleuser", "--x=a b; rm -rf ~"])
    assert render_session_script(req, ctx).splitlines()[-1] == (
        "exec jupyterhub-singleuser '--x=a b; rm -rf ~'"
    )


def test_no_token_or_environment_in_script(demo_site):
    text = "\n".join(script_for(demo_site, {}))
    assert "TOKEN" not in text and "--export" not in text


def test_odd_home_directory_is_refused(demo_site):
    req = validate_options({}, site=demo_site, projects=demo_site.projects_of("alice"))
    with pytest.raises(ValueError, match="unsupported home"):
        render_session_script(req, ScriptContext("/home/a b", "/v/bin", ["x"]))


@pytest.mark.parametrize(
    ("field", "value"),
    [("account", "ai-alpha\n#SBATCH --uid=0"), ("partition", "cpu gpu"), ("reservation", "R1")],
)
def test_a_name_outside_the_slurm_grammar_never_reaches_an_sbatch_line(demo_site, field, value):
    req = validate_options({}, site=demo_site, projects=demo_site.projects_of("alice"))
    with pytest.raises(ValueError, match=f"not a {field}"):
        render_session_script(replace(req, **{field: value}), CTX)


def test_a_spawn_marks_its_job_so_a_timed_out_sbatch_can_be_swept(demo_site):
    req = validate_options({}, site=demo_site, projects=demo_site.projects_of("alice"))
    ctx = ScriptContext("/home/alice", "/v/bin", ["x"], spawn_id="0123456789abcdef")
    assert "#SBATCH --comment=aifactory-spawn-0123456789abcdef" in render_session_script(req, ctx)
    with pytest.raises(ValueError, match="spawn id"):
        render_session_script(req, ScriptContext("/h", "/v/bin", ["x"], spawn_id="x\n#SBATCH"))
    assert named_jobs_argv("alice", JOB_NAME)[-2:] == [f"--name={JOB_NAME}", "--format=%i|%k"]
    with pytest.raises(ValueError, match="user name"):
        named_jobs_argv("alice --all", JOB_NAME)


def test_a_session_listens_on_its_nodes_address_when_the_site_says_so(demo_site):
    req = validate_options({}, site=demo_site, projects=demo_site.projects_of("alice"))
    ctx = ScriptContext("/home/alice", "/v/bin", ["jupyterhub-singleuser"], listen_on_node=True)
    lines = render_session_script(req, ctx).splitlines()
    line = 'export JUPYTERHUB_SERVICE_URL="http://${SLURMD_NODENAME}:0${JUPYTERHUB_SERVICE_PREFIX}"'
    # set from Slurm's and the hub's variables only, just before the server starts
    assert lines[lines.index(line) + 1].startswith("exec ")
    fixed = ScriptContext("/home/alice", "/v/bin", ["jupyterhub-singleuser"])
    assert "JUPYTERHUB_SERVICE_URL" not in render_session_script(req, fixed)
