"""The service's OpenAPI 3.1 description, built from its route records (the same records
tornado's routing is built from): paths, parameters, bodies' JSON schemas and statuses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aifactory_hub.service.base import PATH_PARAMS, Route

ERROR = {
    "type": "object",
    "required": ["status", "message"],
    "properties": {
        "status": {"type": "integer"},
        "message": {"type": "string"},
        "field": {"type": "string", "description": "the dotted field at fault, or empty"},
    },
}
# What any operation that needs a token may answer besides its success.
PROBLEMS = {
    400: "bad input: the message names the field",
    401: "no or bad token",
    403: "the token lacks the scope",
    404: "not found (or not yours)",
    409: "wrong state for this change",
}
UPSTREAM = {502: "Slurm, the accounts or the hub refused a step"}


def operation(route: Route) -> dict[str, Any]:
    """One operation's description."""
    ok = {"description": "OK", "content": {route.content: {}}}
    responses: dict[str, Any] = {str(code): ok for code in route.success}
    op: dict[str, Any] = {"summary": route.summary, "parameters": parameters(route)}
    if route.scopes:
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        problems = {**PROBLEMS, **(UPSTREAM if route.upstream else {})}
        for code, text in problems.items():
            responses[str(code)] = {"description": text, "content": error}
        op["security"] = [{"hubToken": []}]
    op["responses"] = responses
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": route.body.model_json_schema()}},
        }
    return op


def parameters(route: Route) -> list[dict[str, Any]]:
    """The route's path parameters, then its query parameters."""
    path = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMS[name][1]}
        for name in route.params
    ]
    query = [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in route.query.items()
    ]
    return path + query


def document(routes: Sequence[Route], server_prefix: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of `routes`, served under `server_prefix`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault("/" + route.path, {})[route.method] = operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "AI Factory Hub: factory service", "version": "1"},
        "servers": [{"url": server_prefix}],
        "components": {
            "securitySchemes": {
                "hubToken": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
            "schemas": {"Error": ERROR},
        },
        "paths": paths,
    }
