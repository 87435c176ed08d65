"""A session's environment (pure): which environment a request gets, and the script lines that
load it. The real-stack tests (tests/hub/test_environments.py) run them in real sessions."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from aifactory_hub.environments.session import environment_lines, kernel_path
from aifactory_hub.hubside.batch import ScriptContext, render_session_script
from aifactory_hub.site import Site
from aifactory_hub.site.sessions import OptionError, validate_options

FACTORY = "/opt/aifactory/venv"
PROJECT = "/srv/aifactory/projects/ai-alpha"


def request(site, **raw):
    return validate_options(raw, site=site, projects=site.projects_of("alice"))


def test_a_session_gets_the_default_environment_unless_it_chooses(demo_site):
    assert request(demo_site).environment == "factory"
    assert request(demo_site, environment="jax").environment == "jax"
    assert request(demo_site, environment="jax").to_options()["environment"] == "jax"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("tensorflow", "tensorflow is not available to partition cpu"),
        ("JAX", "JAX is not available"),
        (["jax"], "must be a string"),
        ("jax; rm -rf /", "not available"),
    ],
)
def test_an_unknown_environment_is_refused_naming_the_field(demo_site, value, why):
    with pytest.raises(OptionError, match=why) as caught:
        request(demo_site, environment=value)
    assert caught.value.field == "environment"


def test_an_environment_limited_to_other_partitions_is_refused(demo_site):
    data = demo_site.model_dump()
    data["environments"][2]["partitions"] = ["gpu"]  # jax only on gpu
    site = Site.model_validate(data)
    with pytest.raises(OptionError, match="jax is not available to partition cpu"):
        request(site, environment="jax")
    assert request(site, environment="jax", partition="gpu").environment == "jax"


def test_a_site_without_environments_refuses_the_field_and_changes_only_kernels(demo_site):
    data = demo_site.model_dump()
    data["environments"] = []
    data["software"]["kernel_paths"] = []
    data["software"]["lmod_init"] = ""
    site = Site.model_validate(data)
    assert request(site).environment == ""
    with pytest.raises(OptionError, match="defines no environments"):
        request(site, environment="jax")
    # No module system, no environment: only the AI Factory tools kernel's folder.
    assert environment_lines(site, request(site), PROJECT, FACTORY) == [
        'export JUPYTER_PATH=/opt/aifactory/kernels/tools"${JUPYTER_PATH:+:$JUPYTER_PATH}"'
    ]


def test_the_factory_environment_changes_only_the_kernel_folders(demo_site):
    lines = environment_lines(demo_site, request(demo_site), PROJECT, FACTORY)
    assert "module load" not in "\n".join(lines)
    # The module system is there all the same, for the terminal.
    assert "export MODULEPATH=/opt/aifactory/modules" in lines
    init = "/usr/share/lmod/lmod/init/bash"
    assert f"if [ -r {init} ]; then source {init}; fi" in lines
    assert not any(line.startswith("export PATH=") for line in lines)
    assert "export AIFACTORY_ENVIRONMENT=factory" in lines
    assert lines[-1] == (
        f"export JUPYTER_PATH=/opt/aifactory/kernels/tools:{PROJECT}/.jupyter"
        + '"${JUPYTER_PATH:+:$JUPYTER_PATH}"'
    )
    assert kernel_path(demo_site, demo_site.environment("factory"), PROJECT, FACTORY) == [
        "/opt/aifactory/kernels/tools",
        f"{PROJECT}/.jupyter",
    ]


def test_another_environment_loads_its_modules_then_its_bin_variables_and_kernels(demo_site):
    lines = environment_lines(demo_site, request(demo_site, environment="jax"), PROJECT, FACTORY)
    text = "\n".join(lines)
    assert "export MODULEPATH=/opt/aifactory/modules" in lines
    assert "if ! module load jax/0.10; then" in lines
    assert lines.index("set -eu") > lines.index("if ! module load jax/0.10; then")
    assert 'export PATH=/opt/aifactory/envs/jax/bin:"$PATH"' in lines
    assert "export XLA_FLAGS=--xla_force_host_platform_device_count=1" in lines
    assert text.index("module load") < text.index("export PATH=/opt/aifactory/envs/jax/bin")
    assert lines[-1].startswith(
        f"export JUPYTER_PATH=/opt/aifactory/kernels/jax:/opt/aifactory/kernels/tools:{PROJECT}"
    )


def test_site_values_are_quoted_for_the_shell(demo_site):
    data = demo_site.model_dump()
    data["environments"][1]["variables"] = {"GREETING": "it's $HOME; `id`"}
    data["environments"][1]["prefix"] = "/opt/odd dir/pytorch"
    site = Site.model_validate(data)
    lines = environment_lines(site, request(site, environment="pytorch"), PROJECT, FACTORY)
    script = "\n".join(lines[lines.index("set -eu") + 1 :]) + '\necho "$GREETING|$PATH"'
    out = subprocess.run(
        ["bash", "-c", "set -eu\n" + script], capture_output=True, text=True, check=True
    ).stdout
    greeting, path = out.strip().split("|", 1)
    assert greeting == "it's $HOME; `id`"
    assert path.startswith("/opt/odd dir/pytorch/bin:")


def test_the_session_script_loads_the_environment_before_jupyterlab_by_absolute_path(demo_site):
    req = request(demo_site, environment="pytorch")
    ctx = ScriptContext(
        home="/home/alice",
        venv_bin=f"{FACTORY}/bin",
        command=[f"{FACTORY}/bin/batchspawner-singleuser", f"{FACTORY}/bin/jupyterhub-singleuser"],
        environment=environment_lines(demo_site, req, PROJECT, FACTORY),
    )
    lines = render_session_script(req, ctx).splitlines()
    assert lines.index("if ! module load pytorch/2.13; then") < len(lines) - 1
    assert lines[-1] == (
        f"exec {FACTORY}/bin/batchspawner-singleuser {FACTORY}/bin/jupyterhub-singleuser"
    )
    # The factory's bin first, then the environment's in front of it.
    factory_at = lines.index(f"export PATH={FACTORY}/bin:$PATH")
    env_at = lines.index('export PATH=/opt/aifactory/envs/pytorch/bin:"$PATH"')
    assert factory_at < env_at
    assert all(shlex.split(line) for line in lines if line and not line.startswith("#"))


def test_tools_is_not_an_environment_name(demo_site):
    data = demo_site.model_dump()
    data["environments"][1]["name"] = "tools"
    with pytest.raises(ValueError, match="'tools' is the factory's own kernel folder"):
        Site.model_validate(data)
