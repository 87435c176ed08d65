"""One user-name grammar and one Slurm-name grammar (site.names), and every validator of the
hub that checks such a name agreeing with them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from aifactory_hub.access import bodies as access_bodies
from aifactory_hub.helpdesk.bodies import Context
from aifactory_hub.ops import sudoers
from aifactory_hub.site import names
from aifactory_hub.slurm import jobs, reservations
from aifactory_hub.workshops.plan import NewWorkshop

USERNAMES = ["alice", "_svc", "a.b-c_d", "ws7a1b2-01", "a" * 32]
NOT_USERNAMES = ["", "Alice", "alice@example.org", "1alice", "-x", ".x", "a b", "a" * 33,
                 "alice\n", "al$ce", "al,ice"]  # fmt: skip
SLURM_NAMES = ["ai-alpha", "cpu", "ws-7-a1b2", "a_b", "a" * 32]
NOT_SLURM_NAMES = ["", "AI", "_x", "1cpu", "a.b", "cpu,gpu", "a b", "a" * 33, "cpu\n", "x=y"]


def test_the_two_grammars():
    assert all(names.is_username(n) for n in USERNAMES)
    assert not any(names.is_username(n) for n in NOT_USERNAMES)
    assert all(names.is_slurm_name(n) for n in SLURM_NAMES)
    assert not any(names.is_slurm_name(n) for n in NOT_SLURM_NAMES)
    assert not names.is_username(None) and not names.is_slurm_name(3)


def test_the_pydantic_types_say_the_same():
    for kind, good, bad in (
        (names.Username, USERNAMES, NOT_USERNAMES),
        (names.SlurmName, SLURM_NAMES, NOT_SLURM_NAMES),
        (names.OptionalSlurmName, ["", *SLURM_NAMES], NOT_SLURM_NAMES[1:]),
    ):
        adapter = TypeAdapter(kind)
        for name in good:
            assert adapter.validate_python(name) == name
        for name in bad:
            with pytest.raises(ValidationError):
                adapter.validate_python(name)


def test_require_says_what_was_expected():
    assert names.require_username("alice") == "alice"
    with pytest.raises(ValueError, match="not a hub user: 'Bob'"):
        names.require_username("Bob", "hub user")
    with pytest.raises(ValueError, match="not a partition: 'a b'"):
        names.require_slurm_name("a b", "partition")


def _accepts(check, name: str) -> bool:
    try:
        check(name)
    except (ValueError, ValidationError, sudoers.SudoersError):
        return False
    return True


T0, T1 = datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 17, tzinfo=UTC)
USER_CHECKS = {
    "sudoers hub user": lambda n: sudoers.render(n, commands={"/usr/bin/scancel": "^[0-9]+$"}),
    "squeue --user": lambda n: jobs.named_jobs_argv(n, "jupyterhub-session"),
    "sacct --user": jobs.recent_jobs_argv,
    "project member": lambda n: access_bodies.MemberBody.model_validate({"username": n}),
    "reviewer": lambda n: access_bodies.ReviewerBody.model_validate({"reviewer": n}),
}
SLURM_CHECKS = {
    "reservation": lambda n: reservations.delete_reservation_argv(n),
    "workshop partition": lambda n: NewWorkshop.model_validate(
        {"title": "abc", "starts_at": T0, "ends_at": T1, "participants": 1, "partition": n}
    ),
    "ticket context": lambda n: Context.model_validate({"project": n, "partition": n}),
    "allocation request": lambda n: access_bodies.RequestBody.model_validate({"partition": n}),
}


@pytest.mark.parametrize("check", USER_CHECKS.values(), ids=USER_CHECKS)
def test_every_user_name_validator_uses_the_one_grammar(check):
    assert [n for n in USERNAMES if _accepts(check, n)] == USERNAMES
    assert [n for n in NOT_USERNAMES if _accepts(check, n)] == []


@pytest.mark.parametrize("check", SLURM_CHECKS.values(), ids=SLURM_CHECKS)
def test_every_slurm_name_validator_uses_the_one_grammar(check):
    accepted = [n for n in SLURM_NAMES if _accepts(check, n)]
    assert accepted == SLURM_NAMES
    assert [n for n in NOT_SLURM_NAMES if n and _accepts(check, n)] == []
