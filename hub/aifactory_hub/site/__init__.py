"""The site file: its schema and loader (`schema`) and the hub's RBAC vocabulary (`scopes`).

Everything here is pure; every other layer of the factory reads the site through it.
"""

from aifactory_hub.site.schema import (
    DEMO_SITE,
    FACTORY_GROUP,
    SITE_ENV,
    AuthSettings,
    DemoUser,
    GpuType,
    HubSettings,
    JobSettings,
    LocalNode,
    OAuthSettings,
    Partition,
    Project,
    Role,
    ServiceSettings,
    SessionDefaults,
    Site,
    SiteError,
    SiteInfo,
    load_site,
    parse_site,
)

__all__ = [
    "DEMO_SITE",
    "FACTORY_GROUP",
    "SITE_ENV",
    "AuthSettings",
    "DemoUser",
    "GpuType",
    "HubSettings",
    "JobSettings",
    "LocalNode",
    "OAuthSettings",
    "Partition",
    "Project",
    "Role",
    "ServiceSettings",
    "SessionDefaults",
    "Site",
    "SiteError",
    "SiteInfo",
    "load_site",
    "parse_site",
]
