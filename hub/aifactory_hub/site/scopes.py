"""The project's RBAC: custom scopes, the roles that hold them, and the hub-managed services.

JupyterHub checks the scopes; this module only says who holds which. Pure functions of the
site, so tests read the roles without starting a hub.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from aifactory_hub.site import Site, paths

CLUSTER_READ = "custom:aifactory:cluster:read"
SESSIONS_STOP = "custom:aifactory:sessions:stop"
PROPOSALS_MANAGE = "custom:aifactory:proposals:manage"
PROPOSALS_REVIEW = "custom:aifactory:proposals:review"
PLAYGROUND_GRANT = "custom:aifactory:playground:grant"
TICKETS_MANAGE = "custom:aifactory:tickets:manage"
USAGE_READ = "custom:aifactory:usage:read"
WORKSHOPS_MANAGE = "custom:aifactory:workshops:manage"

CUSTOM_SCOPES: dict[str, dict[str, str]] = {
    CLUSTER_READ: {"description": "See partitions, the Slurm queue and every hub session."},
    SESSIONS_STOP: {"description": "Stop any user's session (and so cancel its Slurm job)."},
    PROPOSALS_MANAGE: {
        "description": "Run calls, checks, reviewer assignment, decisions and provisioning."
    },
    PROPOSALS_REVIEW: {"description": "Read and score the proposals assigned to you."},
    PLAYGROUND_GRANT: {"description": "Give a new user their playground project (the hub)."},
    TICKETS_MANAGE: {"description": "Read, assign, answer and close every ask-an-expert ticket."},
    USAGE_READ: {"description": "See every project's usage, the billing and the funder report."},
    WORKSHOPS_MANAGE: {"description": "Run workshops: reservation, accounts, room, teardown."},
}
# Scopes a person can hold and bring to the console (the hub's own grant is not one).
STAFF_SCOPES = (
    CLUSTER_READ,
    SESSIONS_STOP,
    PROPOSALS_MANAGE,
    PROPOSALS_REVIEW,
    TICKETS_MANAGE,
    USAGE_READ,
    WORKSHOPS_MANAGE,
)

FACTORY = "factory"
CULLER = "idle-culler"
# Managed services run under this wrapper, which ends them when the hub is gone.
HUBCHILD = "aifactory_hub.hubside.hubchild"
CONSOLE = "console"
CONSOLE_ACCESS = f"access:services!service={CONSOLE}"
FACTORY_ACCESS = f"access:services!service={FACTORY}"

# Project role -> hub scopes. Site admins hold every staff role as well as the hub's admin.
ROLE_SCOPES: dict[str, list[str]] = {
    "researcher": ["self"],
    "support": [
        CONSOLE_ACCESS,
        CLUSTER_READ,
        SESSIONS_STOP,
        PROPOSALS_MANAGE,
        TICKETS_MANAGE,
        USAGE_READ,
    ],
    "trainer": [CONSOLE_ACCESS, WORKSHOPS_MANAGE],
    "reviewer": [CONSOLE_ACCESS, PROPOSALS_REVIEW],
}
STAFF_ROLES = ("support", "trainer", "reviewer")


def role_members(site: Site) -> dict[str, list[str]]:
    """role -> users holding it, from the site's users (admins hold every staff role)."""
    admins = set(site.hub.admin_users) | set(site.users_with_role("admin"))
    members: dict[str, list[str]] = {}
    for role in ROLE_SCOPES:
        users = set(site.users_with_role(role))
        if role in STAFF_ROLES:
            users |= admins
        members[role] = sorted(users)
    return members


def load_roles(site: Site) -> list[dict[str, Any]]:
    """`JupyterHub.load_roles`: the project's user roles and the services' own roles."""
    members = role_members(site)
    roles: list[dict[str, Any]] = [
        {
            "name": role,
            "description": f"AI factory {role}",
            "scopes": scopes,
            "users": members[role],
        }
        for role, scopes in ROLE_SCOPES.items()
    ]
    if site.hub.cull_idle_s:
        roles.append(
            {
                "name": "idle-culler",
                "description": "Stops idle sessions, and with them their Slurm jobs",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": [CULLER],
            }
        )
    roles.append(
        {
            "name": "factory-service",
            "description": "The factory service: reads sessions, stops them on staff request",
            "scopes": [
                "list:users",
                "read:users",
                "read:servers",
                "admin:server_state",
                "servers",
                PLAYGROUND_GRANT,
            ],
            "services": [FACTORY],
        }
    )
    return roles


def services(
    site: Site,
    site_file: str,
    python: str = sys.executable,
    factory_token: str = "",
    hub_pid: int | None = None,
) -> list[dict[str, Any]]:
    """`JupyterHub.services`: the factory service (as the hub's user) and the console (as an
    unprivileged system user, so a dashboard kernel holds no root powers). Each runs under
    `hubchild`, told the hub's pid (default: this process, the hub loading its config)."""
    child = [python, "-m", HUBCHILD, "--parent", str(hub_pid or os.getpid())]
    env = {"AIFACTORY_SITE": site_file} if site_file else {}
    svc = site.services
    factory_url = svc.factory_url.rstrip("/")
    factory: dict[str, Any] = {"api_token": factory_token} if factory_token else {}
    managed = [
        {
            **factory,
            "name": FACTORY,
            "url": factory_url,
            "command": [*child, "aifactory_hub.service"],
            "environment": env,
            "display": False,
            "oauth_no_confirm": True,
        },
        {
            "name": CONSOLE,
            "url": svc.console_url.rstrip("/"),
            "command": [*child, "aifactory_hub.console"],
            # The console reads no site file (it may be private to root): it gets what it
            # needs here.
            "environment": {
                "AIFACTORY_SITE_NAME": site.site.name,
                "AIFACTORY_FACTORY_URL": f"{factory_url}/services/{FACTORY}/",
                "AIFACTORY_REFRESH_S": str(svc.cluster_refresh_s),
                "AIFACTORY_KERNEL_CULL_S": str(svc.kernel_cull_idle_s),
                **paths.environment(site.paths),
            },
            "user": svc.console_user,
            "cwd": "/",
            "oauth_no_confirm": True,
            # The viewer's own token (their scopes, at most these) goes into a dashboard's
            # kernel: the factory service then authorises the person, not the console.
            "oauth_client_allowed_scopes": [FACTORY_ACCESS, *STAFF_SCOPES],
            "info": {"description": "Support staff and trainers: dashboards of the centre"},
        },
    ]
    if site.hub.cull_idle_s:
        managed.append(idle_culler(site.hub.cull_idle_s, child))
    return managed


def idle_culler(idle_s: int, child: list[str]) -> dict[str, Any]:
    """jupyterhub-idle-culler as a hub-managed service: a session idle for `idle_s` seconds
    is stopped through the hub API, so the spawner cancels its Slurm job. `child` is the
    hubchild command prefix the other services run under."""
    every = min(600, max(10, idle_s // 3))
    return {
        "name": CULLER,
        "command": [
            *child,
            "jupyterhub_idle_culler",
            f"--timeout={idle_s}",
            f"--cull-every={every}",
        ],
        # It reads `idle_culler_config.py` from its working directory: give it an empty one.
        "cwd": "/",
        "display": False,
    }
