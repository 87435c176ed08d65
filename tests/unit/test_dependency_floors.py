"""Dependency floors stay above the known advisories, both as declared and as installed."""

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

from tests.unit.test_packaging import _name_and_floor

ROOT = Path(__file__).resolve().parents[2]
# package -> the first release past the published security advisories for it (the floors the
# [hardening] issue names; raise one here when a new advisory is published)
ADVISORIES = {
    "jupyterhub": "5.5.1",
    "voila": "0.5.6",
    "distributed": "2026.1.0",
    "jupyter-server-proxy": "4.2.0",
}


def declared() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(_name_and_floor(spec) for spec in deps)


@pytest.mark.parametrize("package", sorted(ADVISORIES))
@pytest.mark.hardening(
    "attack", "a dependency with a known advisory", "declared and installed floors above it"
)
def test_floor_above_advisory(package):
    floor = ADVISORIES[package]
    advisory = f"below {floor}, which fixes a published advisory"
    declared_floor = declared().get(package)
    assert declared_floor, f"{package} is not a declared dependency"
    assert Version(declared_floor) >= Version(floor), f"{package}>={declared_floor}: {advisory}"
    installed = importlib.metadata.version(package)
    assert Version(installed) >= Version(floor), f"{package} {installed} installed: {advisory}"
