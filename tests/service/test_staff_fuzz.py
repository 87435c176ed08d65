"""In-process: the property-based fuzz of every operation of the factory service's OpenAPI
(schemathesis, with the checks of the real-stack fuzz in tests/hub/test_api_fuzz.py) as staff
holding every role, so that staff bodies are fuzzed past the 403 where the real-stack fuzz's
role-less user stops.

Why in-process and not through the test hub: the test hub's store is shared by every hub test
(their calls, rankings and counts), and staff operations change Slurm: a fuzzed but valid
decision, member change or provisioning retry runs `sacctmgr` and makes real accounts and
associations. So the real application runs here on a store of its own (SQLite in tmp_path,
migrated as the real one is) holding the world of `tests.service.world` (calls, proposals in
draft and in review, a live and an ended project, a ticket, a workshop, a session), with what
lies outside the service replaced at its seams (`tests.service.mocking`): the hub's auth (the
token holds the scopes the hub gives the site admin, checked with JupyterHub's own
`check_scopes`), the hub's API, Slurm's read commands (canned), provisioning (the real
`provision_project` with its sacctmgr step recorded, not run) and the workshop steps (store
only). Any other command the service ran would fail the test (`no_real_slurm`), and show up as
a 500. Provisioning through the real service into the real Slurm is tested on the real stack
by tests/hub/test_access_api.py (`test_grants_are_priced_and_provisioned_into_slurm`,
`test_the_pi_adds_and_removes_a_member_and_slurm_follows`) and tests/slurm/test_provision_real.py.

Three cases in four aim their path parameters at objects of the world (a fuzzed id or
account names nothing and ends at the 404). Negative cases that schemathesis sends without the
token are checked like the others but not counted among the staff cases (the role-less fuzz
covers them). Each test counts its answers by status, the control that it fuzzed what it
claims: a staff operation (one that needs a staff scope) answered most of its cases with
something other than 401 or 403, and one with a body answered some with more than a 404 (a
success, a refusal of the body, a conflict); the hub's own operation (a playground grant) is
refused to staff. Researcher operations on another's object (editing carol's draft) end at
the owner's 403, as they must; the control does not count them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import given, reject
from hypothesis import strategies as st

from aifactory_hub.service.app import ROUTES
from aifactory_hub.site import scopes
from tests.openapi_fuzz import CHECKS, EXAMPLES, FUZZ_SETTINGS, any_case
from tests.service.client import label
from tests.service.mocking import hub_scopes
from tests.service.world import ok, workshop_body

STAFF = "ada"  # the demo site's admin: every staff role (support, trainer, reviewer)
REFUSED = (401, 403)
AIM = (True, True, True, False)  # three cases in four name objects of the world


@pytest.fixture
async def staff_world(client, world) -> dict[str, Any]:
    """The world, with a workshop of the staff caller's own and the caller assigned to review
    carol's proposal (a trainer acts on their own workshops, a reviewer on what they were
    assigned: without these those operations would end at their 404 or 403)."""
    made = await ok(await client.call("POST", "workshops", STAFF, workshop_body()), 201)
    await ok(await client.call("POST", f"proposals/{world['review']}/reviewers", "sam",
                               {"reviewer": STAFF}))  # fmt: skip
    return {**world, "own_workshop": made["workshop"]["id"],
            "own_participant": made["credentials"][0]["username"]}  # fmt: skip


def aimed(world: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    """Path parameters that name objects of the world: any of its ids (calls, proposals, the
    ticket and the workshops are numbered from 1), its projects, its people."""
    ids = {str(world[k]) for k in ("call", "draft", "review_call", "review", "ticket",
                                   "workshop", "own_workshop")}  # fmt: skip
    names = ["carol", "bob", "rob", world["participant"], world["own_participant"]]
    return st.fixed_dictionaries({
        "id": st.sampled_from(sorted(ids)),
        "account": st.sampled_from([world["project"], world["ended"]]),
        "name": st.sampled_from(names),
    })  # fmt: skip


def test_the_staff_caller_holds_every_staff_scope(site):
    assert set(scopes.STAFF_SCOPES) <= hub_scopes(site, STAFF)
    assert scopes.PLAYGROUND_GRANT not in hub_scopes(site, STAFF)  # the hub's own grant


@pytest.mark.hardening(
    "bad input",
    "property-based fuzz of an operation as staff holding every role (schemathesis), on the "
    "real service with a private store (Slurm and accounts recorded, not run)",
    "no 5xx; only documented statuses, content types and error bodies; most cases past the 401/403",
)
@pytest.mark.parametrize("route", ROUTES, ids=label)
async def test_fuzz_every_operation_as_staff_on_a_private_store(client, staff_world, site, route):
    document = (await client.call("GET", "openapi.json")).json()
    operation = schemathesis.openapi.from_dict(document)["/" + route.path][route.method.upper()]
    generated = any_case(operation)
    base_url = client.base.rstrip("/")
    headers = {"Authorization": f"token {client.token(STAFF)}"}
    # by status: cases that carried staff's token, and those schemathesis sent without it
    statuses: Counter[int] = Counter()
    tokenless: Counter[int] = Counter()

    @given(case=generated, aim=st.sampled_from(AIM), known=aimed(staff_world))
    @FUZZ_SETTINGS
    def fuzz(case, aim: bool, known: dict[str, str]) -> None:
        if aim and case.path_parameters:
            case.path_parameters = {name: known[name] for name in case.path_parameters}
        sent = case.as_transport_kwargs(base_url=base_url, headers=headers)["headers"]
        response = case.call_and_validate(
            base_url=base_url, headers=headers, checks=CHECKS, timeout=60
        )
        if sent.get("Authorization") != headers["Authorization"]:
            # a negative case without the token (the role-less fuzz's ground): checked, but
            # not counted among the staff cases
            tokenless[response.status_code] += 1
            reject()
        statuses[response.status_code] += 1

    # schemathesis calls synchronously: the service answers on this test's loop meanwhile
    await asyncio.to_thread(fuzz)

    assert sum(statuses.values()) >= EXAMPLES // 2, (statuses, tokenless)
    if route.scopes:
        assert set(tokenless) <= {401, 404}, tokenless  # 404: a path no route matches
    held = hub_scopes(site, STAFF)
    if not route.scopes:  # public
        assert not set(statuses) & set(REFUSED), statuses
    elif not set(route.scopes) <= held:  # the hub's own operation: refused to staff
        assert 403 in statuses and not any(200 <= s < 300 for s in statuses), statuses
    elif set(route.scopes) & set(scopes.STAFF_SCOPES):  # a staff operation
        # the control: fuzzed past the door (a 404 is the operation's own: no such object),
        # and with a body, some cases past the look-up too (answered, refused or conflicting)
        past = sum(n for status, n in statuses.items() if status not in REFUSED)
        assert past > sum(statuses.values()) / 2, statuses
        if route.body is not None:
            assert set(statuses) - {*REFUSED, 404}, statuses
