"""What an #SBATCH line can carry (slurm.scripts): sbatch does not unquote, so a path that
would need quoting is refused before any script is rendered."""

from __future__ import annotations

import pytest

from aifactory_hub.slurm.scripts import sbatch_path


def test_an_absolute_plain_path_is_carried_as_it_is():
    for path in ("/home/bob", "/home/bob/proj-1/run_2", "/srv/home/a.b@c/x"):
        assert sbatch_path(path) == path


@pytest.mark.parametrize(
    "path",
    ["home/bob", "~/x", "", "/home/b ob", "/home/bob\n#SBATCH --x", "/home/\tbob",
     '/home/"bob"', "/home/'bob'", "/home/$USER", "/home/`id`", "/home/a;b", "/home/a\\b"],
)  # fmt: skip
def test_a_path_that_would_need_quoting_is_refused(path):
    with pytest.raises(ValueError, match="unsupported home directory path"):
        sbatch_path(path)
