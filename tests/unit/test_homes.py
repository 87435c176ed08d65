"""Private homes (core/homes.py): the chmod decisions, on temporary folders as root's stand-in
users. The real-stack check that other users cannot read a home is tests/hub/test_security.py."""

from __future__ import annotations

import os
import pwd
from types import SimpleNamespace

import pytest

from aifactory_hub.core import homes


@pytest.fixture
def user(tmp_path, monkeypatch):
    """A stand-in passwd entry whose home is a temporary folder owned by this process."""
    home = tmp_path / "home"
    home.mkdir()
    entry = SimpleNamespace(pw_dir=str(home), pw_uid=os.getuid())
    monkeypatch.setattr(homes.pwd, "getpwnam", lambda name: entry if name == "u1" else
                        pwd.getpwnam(name))  # fmt: skip
    return home


def test_useradd_makes_the_home_private():
    assert homes.USERADD_HOME == ("--create-home", "-K", "HOME_MODE=0700")


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711, 0o701])
def test_an_open_home_is_made_0700_and_said(user, mode):
    user.chmod(mode)
    said = homes.make_private("u1")
    assert said == f"u1: {user} made private (was {mode:o})"
    assert user.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o700, 0o500])
def test_a_private_home_is_left_as_it_is(user, mode):
    user.chmod(mode)
    assert homes.make_private("u1") == ""
    assert user.stat().st_mode & 0o777 == mode
    user.chmod(0o700)


def test_a_home_of_someone_else_or_not_a_folder_is_left_alone(user, tmp_path, monkeypatch):
    user.chmod(0o755)
    other = SimpleNamespace(pw_dir=str(user), pw_uid=os.getuid() + 1)
    monkeypatch.setattr(homes.pwd, "getpwnam", lambda name: other)
    assert "is not owned by u1, left alone" in homes.make_private("u1")
    assert user.stat().st_mode & 0o777 == 0o755
    link = tmp_path / "link"
    link.symlink_to(user)
    monkeypatch.setattr(homes.pwd, "getpwnam", lambda name: SimpleNamespace(
        pw_dir=str(link), pw_uid=os.getuid()))  # fmt: skip
    assert "is not a directory, left alone" in homes.make_private("u1")
    assert user.stat().st_mode & 0o777 == 0o755


def test_no_such_user_or_home():
    assert homes.make_private("no-such-user-aif") == "no-such-user-aif: no home to make private"
