"""Run the factory service (started by JupyterHub as a managed service)."""

from __future__ import annotations

import asyncio
import logging
import os
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuth

from aifactory_hub.service import tasks
from aifactory_hub.service.app import make_app, real_context
from aifactory_hub.site import load_site
from aifactory_hub.store import db


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s %(name)s] %(message)s")
    site = load_site()
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/factory/")
    db.migrate(site.services.store_url)
    store = db.session_factory(db.make_engine(site.services.store_url))
    context = real_context(site, store, HubAuth())
    make_app(prefix, context).listen(url.port or 80, address=url.hostname or "127.0.0.1")
    tasks.start(context)
    logging.getLogger("aifactory.service").info("factory service on %s%s", url.geturl(), prefix)
    await asyncio.Event().wait()  # the service runs until the hub ends it


if __name__ == "__main__":
    asyncio.run(main())
