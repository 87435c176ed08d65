"""In-process: every operation, run for real against a small world (see conftest `world`),
answers the success status and content type its route record documents. Every route must
have an example here: a route added without one fails `test_every_route_has_an_example`."""

from __future__ import annotations

import pwd
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aifactory_hub.service.app import ROUTES
from tests.access import draft
from tests.service.client import NO_BODY, label
from tests.service.world import CALL, TICKET, workshop_body

ROOT = pwd.getpwuid(0).pw_name  # a POSIX account every machine has (added, given a playground)
PERIOD = "from=2026-01-01&to=2026-12-31"
REPORT = {"summary": "We trained and released a detector for parcels in warehouses.",
          "products": [{"kind": "model", "title": "Parcel detector",
                        "url": "https://example.org/model"}], "acknowledged": True}  # fmt: skip


@dataclass(frozen=True)
class Example:
    user: str | None  # formatted with the world; None: no token; "hub": the hub's own token
    path: str  # formatted with the world
    body: Any = NO_BODY  # JSON, or a function of the world that makes it
    status: int = 200


def _draft(title: str) -> Callable[[dict], dict]:
    return lambda w: draft(w["call"], title, "Bob Labs", 10)


EXAMPLES: dict[tuple[str, str], Example] = {
    ("get", "health"): Example(None, "health"),
    ("get", "openapi.json"): Example(None, "openapi.json"),
    ("get", "cluster"): Example("sam", "cluster"),
    ("delete", "sessions/{name}"): Example("sam", "sessions/carol", status=202),
    ("get", "calls"): Example("bob", "calls"),
    ("post", "calls"): Example("sam", "calls", CALL, 201),
    ("post", "calls/{id}/close"): Example("sam", "calls/{call}/close"),
    ("get", "calls/{id}/ranking"): Example("sam", "calls/{review_call}/ranking"),
    ("post", "calls/{id}/decide"): Example("sam", "calls/{review_call}/decide"),
    ("post", "proposals/check"): Example("bob", "proposals/check", _draft("Checked")),
    ("get", "proposals"): Example("sam", "proposals?call={review_call}&status=in_review&sort=due"),
    ("post", "proposals"): Example("bob", "proposals", _draft("Another one"), 201),
    ("get", "proposals/{id}"): Example("bob", "proposals/{draft}"),
    ("put", "proposals/{id}"): Example("bob", "proposals/{draft}", _draft("Renamed")),
    ("post", "proposals/{id}/submit"): Example("bob", "proposals/{draft}/submit"),
    ("post", "proposals/{id}/withdraw"): Example("bob", "proposals/{draft}/withdraw"),
    ("post", "proposals/{id}/technical-check"): Example(
        "sam", "proposals/{review}/technical-check", {"feasible": True, "notes": "fits"}
    ),
    ("post", "proposals/{id}/reviewers"): Example(
        "sam", "proposals/{review}/reviewers", {"reviewer": "rita"}
    ),
    ("put", "proposals/{id}/review"): Example(
        "rob", "proposals/{review}/review", {"quality": 4, "pertinence": 4, "comment": "clear"}
    ),
    ("get", "projects"): Example("carol", "projects"),
    ("get", "projects/{account}"): Example("carol", "projects/{project}"),
    ("post", "projects/{account}/members"): Example(
        "carol", "projects/{project}/members", {"username": ROOT}
    ),
    ("delete", "projects/{account}/members/{name}"): Example(
        "carol", "projects/{project}/members/bob"
    ),
    ("post", "projects/{account}/provision"): Example("sam", "projects/{project}/provision"),
    ("post", "projects/{account}/obligation"): Example(
        "carol", "projects/{project}/obligation", {"url": "https://example.org/results"}
    ),
    ("post", "projects/{account}/reprice"): Example("sam", "projects/{project}/reprice"),
    ("get", "projects/{account}/reports"): Example("carol", "projects/{project}/reports"),
    # Report 1: the world's fast-lane project owes only a final report, made on first read.
    ("put", "projects/{account}/reports/{id}"): Example(
        "carol", "projects/{project}/reports/1", lambda w: REPORT
    ),
    ("get", "reports"): Example("sam", "reports?status=upcoming"),
    ("post", "projects/{account}/end"): Example("sam", "projects/{project}/end"),
    ("post", "projects/{account}/data/remove"): Example("sam", "projects/{ended}/data/remove"),
    ("post", "playground/{name}"): Example("hub", f"playground/{ROOT}", status=201),
    ("get", "site"): Example("bob", "site"),
    ("get", "site/partitions"): Example("bob", "site/partitions"),
    ("get", "tickets"): Example("bob", "tickets?status=open"),
    ("post", "tickets"): Example("bob", "tickets", TICKET, 201),
    ("get", "tickets/topics"): Example("sam", "tickets/topics"),
    ("get", "tickets/{id}"): Example("bob", "tickets/{ticket}"),
    ("post", "tickets/{id}/messages"): Example(
        "sam", "tickets/{ticket}/messages", {"body": "Try a smaller batch."}
    ),
    ("post", "tickets/{id}/assign"): Example("sam", "tickets/{ticket}/assign", {"assignee": "sam"}),
    ("post", "tickets/{id}/close"): Example("bob", "tickets/{ticket}/close"),
    ("get", "catalogue"): Example("alice", "catalogue?q=stocks"),
    ("get", "usage"): Example("alice", "usage"),
    ("get", "usage/projects/{account}"): Example("carol", "usage/projects/{project}"),
    ("get", "usage/billing"): Example("sam", f"usage/billing?{PERIOD}"),
    ("get", "usage/billing.csv"): Example("sam", f"usage/billing.csv?{PERIOD}"),
    ("get", "usage/funder"): Example("sam", f"usage/funder?{PERIOD}"),
    ("post", "usage/collect"): Example("sam", "usage/collect"),
    ("post", "usage/storage"): Example("sam", "usage/storage"),
    ("get", "workshops"): Example("tess", "workshops"),
    ("post", "workshops"): Example("tess", "workshops", lambda w: workshop_body(3), 201),
    ("get", "workshops/mine"): Example("{participant}", "workshops/mine"),
    ("post", "workshops/mine/hand"): Example("{participant}", "workshops/mine/hand"),
    ("get", "workshops/{id}"): Example("tess", "workshops/{workshop}"),
    ("post", "workshops/{id}/extend"): Example(
        "tess",
        "workshops/{workshop}/extend",
        lambda w: {"ends_at": (datetime.now(UTC) + timedelta(hours=5)).isoformat()},
    ),
    ("post", "workshops/{id}/end"): Example("tess", "workshops/{workshop}/end"),
    ("post", "workshops/{id}/participants/{name}/restart"): Example(
        "tess", "workshops/{workshop}/participants/{participant}/restart", status=202
    ),
    ("delete", "workshops/{id}/hands/{name}"): Example(
        "tess", "workshops/{workshop}/hands/{participant}"
    ),
}


def test_every_route_has_an_example():
    routes = {(r.method, r.path) for r in ROUTES}
    assert routes - set(EXAMPLES) == set(), "add an example for each new route"
    assert set(EXAMPLES) - routes == set(), "an example for a route that is gone"


@pytest.mark.parametrize("route", ROUTES, ids=label)
async def test_the_operation_answers_its_documented_success(client, world, route):
    example = EXAMPLES[(route.method, route.path)]
    token = None
    if example.user == "hub":
        token = client.hub_token()
    elif example.user:
        token = client.token(example.user.format(**world))
    body = example.body(world) if callable(example.body) else example.body
    answer = await client.call(
        route.method.upper(), example.path.format(**world), body=body, token=token
    )
    assert answer.status == example.status, answer.text
    assert answer.status in route.success
    assert answer.headers["Content-Type"].split(";")[0] == route.content
    if route.content == "application/json":
        assert answer.json() is not None
