"""A property-based fuzz of the factory service's OpenAPI description (schemathesis): every
operation, with bodies, paths and queries made from the document (valid and invalid ones),
through the hub's proxy with a real hub token. No answer may be a 5xx, a status the document
does not list, or a body or content type other than the document says; the service must
still answer afterwards.

The caller is a user made for this module only (no projects, no roles), so the records
it may create (drafts, tickets) are its own and no other test counts them; staff operations
are therefore fuzzed here only up to their 403. Staff bodies are fuzzed past it, as staff
holding every role, on the real service with a private store, by
tests/service/test_staff_fuzz.py (not here: staff operations change the shared store and
provision real Slurm accounts). Submitting a
draft is left out: a fuzzed draft that happened to be eligible would enter review in
another test's call and change its ranking.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import requests
import schemathesis
from hypothesis import given

from aifactory_hub import slurm
from aifactory_hub.service import openapi
from aifactory_hub.service.app import ROUTES
from aifactory_hub.workshops import people
from tests.openapi_fuzz import CHECKS, FUZZ_SETTINGS, any_case

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
# A fuzzed draft that happened to be eligible would enter review in another test's call.
LEFT_OUT = {"/proposals/{id}/submit"}


@pytest.fixture(scope="module")
def fuzzer(hub) -> Iterator[dict[str, str]]:
    """A throw-away POSIX user (made as a workshop participant is, expiring tomorrow), added
    to the hub by the admin (no login, so no playground), with a token; removed afterwards."""
    name = f"fuzz{uuid.uuid4().hex[:8]}"
    people.create([name], date.today() + timedelta(days=1))
    admin = {"Authorization": f"token {hub.token('ada')}"}
    users = f"{hub.url}/hub/api/users/{name}"
    try:
        resp = requests.post(users, headers=admin, timeout=30)
        assert resp.status_code == 201, resp.text
        resp = requests.post(
            f"{users}/tokens", headers=admin, json={"note": "fuzz", "expires_in": 3600}, timeout=30
        )
        assert resp.status_code == 201, resp.text
        yield {"name": name, "token": resp.json()["token"]}
    finally:
        requests.delete(users, headers=admin, timeout=30)
        slurm.run(["/usr/sbin/userdel", "-r", name], check=False)


def documented_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation the service describes, from the same code that
    serves the document (the live document is what is fuzzed)."""
    spec = openapi.document(ROUTES, "/api")
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if path not in LEFT_OUT
    ]


@pytest.fixture(scope="module")
def factory_schema(hub, fuzzer):
    return schemathesis.openapi.from_url(f"{hub.url}/services/factory/api/openapi.json")


@pytest.mark.hardening(
    "bad input",
    "property-based fuzz of an operation of the service's OpenAPI (schemathesis)",
    "no 5xx; only documented statuses, content types and error bodies",
)
@pytest.mark.parametrize(("method", "path"), documented_operations())
def test_fuzz_every_operation(hub, fuzzer, factory_schema, method, path):
    operation = factory_schema[path][method]
    cases = any_case(operation)
    base_url = f"{hub.url}/services/factory/api"
    headers = {"Authorization": f"token {fuzzer['token']}"}

    @given(case=cases)
    @FUZZ_SETTINGS
    def fuzz(case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=60)

    fuzz()


@pytest.mark.hardening(
    "bad input",
    "the service after the fuzz",
    "still answers: health, the fuzz user's own lists, a staff read",
)
def test_the_service_still_answers_after_the_fuzz(hub, fuzzer):
    base = f"{hub.url}/services/factory/api"
    assert requests.get(f"{base}/health", timeout=30).json() == {"ok": True}
    mine = requests.get(
        f"{base}/proposals", headers={"Authorization": f"token {fuzzer['token']}"}, timeout=30
    )
    assert mine.status_code == 200 and {p["applicant"] for p in mine.json()} <= {fuzzer["name"]}
    calls = requests.get(
        f"{base}/calls", headers={"Authorization": f"token {hub.token('sam')}"}, timeout=30
    )
    assert calls.status_code == 200 and isinstance(calls.json(), list)
