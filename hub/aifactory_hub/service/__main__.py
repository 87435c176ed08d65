"""Run the factory service (started by JupyterHub as a managed service)."""

from __future__ import annotations

import asyncio
import logging
import os
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuth

from aifactory_hub.service import workshops_api
from aifactory_hub.service.app import HubAPI, make_app
from aifactory_hub.service.cluster import ClusterMonitor
from aifactory_hub.site import load_site
from aifactory_hub.store import db
from aifactory_hub.usage.collector import shared_collector


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s %(name)s] %(message)s")
    site = load_site()
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/factory/")
    hub_auth = HubAuth()
    hub = HubAPI(hub_auth.api_url, hub_auth.api_token)
    monitor = ClusterMonitor(hub.get, interval=site.services.cluster_refresh_s)
    db.migrate(site.services.store_url)
    store = db.session_factory(db.make_engine(site.services.store_url))
    app = make_app(prefix, hub_auth, hub, monitor, site, store)
    app.listen(url.port or 80, address=url.hostname or "127.0.0.1")
    # Accounting into the store, every collector_interval_s: pages read the store, not slurmdbd.
    shared_collector(store, site.site.cluster, site.services.collector_interval_s).start()
    logging.getLogger("aifactory.service").info("factory service on %s%s", url.geturl(), prefix)
    # Runs for ever: workshops start and end on time, nobody has to press a button.
    await workshops_api.end_due_workshops(hub, store, site)


if __name__ == "__main__":
    asyncio.run(main())
