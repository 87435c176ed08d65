"""The server extension's three routes, under the server's base URL, each for the session's
own user only (Jupyter server's authentication and authorization, as its own API):

- `GET  aifactory/session`: the status bar's facts (`session.SessionFacts`);
- `GET  aifactory/cards`: the launcher's AI Factory cards, in order (`cards.CARDS`);
- `POST aifactory/cards/<id>/open`: the card's notebook in the user's folder, made once
  (`starters.open_starter`); an unknown id is a 404.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from aifactory_lab.cards import cards_json, find_card
from aifactory_lab.session import SessionFacts
from aifactory_lab.starters import open_starter

# Any one path segment: which ids exist is the card list's to say, so every unknown id (a
# '..' too) gets the same JSON 404.
_CARD_ID = r"[^/]+"


class SessionHandler(APIHandler):
    def initialize(self, facts: SessionFacts) -> None:
        self.facts = facts

    @web.authenticated
    async def get(self) -> None:
        self.finish(json.dumps(await self.facts.answer()))


class CardsHandler(APIHandler):
    @web.authenticated
    def get(self) -> None:
        self.finish(json.dumps(cards_json()))


class OpenCardHandler(APIHandler):
    def initialize(self, root: Path) -> None:
        self.root = root

    @web.authenticated
    async def post(self, card_id: str) -> None:
        card = find_card(card_id)
        if card is None:
            raise web.HTTPError(404, f"no AI Factory card {card_id!r}")
        opened = await asyncio.to_thread(open_starter, self.root, card)
        self.finish(json.dumps({"path": opened.path, "created": opened.created}))


def handlers(base_url: str, root: Path, facts: SessionFacts) -> list[tuple]:
    """The routes under `base_url`, for `web_app.add_handlers`."""
    return [
        (url_path_join(base_url, "aifactory/session"), SessionHandler, {"facts": facts}),
        (url_path_join(base_url, "aifactory/cards"), CardsHandler),
        (
            url_path_join(base_url, f"aifactory/cards/({_CARD_ID})/open"),
            OpenCardHandler,
            {"root": root},
        ),
    ]
