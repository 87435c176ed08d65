"""In-process: `GET site` lists the site's environments by what a user chooses them by (name,
description, modules, the partitions they are offered on, the default), never their variables,
prefixes or build lists."""

from __future__ import annotations

import pytest

from aifactory_hub.site import DEMO_SITE, Site, load_site
from tests.service.world import ok


@pytest.fixture(scope="module")
def site() -> Site:
    """The demo site with `jax` offered on the GPU partition only."""
    demo = load_site(DEMO_SITE)
    envs = [
        e.model_copy(update={"partitions": ["gpu"]}) if e.name == "jax" else e
        for e in demo.environments
    ]
    return demo.model_copy(update={"environments": envs})


async def test_the_site_lists_its_environments_without_their_variables(client, site):
    facts = await ok(await client.call("GET", "site", "bob"))
    envs = {e["name"]: e for e in facts["environments"]}
    assert [e["name"] for e in facts["environments"]] == ["factory", "pytorch", "jax"]
    assert envs["jax"] == {
        "name": "jax", "description": site.environment("jax").description,
        "modules": ["jax/0.10"], "partitions": ["gpu"], "default": False,
    }  # fmt: skip
    assert envs["factory"]["default"] and envs["factory"]["partitions"] == ["cpu", "gpu"]
    assert envs["pytorch"]["modules"] == ["pytorch/2.13"]
    text = repr(facts["environments"])
    assert "XLA_FLAGS" not in text and "OMP_NUM_THREADS" not in text  # variables stay private
    assert "/opt/aifactory/envs" not in text and "packages" not in text
    assert facts["software"] == {
        "module_system": True,
        "build_minutes": site.software.build_minutes,
        "build_max_gb": site.software.build_max_gb,
        "build_partition": site.software.build_partition,
    }
