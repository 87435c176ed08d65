"""The factory service's tornado application, assembled from the features' route records, and
the real outside world it runs against (the hub, Slurm, the accounts)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from jupyterhub.services.auth import HubAuth
from sqlalchemy.orm import Session, sessionmaker
from tornado import web

from aifactory_hub.access import projects as prj
from aifactory_hub.data import folders
from aifactory_hub.service.base import Context, NotFoundHandler, Route, SlurmSteps, rules
from aifactory_hub.service.cluster import ClusterMonitor
from aifactory_hub.service.hub_api import HubAPI
from aifactory_hub.service.routes import (
    about,
    access,
    cluster,
    data,
    jobs,
    reports,
    site,
    tickets,
    usage,
    workshops,
)
from aifactory_hub.site import Site
from aifactory_hub.usage.collector import shared_collector
from aifactory_hub.workshops import lifecycle as life

ROUTES: tuple[Route, ...] = (
    *about.routes,
    *cluster.routes,
    *access.routes,
    *reports.routes,
    *site.routes,
    *tickets.routes,
    *jobs.routes,
    *usage.routes,
    *workshops.routes,
    *data.routes,
)


def make_app(prefix: str, context: Context, routes: Sequence[Route] = ROUTES) -> web.Application:
    """The service's routes under its hub prefix (e.g. /services/factory/api/...)."""
    api = prefix.rstrip("/") + "/api"
    return web.Application(
        rules(api, routes),
        context=context,
        routes=tuple(routes),
        api_prefix=api,
        default_handler_class=NotFoundHandler,
    )


def real_context(site: Site, store: sessionmaker[Session], auth: HubAuth) -> Context:
    """The service's context in production: the hub is called at `auth`'s API URL with the
    service's own token; Slurm and the accounts are changed for real."""
    hub = HubAPI(auth.api_url, auth.api_token)
    services = site.services
    return Context(
        site=site,
        store=store,
        auth=auth,
        hub=hub,
        monitor=ClusterMonitor(hub.get, interval=services.cluster_refresh_s),
        # The one collector of this store: the periodic task and "collect now" share it.
        collector=shared_collector(store, site.site.cluster, services.collector_interval_s),
        slurm=SlurmSteps(
            provision=partial(prj.provision_project, storage=site.storage, access=site.access),
            create_workshop=life.create,
            extend_workshop=life.extend,
            end_workshop=life.teardown,
            remove_data=folders.remove,
        ),
    )
