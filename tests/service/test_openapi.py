"""In-process: the OpenAPI document the service serves lists every operation of its route
records, with its statuses, parameters, body schema and security, and loads as OpenAPI
(schemathesis, which the real-stack fuzz drives from this document)."""

from __future__ import annotations

import json

import pytest
import schemathesis

from aifactory_hub.service import openapi
from aifactory_hub.service.app import ROUTES
from tests.service.client import PREFIX, label

PROBLEMS = {"400", "401", "403", "404", "409"}


@pytest.fixture(scope="module")
def document() -> dict:
    """The document as the service builds it (JSON in, JSON out: as a client reads it)."""
    return json.loads(json.dumps(openapi.document(ROUTES, PREFIX + "api")))


async def test_the_service_serves_the_document_without_a_token(client, document):
    answer = await client.call("GET", "openapi.json")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == document


async def test_the_document_lists_exactly_the_routes(document):
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": PREFIX + "api"}]
    listed = {(method, path) for path, item in document["paths"].items() for method in item}
    assert listed == {(r.method, "/" + r.path) for r in ROUTES}
    schema = schemathesis.openapi.from_dict(document)
    loaded = {(op.ok().method, op.ok().path) for op in schema.get_all_operations()}
    assert loaded == listed


@pytest.mark.parametrize("route", ROUTES, ids=label)
async def test_each_operation_is_described_as_its_route_record_says(document, route):
    op = document["paths"]["/" + route.path][route.method]
    assert op["summary"] == route.summary
    success = {str(code) for code in route.success}
    if route.scopes:
        assert op["security"] == [{"hubToken": []}]
        upstream = {"502"} if route.upstream else set()
        assert set(op["responses"]) == success | PROBLEMS | upstream
        for code in PROBLEMS | upstream:
            error = op["responses"][code]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}
    else:
        assert "security" not in op and set(op["responses"]) == success
    for code in success:
        assert set(op["responses"][code]["content"]) == {route.content}
    params = [(p["name"], p["in"], p["required"]) for p in op["parameters"]]
    assert params == [(name, "path", True) for name in route.params] + [
        (name, "query", False) for name in route.query
    ]
    if route.body is None:
        assert "requestBody" not in op
    else:
        body = op["requestBody"]["content"]["application/json"]["schema"]
        assert body == route.body.model_json_schema()
        assert body["additionalProperties"] is False  # unknown fields are refused


async def test_the_error_schema_is_the_error_body(document):
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["status", "message"]
    assert set(error["properties"]) == {"status", "message", "field"}


async def test_the_parameters_schemas_match_what_the_routing_accepts(document):
    """The pattern a path parameter is described with is the one tornado matches."""
    described = {
        p["name"]: p["schema"]
        for item in document["paths"].values()
        for op in item.values()
        for p in op["parameters"]
        if p["in"] == "path"
    }
    assert described["id"]["pattern"] == "^[0-9]+$"
    assert described["account"]["pattern"] == "^[a-z][a-z0-9_-]{0,31}$"
    proposals = document["paths"]["/proposals"]["get"]["parameters"]
    assert [p["name"] for p in proposals] == ["call", "status", "sort"]
    assert proposals[2]["schema"]["enum"] == ["arrival", "due"]
