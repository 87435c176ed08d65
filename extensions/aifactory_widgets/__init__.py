"""ipywidgets for AI Factory Hub: researchers use them in notebooks, staff in Voila dashboards.

Every widget a notebook or a dashboard shows is a class here, built with no arguments in a
session: it talks to the factory service with the session's (or the console's) own token.

    from aifactory_widgets import QuotaView
    QuotaView()

Researchers: ProposalForm, MyApplications, MyProjects, MyReports (access); QuotaView (usage);
DataCatalogue, DataStaging (data); RegisterKernel, BuildEnvironment (environments);
GuideBrowser, Advisor, AskAnExpert (guides, advisor, helpdesk); DaskLauncher,
TrainingLauncher, SweepLauncher, JobMonitor, SessionUse (jobs); HelpButton (workshops).
Staff, reviewers and trainers: ClusterView, ProposalDesk, ReportsDesk, ReviewDesk,
TicketDesk, UsageDesk, WorkshopDesk, GuideBrowser.
FactoryClient and FactoryError are the way to the service, for a widget given another client.

A name is imported on first use, so `import aifactory_widgets` stays cheap: a notebook that
shows its quota does not load dask.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each public name and the module that defines it.
_HOMES = {
    "FactoryClient": "aifactory_widgets.ui.client",
    "FactoryError": "aifactory_widgets.ui.client",
    "ProposalForm": "aifactory_widgets.access.form",
    "MyApplications": "aifactory_widgets.access.status",
    "MyProjects": "aifactory_widgets.access.status",
    "ProposalDesk": "aifactory_widgets.access.proposal_desk",
    "ReviewDesk": "aifactory_widgets.access.review_desk",
    "MyReports": "aifactory_widgets.access.reports",
    "ReportsDesk": "aifactory_widgets.access.reports_desk",
    "QuotaView": "aifactory_widgets.usage.quota",
    "UsageDesk": "aifactory_widgets.usage.desk",
    "DataCatalogue": "aifactory_widgets.data.catalogue",
    "DataStaging": "aifactory_widgets.data.staging",
    "RegisterKernel": "aifactory_widgets.environments.register",
    "BuildEnvironment": "aifactory_widgets.environments.build",
    "ClusterView": "aifactory_widgets.cluster.view",
    "GuideBrowser": "aifactory_widgets.guides.browser",
    "Advisor": "aifactory_widgets.advisor.form",
    "AskAnExpert": "aifactory_widgets.helpdesk.ask",
    "TicketDesk": "aifactory_widgets.helpdesk.desk",
    "DaskLauncher": "aifactory_widgets.jobs.dask.launcher",
    "TrainingLauncher": "aifactory_widgets.jobs.training",
    "SweepLauncher": "aifactory_widgets.jobs.sweep",
    "JobMonitor": "aifactory_widgets.jobs.monitor",
    "SessionUse": "aifactory_widgets.jobs.use",
    "HelpButton": "aifactory_widgets.workshops.help",
    "WorkshopDesk": "aifactory_widgets.workshops.desk",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    """The public `name`, imported from its module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next use finds it without asking again
    return value


def __dir__() -> list[str]:
    """What a notebook's completion offers: the public names too, before they are imported."""
    return sorted({*globals(), *__all__})
