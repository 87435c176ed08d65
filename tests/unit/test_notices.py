"""What the hub home says when Slurm ended a running session (hubside/notices.py)."""

from __future__ import annotations

import pytest

from aifactory_hub.hubside.config import TEMPLATES, apply_site
from aifactory_hub.hubside.notices import ended_notice, memory_notice
from aifactory_hub.site.sessions import SessionRequest

REQUEST = SessionRequest("ai-alpha", "cpu", 2, 4, 0, 90)


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("NODE_FAIL", "ended because its node failed. Start again: Slurm gives you a node"),
        ("OUT_OF_MEMORY", "used more memory than the 4 GB it asked for"),
        ("TIMEOUT", "reached its wall time of 1.5 h"),
        ("PREEMPTED", "was preempted"),
        ("CANCELLED by 0", "ended: Slurm says CANCELLED"),
        ("", "ended: Slurm says gone"),
    ],
)
def test_each_end_is_said_in_words_with_the_job_and_node(state, says):
    text = ended_notice("42", state, "cpu2", REQUEST)
    assert text.startswith("Your session (Slurm job 42 on node cpu2)")
    assert says in text


def test_without_the_request_or_node_it_still_says_what_happened():
    assert ended_notice("7", "OUT_OF_MEMORY", "", None) == (
        "Your session (Slurm job 7) was stopped: it used more memory than what it asked for. "
        "Start again with more memory, or load less data at once."
    )


def test_a_kernel_killed_for_memory_is_said_after_the_user_stops():
    text = memory_notice("42", "cpu1", REQUEST)
    assert text.startswith("In your last session (Slurm job 42 on node cpu1)")
    assert "more memory than the 4 GB it asked for" in text and "kernel" in text
    assert "what it asked for" in memory_notice("42", "", None)


def test_the_hub_home_template_shows_the_notice_above_jupyterhubs_own(demo_site):
    from traitlets.config import Config

    c = apply_site(Config(), demo_site, site_file="/s.toml", proxy_command="chp")
    assert c.JupyterHub.template_paths == [str(TEMPLATES)]
    home = (TEMPLATES / "home.html").read_text()
    assert '{% extends "templates/home.html" %}' in home
    assert "{{ default_server.ended_notice }}" in home and "{{ super() }}" in home
