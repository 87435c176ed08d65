"""The demo's run when the factory refuses a step (unit: a scripted client; the real demo is
tests/hub/test_demo.py). `up` must still end with the hub up and the logins printed, so a
failed step is named, the steps that need it are skipped, and the others still run."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory_hub.ops.demo import Demo, DemoError


class Refusing:
    """The factory answers the site facts and empty lists, and refuses every change."""

    def __init__(self) -> None:
        self.changes: list[str] = []

    def wait_for_factory(self, user: str, timeout: float = 120) -> dict[str, Any]:
        return {}

    def call(self, user: str, method: str, path: str, body: Any = None) -> Any:
        if method == "GET":
            return {} if path == "usage" else []
        self.changes.append(f"{method} {path}")
        raise DemoError(f"{method} {path} as {user}: 503 the store is locked")


@pytest.mark.hardening(
    "fault",
    "the factory service refuses the demo's requests while `up` makes the demo",
    "each failed step named with the service's answer, the steps that need it skipped, the "
    "others tried, and 'run up again' said; up goes on to print the logins",
)
def test_a_refused_step_is_named_and_what_needs_it_is_skipped():
    client = Refusing()
    outcome = Demo(client).run()  # type: ignore[arg-type]

    problems = outcome.problems
    assert problems["calls"] == "POST calls as sam: 503 the store is locked"
    for step in ("requests", "decision round", "members", "jobs"):
        assert problems[step].startswith("skipped: needs calls"), step
    # the ticket and the workshop need no call: they were tried, and say why they failed
    assert "503 the store is locked" in problems["ticket"]
    assert "503 the store is locked" in problems["workshop"]
    assert any(c.startswith("POST tickets") for c in client.changes)
    lines = outcome.lines()
    assert "! demo step 'calls' failed: POST calls as sam: 503 the store is locked" in lines
    assert lines[-1].startswith("! run `up` again")


def test_a_factory_that_never_answers_stops_the_demo_before_any_step():
    class Silent(Refusing):
        def wait_for_factory(self, user: str, timeout: float = 120) -> dict[str, Any]:
            raise DemoError("the factory service did not answer: connection refused")

    client = Silent()
    outcome = Demo(client).run()  # type: ignore[arg-type]
    assert outcome.problems == {
        "factory service": "the factory service did not answer: connection refused"
    }
    assert client.changes == []
