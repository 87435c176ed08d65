"""From inside a real session: the session's own token reaches the factory service with the
researcher's rights (no more), and the apply-for-access notebook runs in a kernel of that
session (as the researcher, inside their Slurm job) against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifactory_widgets import FactoryClient, FactoryError
from tests.session_kernel import run_notebook
from tests.stack import session_env, session_jobs, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def carol_session(hub):
    resp = hub.api("POST", "/users/carol/server", "carol", json={"project": "ai-beta"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("carol")
    (job,) = session_jobs("carol")
    yield session_env(job["id"])
    hub.stop("carol")
    wait_no_jobs("carol")


def test_the_session_token_reaches_the_factory_as_the_researcher(carol_session):
    url = carol_session["AIFACTORY_FACTORY_URL"]
    assert url.endswith("/services/factory/")
    client = FactoryClient(url, carol_session["JUPYTERHUB_API_TOKEN"])
    assert isinstance(client.get("api/calls"), list)
    assert all("carol" in {m["username"] for m in p["members"]} for p in client.get("api/projects"))
    with pytest.raises(FactoryError) as refused:
        client.get("api/cluster")  # staff only
    assert refused.value.status == 403


def test_the_apply_notebook_runs_in_the_users_session(hub, carol_session):
    """Opened and run in carol's session, as JupyterLab runs it: its kernel is the one the
    notebook names, in carol's Slurm job, as carol; its three widgets are shown."""
    run = run_notebook(hub.url, "carol", hub.token("carol"), NOTEBOOKS / "apply-for-access.ipynb")
    assert run.errors == []
    assert (run.kernel, run.user, run.job) == ("aifactory", "carol", carol_session["SLURM_JOB_ID"])
    assert len(run.cells) == 3
    assert len(run.outputs(WIDGET_VIEW)) == 3  # the form, the applications, the projects


def test_the_session_is_told_where_its_projects_folders_are(carol_session, hub_site):
    site, _ = hub_site
    assert carol_session["PROJECT_DIR"] == f"{site.storage.project_root}/ai-beta"
    assert carol_session["SCRATCH_DIR"] == f"{site.storage.scratch_root}/ai-beta"
    assert Path(carol_session["PROJECT_DIR"]).is_dir()
