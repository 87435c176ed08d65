"""The advisor's session for a recommended plan: the environment for the user's framework
(name, then description, else the partition's default), one node's share of the plan within
the partition's session limits, and the spawn link (URL-encoded, as the spawn form reads it)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from aifactory_hub.advisor import plan
from aifactory_hub.advisor import training as adv
from aifactory_hub.advisor.session import (
    SessionSize,
    environment_for,
    session_size,
    spawn_link,
)
from aifactory_hub.service.routes.site import public_site
from aifactory_hub.site import load_site


@pytest.fixture(scope="module")
def demo() -> dict:
    return public_site(load_site())


def gpu_partition(demo: dict) -> dict:
    return next(p for p in demo["partitions"] if p["name"] == "gpu")


def recommended(demo: dict, parameters: float, tokens: float, gpus: int | None = None):
    partitions, specs = plan.gpu_partitions(demo)
    run = adv.TrainingRun(parameters=parameters, tokens=tokens)
    return plan.recommend(plan.options(run, partitions, specs, gpus))


@pytest.mark.parametrize(
    ("framework", "environment"),
    [("pytorch", "pytorch"), ("PyTorch", "pytorch"), ("jax", "jax"), ("other", "factory"),
     ("tensorflow", "factory"), ("", "factory")],
)  # fmt: skip
def test_the_environment_is_the_one_named_for_the_framework_else_the_default(
    demo, framework, environment
):
    # the factory's own description mentions PyTorch too: a name match comes first
    assert environment_for(demo["environments"], "gpu", framework) == environment


def test_a_description_matches_when_no_name_does_and_only_offered_ones_count():
    envs = [
        {"name": "base", "description": "Python and NumPy", "partitions": ["cpu", "gpu"]},
        {"name": "ml-2025", "description": "JAX 0.10 with Flax", "partitions": ["gpu"]},
        {"name": "torch", "description": "PyTorch nightly", "partitions": ["cpu"]},
    ]
    assert environment_for(envs, "gpu", "jax") == "ml-2025"
    assert environment_for(envs, "cpu", "jax") == "base"  # not offered there: the default
    assert environment_for(envs, "gpu", "pytorch") == "base"  # torch is on cpu only
    assert environment_for(envs, "cpu", "pytorch") == "torch"
    assert environment_for(envs, "booster", "jax") == ""
    assert environment_for([], "gpu", "jax") == ""


def test_a_small_plan_gets_one_gpus_share_of_a_node_for_one_job(demo):
    best = recommended(demo, 125e6, 2.5e9)  # 1 GPU, 4.2 h: two jobs of at most 4 h
    assert (best.gpus, round(best.wall_hours, 1)) == (1, 4.2)
    size = session_size(best, gpu_partition(demo))
    # a quarter of the node's 4 CPUs and 5 GB, rounded up; the partition's 4 h at most
    assert size == SessionSize(cpus=1, memory_gb=2, gpus=1, walltime_hours=4.0, limited=False)


def test_a_plan_bigger_than_a_session_is_held_to_the_session_limits(demo):
    best = recommended(demo, 125e6, 2.5e9, gpus=8)  # both nodes, all their GPUs
    assert (best.gpus, best.nodes) == (8, 2)
    size = session_size(best, gpu_partition(demo))
    # a node's 4 GPUs, 4 CPUs and 5 GB wanted; a session here may have 2, 2 and 4
    assert (size.gpus, size.cpus, size.memory_gb, size.limited) == (2, 2, 4, True)
    assert size.walltime_hours == pytest.approx(0.53)  # 4.2 h / 8 GPUs, up to 1/100 h


def test_the_spawn_link_names_every_field_url_encoded():
    size = SessionSize(cpus=1, memory_gb=2, gpus=1, walltime_hours=4.0)
    link = spawn_link("ai-alpha", "gpu", "pytorch", size)
    assert link == (
        "/hub/spawn?project=ai-alpha&partition=gpu&environment=pytorch&cpus=1&memory_gb=2"
        "&gpus=1&walltime_hours=4"
    )
    odd = spawn_link("a&b c", "gpu", "", size.model_copy(update={"walltime_hours": 0.53}),
                     base="/user-prefix/hub/spawn")  # fmt: skip
    parts = urlsplit(odd)
    assert parts.path == "/user-prefix/hub/spawn"
    assert parse_qs(parts.query) == {
        "project": ["a&b c"], "partition": ["gpu"], "cpus": ["1"], "memory_gb": ["2"],
        "gpus": ["1"], "walltime_hours": ["0.53"],
    }  # fmt: skip
    assert "environment" not in parse_qs(urlsplit(spawn_link("", "gpu", "", size)).query)


def test_the_advisor_names_the_environment_and_links_the_session(monkeypatch, demo):
    from aifactory_widgets import Advisor

    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/")
    advisor = Advisor(None, demo)
    assert advisor.framework.value == "other"
    advisor.parameters_b.value, advisor.tokens_b.value = 0.125, 2.5
    text = advisor.session.value
    assert text.startswith("Environment: <b>factory</b> (The factory&#x27;s own stack")
    assert 'href="/hub/spawn?partition=gpu&amp;environment=factory&amp;cpus=1&amp;' in text
    assert "1 GPU(s), 1 CPU(s), 2 GB, 4 h" in text and "at most" not in text
    advisor.framework.value = "jax"
    assert advisor.session.value.startswith("Environment: <b>jax</b>")
    assert "environment=jax" in advisor.session.value
    advisor.gpus.value = 8  # more than a session may hold: said, and the launcher named
    assert "may have at most 2 GPU(s), 2 CPUs and 4 GB" in advisor.session.value
    advisor.micro_batch.value, advisor.sharding.value = 4096, "none"  # no plan: no link
    assert advisor.session.value == ""


def test_without_environments_the_link_leaves_the_choice_to_the_form(demo):
    from aifactory_widgets import Advisor

    advisor = Advisor(None, {**demo, "environments": []})
    advisor.parameters_b.value, advisor.tokens_b.value = 0.125, 2.5
    assert advisor.session.value.startswith('<a href="/hub/spawn?partition=gpu&amp;cpus=1')
