"""`up`'s environments (unit: temporary folders, no pip): modulefiles, kernel specifications,
and a second run that builds nothing. The real build runs in the stack's `apply_site`, and
tests/hub/test_environments.py uses what it made."""

from __future__ import annotations

import json

import pytest

from aifactory_hub.environments import kernels
from aifactory_hub.ops import environments
from aifactory_hub.site import Site


def local_site(demo_site, tmp_path) -> Site:
    data = demo_site.model_dump()
    data["software"]["module_paths"] = [str(tmp_path / "modules")]
    data["software"]["kernels_root"] = str(tmp_path / "kernels")
    for env in data["environments"][1:]:
        env["prefix"] = str(tmp_path / "envs" / env["name"])
    return Site.model_validate(data)


def fake_built(env) -> None:
    """An environment that looks built: a python and the stamp of its package list."""
    bin_dir = environments.Path(env.prefix, "bin")
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text("")
    (environments.Path(env.prefix) / environments.STAMP).write_text(environments.stamp_of(env))


def test_a_built_environment_is_not_built_again_but_gets_its_module_and_kernels(
    demo_site, tmp_path, monkeypatch
):
    site = local_site(demo_site, tmp_path)
    for env in site.environments[1:]:
        fake_built(env)
    built = []
    monkeypatch.setattr(environments, "build", lambda env: built.append(env.name) or True)
    assert environments.ensure_environments(site, "/opt/aifactory/venv") == []
    assert built == []
    lua = (tmp_path / "modules" / "jax" / "0.10.lua").read_text()
    assert f'prepend_path("PATH", "{tmp_path}/envs/jax/bin")' in lua
    assert 'whatis("Description: JAX 0.10 (CPU) and NumPy, nothing else")' in lua
    spec = json.loads((tmp_path / "kernels/jax/kernels/python3/kernel.json").read_text())
    assert spec["argv"][0] == f"{tmp_path}/envs/jax/bin/python"
    assert spec["display_name"] == "Python 3 (jax)"
    assert sorted(p.name for p in (tmp_path / "kernels/jax/kernels").iterdir()) == ["python3"]
    # One AI Factory tools kernel for every session, whatever its environment.
    tools = json.loads((tmp_path / "kernels/tools/kernels/aifactory/kernel.json").read_text())
    assert tools["argv"][0] == "/opt/aifactory/venv/bin/python"
    assert tools["display_name"] == "AI Factory tools (Python 3)"
    assert not (tmp_path / "kernels" / "factory").exists()  # the server's own kernels


def test_a_changed_package_list_rebuilds(demo_site, tmp_path, monkeypatch):
    site = local_site(demo_site, tmp_path)
    for env in site.environments[1:]:
        fake_built(env)
    data = site.model_dump()
    data["environments"][2]["packages"] = ["jax==0.10.1", "jaxlib==0.10.1", "ipykernel"]
    changed = Site.model_validate(data)
    built = []
    monkeypatch.setattr(environments, "build", lambda env: built.append(env.name) or True)
    assert environments.ensure_environments(changed, "/opt/aifactory/venv") == [
        f"built environment jax in {tmp_path}/envs/jax"
    ]
    assert built == ["jax"]


def test_lua_strings_are_escaped():
    assert environments.lua_string('say "hi"\\\nbye') == '"say \\"hi\\"\\\\\\nbye"'


@pytest.mark.parametrize("bad", ["../x", "", "A b", "x/y"])
def test_kernel_names_are_checked(tmp_path, bad):
    spec = kernels.kernel_spec("/usr/bin/python3", "x")
    with pytest.raises(ValueError, match="not a kernel name"):
        kernels.write_kernel_spec(tmp_path, bad, spec)
    assert not any(tmp_path.iterdir())
