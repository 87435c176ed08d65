"""The data side's operations: the shared catalogue of datasets and models.

A researcher sees the items their projects may use (the site file's projects and the store's
active ones), each with its licence, path and a ready snippet; staff who manage proposals see
every item and which projects may use it. The answer comes from the site file alone: no
request reads the cluster's filesystem.
"""

from __future__ import annotations

from aifactory_hub.access.proposals import accounts_of
from aifactory_hub.core.errors import AccessError
from aifactory_hub.data import catalogue
from aifactory_hub.service.base import Handler, Route
from aifactory_hub.site import scopes

QUERY = {"q": {"type": "string", "maxLength": catalogue.MAX_QUERY}}


async def list_catalogue(h: Handler) -> None:
    query = h.get_query_argument("q", "")
    if len(query) > catalogue.MAX_QUERY:
        raise AccessError(400, f"a search is at most {catalogue.MAX_QUERY} characters", "q")
    staff = h.holds(scopes.PROPOSALS_MANAGE)
    items = list(h.site.catalogue)
    if not staff:
        with h.store() as db:
            items = catalogue.usable(items, accounts_of(db, h.site, h.user))
    found = catalogue.search(items, query)
    h.write_json([catalogue.item_json(item, staff=staff) for item in found])


routes: list[Route] = [
    Route("get", "catalogue", list_catalogue,
          "The shared datasets and models you may use (staff: all, with who may use each)",
          (scopes.FACTORY_ACCESS,), query=QUERY),
]  # fmt: skip
