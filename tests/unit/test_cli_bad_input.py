"""The `aifactory` command with bad arguments and broken site files: a clear message naming
the file and the field, exit code 2, never a traceback. The command runs as a person runs it
(`python -m aifactory_hub.ops.cli`); a bad site file is refused before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aifactory_hub.site import DEMO_SITE

DEMO = DEMO_SITE.read_text()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aifactory_hub.ops.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def changed(old: str, new: str) -> str:
    assert old in DEMO, old
    return DEMO.replace(old, new, 1)


# name -> (site file bytes, what the message must say)
SITES: dict[str, tuple[bytes, str]] = {
    "not TOML": (b"[site\nname = ", "not valid TOML"),
    "not UTF-8": (b"\xff\xfe\x00[site]", "not UTF-8 text"),
    "empty": (b"", "invalid site file"),
    "a wrong type": (
        changed("max_gpus = 2", 'max_gpus = "two"').encode(),
        "partitions.1.max_gpus",
    ),
    "a negative number": (
        changed("max_gpus = 2", "max_gpus = -2").encode(),
        "partitions.1.max_gpus",
    ),
    "a huge number": (
        changed("start_timeout_s = ", "start_timeout_s = 9223372036854775807 #").encode(),
        "hub.start_timeout_s",
    ),
    "a partition name with shell text": (
        changed('name = "gpu"', 'name = "gpu; rm -rf /"').encode(),
        "partitions.1.name",
    ),
    "a partition name with a newline": (
        changed('name = "gpu"', 'name = "gpu\\n#SBATCH --exclusive"').encode(),
        "partitions.1.name",
    ),
    "a member with an @": (
        changed('members = ["alice", "bob"]', 'members = ["alice@example.org", "bob"]').encode(),
        "projects.0.members.0",
    ),
    "an unknown field": (
        changed("[site]\n", '[site]\nprologue = "touch /tmp/pwned"\n').encode(),
        "site.prologue",
    ),
}


@pytest.mark.hardening(
    "bad input",
    "a broken site file given to the aifactory command",
    "exit 2, the file and the field named, no traceback",
)
@pytest.mark.parametrize("name", list(SITES))
def test_a_broken_site_file_is_refused_with_the_field(tmp_path: Path, name: str) -> None:
    text, says = SITES[name]
    site = tmp_path / "site.toml"
    site.write_bytes(text)
    done = run("--site", str(site), "status")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert str(site) in done.stderr and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.hardening(
    "bad input",
    "the aifactory command with bad arguments",
    "exit 2 with the usage, no traceback",
)
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("frobnicate",), "invalid choice"),
        ((), "required"),
        (("status", "--now"), "unrecognized arguments"),
        (("sudoers",), "--hub-user"),
        (("--site",), "expected one argument"),
        (("--site", "/nonexistent/site.toml", "status"), "cannot read site file"),
        (("--site", "/", "status"), "cannot read site file"),
    ],
    ids=["unknown command", "no command", "unknown option", "missing --hub-user",
         "--site without a path", "a site file that is not there", "a directory"],
)  # fmt: skip
def test_bad_arguments_exit_2_with_the_usage(args: tuple[str, ...], says: str) -> None:
    done = run(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
