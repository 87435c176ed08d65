"""Registering a user's own environment as a kernel (pure, on temporary folders; the python
is a stand-in script). Ownership is real: the suite runs as root, so a file given to another
uid with os.lchown is "not yours". The real kernel run is tests/slurm/test_environment_build.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from aifactory_hub.environments import register
from aifactory_hub.environments.register import RegisterError

OTHER_UID = 54321  # nobody on this machine: a file of "someone else's"


def fake_env(root: Path, *, ipykernel: bool = True) -> Path:
    """A prefix whose bin/python is a script: the factory's python (which has ipykernel), or
    one that fails every import."""
    prefix = root / "venv"
    (prefix / "bin").mkdir(parents=True)
    python = prefix / "bin" / "python"
    if ipykernel:
        python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    else:
        python.write_text(
            "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'ipykernel'\" >&2\nexit 1\n"
        )
    python.chmod(0o755)
    return prefix


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def refused(*args, **kw) -> RegisterError:
    with pytest.raises(RegisterError) as caught:
        register.register(*args, **kw)
    return caught.value


def nothing_written(home: Path) -> bool:
    return not (home / ".local").exists()


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("display", "name"),
    [
        ("My project", "my-project"),
        ("Torch 2.5 (GPU)", "torch-2.5-gpu"),
        ("Éléphant_v2", "elephant_v2"),
        ("  spaces  ", "spaces"),
        ("a" * 90, None),
    ],
)
def test_the_kernel_name_is_the_display_name_as_a_slug(display, name):
    if name is None:
        with pytest.raises(RegisterError, match="name: must be one line of at most 80"):
            register.kernel_name(display)
    else:
        assert register.kernel_name(display) == name


@pytest.mark.parametrize(
    ("display", "words"),
    [
        ("", "is required"),
        ("!!!", "leaves no kernel name"),
        ("日本語", "leaves no kernel name"),
        ("two\nlines", "one line"),
        ("python3", "session's own kernel"),
        ("AIFactory", "session's own kernel"),
        (7, "must be text"),
    ],
)
def test_an_odd_or_reserved_name_is_refused(display, words):
    with pytest.raises(RegisterError) as caught:
        register.kernel_name(display)
    assert caught.value.field == "name" and words in str(caught.value)


# --- the prefix ----------------------------------------------------------------------------


def test_the_users_own_env_is_registered_with_its_own_python(tmp_path, home):
    prefix = fake_env(tmp_path)
    link = tmp_path / "current"
    link.symlink_to(prefix)
    spec_file = register.register(str(link), "My project", str(home))
    assert spec_file == home / ".local/share/jupyter/kernels/my-project/kernel.json"
    spec = json.loads(spec_file.read_text())
    # The resolved prefix: the kernel runs what was checked, not what the link says later.
    assert spec["argv"][0] == f"{prefix}/bin/python"
    assert spec["argv"][-4:] == ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert spec["display_name"] == "My project" and spec["language"] == "python"
    assert register.list_user_kernels(str(home)) == [
        register.UserKernel("my-project", "My project", f"{prefix}/bin/python")
    ]


def test_a_home_relative_prefix(tmp_path, home):
    fake_env(home)
    spec = register.register("~/venv", "mine", str(home))
    assert json.loads(spec.read_text())["argv"][0] == f"{home}/venv/bin/python"


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("", "must be the path"),
        ("venv", "absolute path"),
        ("/no/such/env", "is not a folder you can see"),
        ("/tmp/x\x00y", "must be the path"),
        (None, "must be text"),
    ],
)
def test_a_prefix_that_is_not_a_folder_is_refused(home, prefix, words):
    err = refused(prefix, "mine", str(home))
    assert err.field == "prefix" and words in str(err)
    assert nothing_written(home)


def test_a_folder_without_bin_python_is_refused(tmp_path, home):
    (tmp_path / "data" / "bin").mkdir(parents=True)
    err = refused(str(tmp_path / "data"), "mine", str(home))
    assert err.field == "prefix" and "has no bin/python" in str(err)
    (tmp_path / "data" / "bin" / "python").write_text("not a program")
    (tmp_path / "data" / "bin" / "python").chmod(0o644)
    assert "is not an executable file" in str(refused(str(tmp_path / "data"), "m", str(home)))
    assert nothing_written(home)


@pytest.mark.parametrize("part", ["", "bin", "bin/python"])
def test_someone_elses_environment_is_refused(tmp_path, home, part):
    prefix = fake_env(tmp_path)
    os.lchown(prefix / part if part else prefix, OTHER_UID, OTHER_UID)
    err = refused(str(prefix), "theirs", str(home))
    assert err.field == "prefix" and "is not yours" in str(err)
    assert nothing_written(home)


def test_a_symlink_to_someone_elses_environment_is_judged_by_its_target(tmp_path, home):
    prefix = fake_env(tmp_path)
    os.chown(prefix, OTHER_UID, OTHER_UID)
    (home / "envs").mkdir()
    (home / "envs" / "borrowed").symlink_to(prefix)
    err = refused("~/envs/borrowed", "borrowed", str(home))
    assert err.field == "prefix" and f"the folder {prefix} is not yours" in str(err)


def test_a_venvs_python_may_link_to_the_systems_interpreter(tmp_path, home):
    """A venv's bin/python is the user's link to /usr/bin/python3: the link is what is
    judged (the user made it), not the system's file it points to."""
    prefix = tmp_path / "venv"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    assert register.check_prefix(str(prefix)) == str(prefix)


def test_a_python_without_ipykernel_gets_the_command_that_installs_it(tmp_path, home):
    prefix = fake_env(tmp_path, ipykernel=False)
    err = refused(str(prefix), "mine", str(home))
    python = f"{prefix}/bin/python"
    assert err.field == "prefix"
    assert str(err) == (
        f"prefix: {python} cannot import ipykernel; install it with: "
        f"{python} -m pip install ipykernel"
    )
    assert nothing_written(home)


def test_a_python_that_hangs_is_given_up_on(tmp_path):
    prefix = tmp_path / "env"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python").write_text("#!/bin/sh\nexec sleep 30\n")
    (prefix / "bin" / "python").chmod(0o755)
    with pytest.raises(RegisterError, match=r"did not answer in 0\.5 s"):
        register.check_ipykernel(str(prefix / "bin" / "python"), timeout=0.5)


def test_the_check_does_not_borrow_the_kernels_pythonpath(tmp_path, monkeypatch):
    """A session's PYTHONPATH could make the check pass for a python that lacks ipykernel."""
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\n[ -z "$PYTHONPATH" ] || exit 0\nexit 1\n')
    python.chmod(0o755)
    monkeypatch.setenv("PYTHONPATH", "/opt/aifactory/venv/lib/python3.11/site-packages")
    with pytest.raises(RegisterError, match="cannot import ipykernel"):
        register.check_ipykernel(str(python))


# --- an existing kernel ----------------------------------------------------------------------


def test_a_kernel_of_the_same_name_is_replaced_only_when_asked(tmp_path, home):
    prefix = fake_env(tmp_path)
    first = register.register(str(prefix), "Mine", str(home))
    before = first.read_text()
    other = tmp_path / "other"
    other.mkdir()
    fake_env(other)
    err = refused(str(other / "venv"), "mine", str(home))
    assert err.field == "name" and "already have a kernel 'mine'" in str(err)
    assert first.read_text() == before
    register.register(str(other / "venv"), "mine", str(home), replace=True)
    assert json.loads(first.read_text())["argv"][0] == f"{other}/venv/bin/python"


def test_the_list_skips_what_is_not_a_kernel(home):
    folder = register.kernels_dir(str(home))
    (folder / "broken").mkdir(parents=True)
    (folder / "broken" / "kernel.json").write_text("{not json")
    (folder / "odd").mkdir()
    (folder / "odd" / "kernel.json").write_text("[1, 2]")
    (folder / "ok").mkdir()
    (folder / "ok" / "kernel.json").write_text('{"argv": [], "display_name": "OK"}')
    assert register.list_user_kernels(str(home)) == [register.UserKernel("ok", "OK", "")]
    assert register.list_user_kernels(str(home / "nobody")) == []
