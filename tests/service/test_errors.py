"""In-process: bad input gets the one error body `{status, message, field}`: a 400 naming the
field for every operation with a body (generated from the route records' body models), a
404 for an object that is not there or not the caller's, a 409 for the wrong state; and a
refused request changes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from aifactory_hub.service.app import ROUTES
from aifactory_hub.service.base import Route
from aifactory_hub.store import models as m
from tests.access import draft
from tests.service.client import EVERY_SCOPE, concrete, label
from tests.service.world import TICKET, workshop_body

WITH_BODY = [r for r in ROUTES if r.body is not None]


def first_required(route: Route) -> str | None:
    """The field an empty body is refused for: the model's first required one (a draft has
    none: it may be saved incomplete)."""
    return next((name for name, f in route.body.model_fields.items() if f.is_required()), None)


def events(store) -> int:
    with store() as db:
        return db.scalar(select(func.count()).select_from(m.Event))


@pytest.mark.parametrize("route", WITH_BODY, ids=label)
async def test_a_bad_body_is_a_400_naming_the_field(client, route, store):
    token = client.auth.token("staffer", EVERY_SCOPE)
    method, path = route.method.upper(), concrete(route)
    first = next(iter(route.body.model_fields))
    cases = [
        (json.dumps({first: {"not": ["a value"]}}).encode(), None, first),
        (b"{not json", "the body is not valid JSON", ""),
        (b'["a", "list"]', "the body must be a JSON object", ""),
        (b"[" * 100_000, "the body is not valid JSON", ""),  # nested too deep
    ]
    if first_required(route):
        cases.append((b"{}", "Field required", first_required(route)))
    for data, message, field in cases:
        answer = await client.call(method, path, token=token, data=data)
        assert answer.status == 400, (data[:30], answer.text)
        error = answer.json()
        assert set(error) == {"status", "message", "field"} and error["status"] == 400
        assert error["field"] == field, (data[:30], error)
        if message:
            assert error["message"] == message
    assert events(store) == 0


@pytest.mark.parametrize(
    ("user", "path", "body"),
    [
        ("bob", "proposals", lambda w: draft(w["call"], "A title", "Bob Labs", 1)),
        ("bob", "tickets", lambda w: TICKET),
        ("tess", "workshops", lambda w: workshop_body()),
    ],
)
async def test_an_unknown_field_in_a_valid_body_is_named(client, world, store, user, path, body):
    before = events(store)
    answer = await client.call("POST", path, user, {**body(world), "cmd": "rm -rf /"})
    assert answer.status == 400
    assert answer.json() == {"status": 400, "message": "unknown field", "field": "cmd"}
    assert events(store) == before


async def test_a_value_out_of_range_names_its_dotted_field(client, world):
    body = {"call_id": world["call"], "title": "Too much", "requests": [
        {"partition": "gpu", "gpu_hours": -5, "cpu_hours": 0}]}  # fmt: skip
    answer = await client.call("POST", "proposals", "bob", body)
    assert answer.status == 400
    assert answer.json()["field"] == "requests.0.gpu_hours"


@pytest.mark.parametrize(
    ("user", "method", "path"),
    [
        ("bob", "GET", "proposals/999999"),  # no such proposal
        ("alice", "GET", "proposals/{draft}"),  # bob's: alice does not see it
        ("alice", "GET", "tickets/{ticket}"),  # bob's ticket
        ("alice", "GET", "projects/{project}"),  # carol's project
        ("alice", "GET", "usage/projects/{project}"),
        ("tess", "GET", "workshops/999999"),
        ("sam", "POST", "calls/999999/close"),
        ("sam", "DELETE", "sessions/alice"),  # alice has no session
        ("sam", "DELETE", "sessions/nosuchuser"),  # the hub knows no such user
        ("bob", "GET", "workshops/mine"),  # bob is in no workshop
    ],
)
async def test_what_is_not_there_or_not_yours_is_a_404(client, world, store, user, method, path):
    before = events(store)
    answer = await client.call(method, path.format(**world), user)
    assert answer.status == 404, answer.text
    error = answer.json()
    assert error["status"] == 404 and error["message"] and error["field"] == ""
    assert events(store) == before


async def test_the_wrong_state_is_a_409_and_changes_nothing(client, world, store):
    await client.call("POST", "calls/{call}/close".format(**world), "sam")
    before = events(store)
    again = await client.call("POST", "calls/{call}/close".format(**world), "sam")
    assert again.status == 409
    assert again.json() == {
        "status": 409, "message": f"call {world['call']} is closed, not open", "field": "",
    }  # fmt: skip
    assert events(store) == before


async def test_a_staff_only_query_is_refused_naming_the_parameter(client, world):
    answer = await client.call("GET", "usage?all=1", "bob")
    assert answer.status == 403
    assert answer.json() == {
        "status": 403,
        "message": "bob lacks the scope custom:aifactory:usage:read",
        "field": "all",
    }


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("proposals?call=abc", "call"),
        ("proposals?call=99999999999999999999", "call"),
        ("proposals?status=pending", "status"),
        ("proposals?sort=soonest", "sort"),
        ("usage/billing?from=yesterday", "from"),
        ("usage/billing?from=2026-11-02&to=2026-11-01", "to"),
        ("usage/billing?from=0001-01-01&to=0001-01-02", "from"),
    ],
)
async def test_a_bad_query_parameter_is_a_400_naming_it(client, path, field):
    answer = await client.call("GET", path, "sam")
    assert answer.status == 400, answer.text
    assert answer.json()["field"] == field


async def test_a_bad_user_name_for_a_session_stop_is_a_400(client, hub):
    answer = await client.call("DELETE", "sessions/Bob%40example.org", "sam")
    assert answer.status == 400
    assert answer.json() == {"status": 400, "message": "not a valid user name", "field": ""}
    assert hub.calls == []
