"""Where a command runs as a user starts (slurm/runner.py `_cwd`): a non-root hub cannot
enter a private home before sudo, so it starts in "/"; root's child enters the home before it
gives up root. The real-stack check is tests/slurm/test_sudoers.py."""

from __future__ import annotations

from aifactory_hub.slurm import runner
from aifactory_hub.slurm.runner import RunAs


def test_a_non_root_caller_starts_sudo_in_the_root_folder(tmp_path, monkeypatch):
    user = RunAs("alice", 1001, 1001, str(tmp_path))
    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    assert runner._cwd(user) == "/"
    monkeypatch.setattr(runner.os, "geteuid", lambda: 0)
    assert runner._cwd(user) == str(tmp_path)
    assert runner._cwd(RunAs("alice", 1001, 1001, str(tmp_path / "gone"))) == "/"
    assert runner._cwd(None) == "/"
