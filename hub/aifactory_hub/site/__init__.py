"""The site file: its schema and loader (`schema`), the hub's RBAC vocabulary (`scopes`) and
where the shipped dashboards and notebooks are (`paths`).

Everything here but `paths` (which looks at the installed files) is pure; every other layer
of the factory reads the site through it.
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
    OAuthSettings,
    Partition,
    PathSettings,
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
from aifactory_hub.site.software import Environment, SoftwareSettings
from aifactory_hub.site.storage import CatalogueItem, StorageSettings

__all__ = [
    "DEMO_SITE",
    "FACTORY_GROUP",
    "SITE_ENV",
    "AuthSettings",
    "CatalogueItem",
    "DemoUser",
    "Environment",
    "GpuType",
    "HubSettings",
    "JobSettings",
    "OAuthSettings",
    "Partition",
    "PathSettings",
    "Project",
    "Role",
    "ServiceSettings",
    "SessionDefaults",
    "Site",
    "SiteError",
    "SiteInfo",
    "SoftwareSettings",
    "StorageSettings",
    "load_site",
    "parse_site",
]
