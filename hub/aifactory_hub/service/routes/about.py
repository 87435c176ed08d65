"""The service about itself: whether it answers, and its OpenAPI description (both public)."""

from __future__ import annotations

from aifactory_hub.service import openapi
from aifactory_hub.service.base import Handler, Route


async def health(h: Handler) -> None:
    h.write_json({"ok": True})


async def description(h: Handler) -> None:
    """The OpenAPI document of every route the application serves."""
    h.write_json(openapi.document(h.settings["routes"], h.settings["api_prefix"]))


routes: list[Route] = [
    Route("get", "health", health, "The service answers (no token needed)", ()),
    Route("get", "openapi.json", description, "This description (no token needed)", ()),
]
