"""The wheel is the real-site route (`pip install aifactory-hub`): built from this tree and
installed into a fresh venv, it must carry the console's dashboards, the notebooks and workshop
materials, and the widgets' guides, and the code must find them there, not in a checkout.

The fresh venv has no pip and no packages of its own: the wheel goes in with this venv's pip
(`pip --python`), and the dependencies come from this venv's site-packages through a .pth line.
A path added that way is not a site dir, so its .pth files (the editable install's finder of
this checkout) never run: `aifactory_hub` can only be imported from the wheel, and each test
checks it is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from aifactory_hub.console import dashboards

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "aifactory_hub": "hub/aifactory_hub",
    "aifactory_widgets": "extensions/aifactory_widgets",
    "aifactory_lab": "extensions/aifactory_lab",
}
# What a checkout holds that is no source: never copied into the build.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    "build",
    "*.egg-info",
    "__pycache__",
    "test-artifacts",
    ".*_cache",
    # The JupyterLab extension's TypeScript, its npm tree and its build output: the install
    # step builds and installs those (hub/bin/aifactory), the wheel carries the Python side.
    "js",
    "labextension",
)


class Installed:
    def __init__(self, prefix: Path, source: Path, home: Path) -> None:
        self.prefix, self.source, self.home = prefix, source, home
        self.python = prefix / "bin" / "python"

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        # A bare environment: no PYTHONPATH, no $AIFACTORY_* from the caller.
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"}
        return subprocess.run(
            [str(self.python), *argv],
            cwd=self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def answer(self, code: str) -> dict:
        """Run `code` in the installed venv; it prints one JSON object."""
        return json.loads(self.run("-c", code).stdout)


def _pip(*argv: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    # Built from a copy: an in-tree build would leave build/ in the shared checkout, and a
    # stale build/lib from an earlier build would ship modules that no longer exist.
    source = tmp / "source"
    shutil.copytree(CHECKOUT, source, ignore=NOT_SOURCE, symlinks=True)
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp), str(source))
    (wheel,) = tmp.glob("aifactory_hub-*.whl")

    prefix = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(prefix)
    _pip(
        "--python", str(prefix / "bin" / "python"), "install", "--no-deps", "--no-index", str(wheel)
    )
    (site_packages,) = prefix.glob("lib/python3*/site-packages")
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site_packages / "zz-aifactory-test-deps.pth").write_text("".join(f"{p}\n" for p in deps))

    home = tmp / "home"
    home.mkdir()
    return Installed(prefix, source, home)


WHERE = """
import json, aifactory_hub, aifactory_widgets
from aifactory_hub.site import paths
print(json.dumps({
    "hub": aifactory_hub.__file__,
    "widgets": aifactory_widgets.__file__,
    "checkout": str(paths.checkout()),
    "dashboards": str(paths.dashboards()),
    "notebooks": str(paths.notebooks()),
}))
"""


def test_the_code_and_its_data_come_from_the_installed_wheel(installed: Installed):
    where = installed.answer(WHERE)
    for key in ("hub", "widgets", "dashboards", "notebooks"):
        assert Path(where[key]).is_relative_to(installed.prefix), (key, where[key])
    assert where["checkout"] == "None"
    assert Path(where["dashboards"]) == installed.prefix / "share/aifactory-hub/dashboards"


LIST_DASHBOARDS = """
import json
from aifactory_hub.console import dashboards
from aifactory_hub.site import paths
print(json.dumps([board.name for board in dashboards.discover(paths.dashboards())]))
"""


def test_the_console_lists_every_dashboard_from_the_wheel(installed: Installed):
    in_checkout = sorted(path.name for path in (CHECKOUT / "dashboards").glob("*.ipynb"))
    assert in_checkout, "dashboards/ is empty"
    # Every notebook in dashboards/ is a dashboard (one without metadata would be hidden).
    assert sorted(b.name for b in dashboards.discover(CHECKOUT / "dashboards")) == in_checkout
    listed = json.loads(installed.run("-c", LIST_DASHBOARDS).stdout)
    assert sorted(listed) == in_checkout
    assert listed == [b.name for b in dashboards.discover(CHECKOUT / "dashboards")]  # same order


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".ipynb_checkpoints" not in path.parts
    }


def test_starter_notebooks_and_every_workshops_materials_are_installed(installed: Installed):
    notebooks = Path(installed.answer(WHERE)["notebooks"])
    assert _files(notebooks) == _files(CHECKOUT / "notebooks"), (
        "a file of notebooks/ is not in the wheel: list its folder in pyproject.toml's "
        "[tool.setuptools.data-files]"
    )


def test_a_workshop_session_copies_its_materials_from_the_wheel(installed: Installed):
    folders = sorted(p.name for p in (CHECKOUT / "notebooks").iterdir() if p.is_dir())
    assert folders, "notebooks/ has no workshop materials"
    for folder in folders:
        out = installed.run("-m", "aifactory_hub.workshops.materials", folder)
        expected = _files(CHECKOUT / "notebooks" / folder)
        assert f"{len(expected)} new file(s) in ~/{folder}" in out.stdout
        assert _files(installed.home / folder) == expected


def test_every_file_of_both_packages_is_in_the_wheel(installed: Installed):
    """Modules and package data alike: the widgets' guides (Markdown), the demo site, the
    Alembic template. A file the build leaves out fails here with its name."""
    (site_packages,) = installed.prefix.glob("lib/python3*/site-packages")
    guides = sorted((installed.source / PACKAGES["aifactory_widgets"]).rglob("guides/*.md"))
    assert guides, "no guides found in extensions/aifactory_widgets"
    missing = []
    for package, folder in PACKAGES.items():
        for name in _files(installed.source / folder):
            if not (site_packages / package / name).is_file():
                missing.append(f"{package}/{name}")
    assert missing == [], "not in the wheel: add them to [tool.setuptools.package-data]"
