"""From inside a real session: the session's own token reaches the factory service with the
researcher's rights (no more), and the getting-started notebook runs against it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from aifactory_widgets import FactoryClient, FactoryError
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


def test_the_apply_notebook_runs_in_the_session_environment(carol_session, monkeypatch):
    for key in ("AIFACTORY_FACTORY_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER"):
        monkeypatch.setenv(key, carol_session[key])
    nb = nbformat.read(NOTEBOOKS / "apply-for-access.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    views = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if WIDGET_VIEW in out.get("data", {})
    ]
    assert len(views) == 3  # the form, the applications, the projects
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []


def test_the_session_is_told_where_its_projects_folders_are(carol_session, hub_site):
    site, _ = hub_site
    assert carol_session["PROJECT_DIR"] == f"{site.storage.project_root}/ai-beta"
    assert carol_session["SCRATCH_DIR"] == f"{site.storage.scratch_root}/ai-beta"
    assert Path(carol_session["PROJECT_DIR"]).is_dir()
