"""Shared fixtures. Tiers: tests/unit (pure), tests/slurm (real Slurm), tests/hub (real hub),
tests/browser (real Chromium). Real-stack fixtures are session-scoped and shared."""

from __future__ import annotations

import pytest

from aifactory_hub.site import Site, load_site


@pytest.fixture(scope="session")
def demo_site() -> Site:
    return load_site()
