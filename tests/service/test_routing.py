"""In-process: tornado's routing, built from the route records, reaches every operation with
its path arguments; other methods, malformed path parameters and unknown paths are refused
with the JSON error. Generated from `service.app.ROUTES`, so a route is covered as it is
added. The operations are stand-ins here (they echo what reached them); what the real ones
answer is in test_operations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from aifactory_hub.service.app import ROUTES
from aifactory_hub.service.base import METHODS, Handler, Route
from tests.service.client import BAD, EVERY_SCOPE, GOOD, ServiceClient, concrete, label, served

PATHS = {route.path: {r.method for r in ROUTES if r.path == route.path} for route in ROUTES}


def echo(route: Route) -> Route:
    async def run(h: Handler, *args: str) -> None:
        owner = getattr(h, "token_owner", None)
        h.write_json({"reached": label(route), "args": list(args), "by": owner and owner["name"]})

    return replace(route, run=run)


@pytest.fixture
async def echoing(context) -> AsyncIterator[ServiceClient]:
    async with served(context, [echo(r) for r in ROUTES]) as service:
        yield service


def test_every_operation_has_one_route_record():
    operations = [(r.method, r.path) for r in ROUTES]
    assert len(operations) == len(set(operations))
    assert len(ROUTES) >= 50  # the access workflow, tickets, usage, workshops, console, ...


@pytest.mark.parametrize("route", ROUTES, ids=label)
async def test_the_route_reaches_its_operation_with_its_path_arguments(echoing, route):
    token = echoing.auth.token("staffer", EVERY_SCOPE) if route.scopes else None
    answer = await echoing.call(route.method.upper(), concrete(route), token=token)
    assert answer.status == 200, answer.text
    assert answer.json() == {
        "reached": label(route),
        "args": [GOOD[name] for name in route.params],
        "by": "staffer" if route.scopes else None,
    }


@pytest.mark.parametrize("path", list(PATHS))
async def test_a_method_the_path_does_not_serve_is_refused(echoing, path):
    route = next(r for r in ROUTES if r.path == path)
    token = echoing.auth.token("staffer", EVERY_SCOPE)
    for method in set(METHODS) - PATHS[path]:
        answer = await echoing.call(method.upper(), concrete(route), token=token)
        assert answer.status == 405, (method, answer.text)
        assert answer.json() == {"status": 405, "message": "Method Not Allowed", "field": ""}


@pytest.mark.parametrize("route", [r for r in ROUTES if set(r.params) & set(BAD)], ids=label)
async def test_a_path_parameter_its_pattern_refuses_is_no_route(echoing, route):
    token = echoing.auth.token("staffer", EVERY_SCOPE)
    answer = await echoing.call(route.method.upper(), concrete(route, BAD), token=token)
    assert answer.status == 404, answer.text
    assert answer.json()["message"] == "there is no such endpoint (see api/openapi.json)"


@pytest.mark.parametrize("route", [r for r in ROUTES if "id" in r.params], ids=label)
async def test_an_id_past_64_bits_names_nothing_and_reaches_no_operation(echoing, route):
    token = echoing.auth.token("staffer", EVERY_SCOPE)
    big = str(2**63)
    answer = await echoing.call(route.method.upper(), concrete(route, {"id": big}), token=token)
    assert answer.status == 404, answer.text
    assert answer.json() == {
        "status": 404, "message": f"there is no object {big[:24]}...", "field": "",
    }  # fmt: skip


@pytest.mark.parametrize(
    "path", ["", "nope", "calls/7/nope", "calls/", "../hub/api/users", "openapi.yaml"]
)
async def test_an_unknown_path_is_a_json_404(echoing, path):
    answer = await echoing.call("GET", path)
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "status": 404,
        "message": "there is no such endpoint (see api/openapi.json)",
        "field": "",
    }
