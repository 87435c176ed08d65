"""Spawn links and presets (pure): what a link's query asks for, what the form saves and
forgets. The real-stack tests (tests/hub/test_environments.py, tests/browser) use them on the
hub."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from aifactory_hub.hubside import presets
from aifactory_hub.hubside.spawn_form import render_form
from aifactory_hub.site.sessions import OptionError

SMALL = {"project": "ai-alpha", "partition": "cpu", "environment": "jax", "cpus": 1}


def test_a_link_fills_in_unless_it_says_autostart():
    assert presets.query_options({"project": ["ai-alpha"]}, {}) == ({"project": "ai-alpha"}, False)
    raw, start = presets.query_options({"project": ["ai-alpha"], "autostart": ["1"]}, {})
    assert (raw, start) == ({"project": "ai-alpha"}, True)


def test_a_preset_link_starts_from_the_preset_and_the_link_overrides_it():
    raw, start = presets.query_options({"preset": ["small"], "cpus": ["2"]}, {"small": SMALL})
    assert raw == {**SMALL, "cpus": "2"} and not start


@pytest.mark.parametrize(
    ("query", "field", "why"),
    [
        ({"preset": ["nope"]}, "preset", r"no preset 'nope' \(yours: small\)"),
        ({"preset": ["a", "b"]}, "preset", "no preset"),
        ({"autostart": ["yes"]}, "autostart", "must be 1"),
        ({"cpus": ["1", "2"]}, "cpus", "exactly one value"),
    ],
)
def test_a_bad_link_is_refused_naming_the_field(query, field, why):
    with pytest.raises(OptionError, match=why) as caught:
        presets.query_options(query, {"small": SMALL})
    assert caught.value.field == field


def test_links_round_trip_through_jupyterhubs_opt_prefix():
    query = parse_qs(urlsplit(presets.link(SMALL, autostart=True)).query)
    assert query == {
        "opt-project": ["ai-alpha"], "opt-partition": ["cpu"], "opt-environment": ["jax"],
        "opt-cpus": ["1"], "opt-autostart": ["1"],
    }  # fmt: skip
    assert presets.preset_link("gpu run", autostart=True) == "?opt-preset=gpu+run&opt-autostart=1"


def test_the_form_saves_and_forgets_presets():
    form = {"project": ["ai-alpha"], "preset_name": [" gpu run "], "forget_preset": ["old", "x"]}
    options, save, forget = presets.split_form(form)
    assert (options, save, forget) == ({"project": "ai-alpha"}, "gpu run", ["old", "x"])
    kept = presets.updated({"old": SMALL, "keep": SMALL}, save, {"project": "ai-alpha"}, forget)
    assert kept == {"keep": SMALL, "gpu run": {"project": "ai-alpha"}}


@pytest.mark.parametrize("name", ["a/b", "<script>", "x" * 41, "-lead"])
def test_odd_preset_names_are_refused(name):
    with pytest.raises(OptionError, match="a preset name is") as caught:
        presets.split_form({"preset_name": [name]})
    assert caught.value.field == "preset_name"


def test_presets_are_bounded():
    full = {f"p{i}": SMALL for i in range(presets.MAX_PRESETS)}
    with pytest.raises(OptionError, match="at most 20 presets"):
        presets.updated(full, "one more", SMALL, [])
    assert presets.updated(full, "p0", {"cpus": 2}, [])["p0"] == {"cpus": 2}  # replaced


def test_the_form_offers_presets_and_environments_escaped(demo_site):
    html = render_form(
        demo_site, demo_site.projects_of("alice"), None, {}, {},
        presets={"<b>x</b>": SMALL}, from_link=True,
    )  # fmt: skip
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert 'href="?opt-preset=%3Cb%3Ex%3C%2Fb%3E&amp;opt-autostart=1"' in html
    assert 'id="aif-from-link"' in html
    assert '<option value="factory" selected>' in html
    assert '<option value="jax">' in html


def test_a_link_that_only_fills_in_is_not_logged_as_a_failure():
    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord("JupyterHub", logging.ERROR, __file__, 1, "Failed to spawn",
                                 None, (type(exc), exc, None))  # fmt: skip

    quiet = presets.QuietPrefill()
    assert quiet.filter(record(presets.Prefill())) is False
    assert quiet.filter(record(ValueError("a real failure"))) is True
