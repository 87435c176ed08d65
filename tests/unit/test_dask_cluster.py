"""The Dask cluster's options and worker job script, and its private dashboard on a real local
scheduler (127.0.0.1, no Slurm)."""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import urljoin, urlsplit

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect

from aifactory_hub.service.routes.jobs import jobs_facts, project_partitions
from aifactory_widgets import DaskLauncher
from aifactory_widgets.jobs.dask import cluster as dask_cluster
from aifactory_widgets.jobs.dask.cluster import (
    DaskRequest,
    FactorySLURMCluster,
    FactorySLURMJob,
    PrivateDashboardScheduler,
    WorkerSize,
    cluster_name,
    cluster_options,
    dashboard_link,
    dashboard_options,
    lifetime_args,
)
from aifactory_widgets.jobs.limits import JobSite


@pytest.fixture
def site(demo_site) -> JobSite:
    return JobSite.from_json(jobs_facts(demo_site, project_partitions(demo_site, {}, "bob")))


def test_worker_job_script_lines(site):
    req = DaskRequest("ai-alpha", "gpu", WorkerSize(2, 4, 1), 0, 4, 60)
    options = cluster_options(req, site, home="/home/bob", name="aif-dask-0a1b2c3d", python="/v/py")
    assert options["scheduler_options"] == {"dashboard_address": "127.0.0.1:0"}
    assert options["interface"] == "lo"
    options.pop("scheduler_options")
    job = FactorySLURMJob(scheduler="tcp://127.0.0.1:8786", name="w-0", **options)
    lines = job.job_script().splitlines()
    assert [line for line in lines if line.startswith("#SBATCH")] == [
        "#SBATCH -J aif-dask-0a1b2c3d",
        "#SBATCH -e /home/bob/.aifactory-jobs/dask/aif-dask-0a1b2c3d-%J.err",
        "#SBATCH -o /home/bob/.aifactory-jobs/dask/aif-dask-0a1b2c3d-%J.out",
        "#SBATCH -p gpu",
        "#SBATCH -A ai-alpha",
        "#SBATCH -n 1",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=4G",
        "#SBATCH -t 01:00:00",
        "#SBATCH --chdir=/home/bob",
        "#SBATCH --gres=gpu:sim:1",
    ]
    worker = lines[-1].split()
    assert worker[:4] == ["/v/py", "-m", "distributed.cli.dask_worker", "tcp://127.0.0.1:8786"]
    joined = " ".join(worker)
    assert "--death-timeout 60" in joined and "--interface lo" in joined
    assert "--lifetime 55m --lifetime-stagger 4m" in joined


def test_workers_start_in_the_notebooks_folder_if_sbatch_can_name_it(site):
    req = DaskRequest("ai-alpha", "cpu", WorkerSize(1, 2), 0, 1, 10)
    here = cluster_options(req, site, home="/home/bob", name="n", workdir="/home/bob/proj")
    assert here["job_extra_directives"] == ["--chdir=/home/bob/proj"]
    odd = cluster_options(req, site, home="/home/bob", name="n", workdir="/home/bob/My Proj")
    assert odd["job_extra_directives"] == ["--chdir=/home/bob"]


def test_short_runs_keep_their_workers_and_names_are_unique():
    assert lifetime_args(15) == []
    assert lifetime_args(120) == ["--lifetime", "115m", "--lifetime-stagger", "4m"]
    assert cluster_name() != cluster_name() and cluster_name().startswith("aif-dask-")
    one, two = dashboard_options("/user/bob/", 8787), dashboard_options("/user/bob/", 8787)
    assert one["dashboard_address"] == "127.0.0.1:8787"
    assert re.fullmatch(r"/user/bob/proxy/absolute/8787/dask-[\w-]{32}", one["http_prefix"])
    assert one["http_prefix"] != two["http_prefix"]
    assert dashboard_link(one["http_prefix"]) == one["http_prefix"] + "/status"


def test_sbatch_and_scancel_of_workers_go_through_jobs_py(monkeypatch):
    seen = []

    class Runner:
        async def arun(self, argv, input=None):
            seen.append(list(argv))
            return "42\n"

    monkeypatch.setattr(dask_cluster, "SlurmRunner", Runner)
    assert asyncio.run(FactorySLURMJob._call(["sbatch", "/tmp/x.sh"])) == "42\n"
    assert seen == [["sbatch", "/tmp/x.sh"]]


# --- the dashboard: only under its secret prefix -----------------------------------------

# Paths another user on the node would try at the port (PREFIX: the real one, TOKEN: its secret).
OUTSIDE = [
    "/",
    "/status",
    "/status/ws",
    "/json/identity.json",
    "/sitemap.json",
    "/statics/css/base.css",
    "/static/js/bokeh.min.js",
    "/info/main/workers.html",
    "/metrics",
    "/health",
    "/api/v1",
    "/user/bob/proxy/absolute/PORT/",
    "/user/bob/proxy/absolute/PORT/status",
    "PREFIX",
    "PREFIX-x/status",
    "/user/bob/proxy/absolute/PORT/dask-wrong/status",
    "/TOKEN/status",
]


@pytest.fixture
async def scheduler():
    options = dashboard_options("/user/bob/")
    async with PrivateDashboardScheduler(host="127.0.0.1", port=0, **options) as s:
        yield s


def dashboard_parts(s) -> tuple[str, str, str]:
    """(http://127.0.0.1:port, the prefix, its secret)."""
    prefix = s.private_prefix
    return f"http://127.0.0.1:{s.http_server.port}", prefix, prefix.rsplit("dask-", 1)[1]


async def fetch(url: str, method: str = "GET", **kw):
    body = b"" if method == "POST" else None
    return await AsyncHTTPClient().fetch(
        url, method=method, body=body, follow_redirects=False, raise_error=False, **kw
    )


@pytest.mark.hardening(
    "attack",
    "another local user asks a Dask dashboard's port directly for /, /status, the JSON and "
    "info pages, /sitemap.json, statics, /metrics, /health, a websocket and near-miss prefixes",
    "404 for each, with no redirect and the secret prefix in no header or body",
)
async def test_the_dashboard_answers_nothing_outside_its_secret_prefix(scheduler):
    base, prefix, secret = dashboard_parts(scheduler)
    port = str(scheduler.http_server.port)
    assert scheduler.http_server.address == "127.0.0.1"
    for path in OUTSIDE:
        path = path.replace("PREFIX", prefix).replace("TOKEN", secret).replace("PORT", port)
        for method in ("GET", "HEAD", "POST"):
            resp = await fetch(base + path, method)
            assert resp.code == 404, (method, path, resp.code)
            seen = (resp.body or b"").decode() + json.dumps(dict(resp.headers.get_all()))
            assert secret not in seen and "Location" not in resp.headers, (method, path)
            assert "Dask" not in seen and "bokeh" not in seen.lower(), (method, path)


async def test_the_dashboard_works_under_its_prefix_with_assets_and_websocket(scheduler):
    base, prefix, _ = dashboard_parts(scheduler)
    page = await fetch(base + dashboard_link(prefix))
    assert page.code == 200 and "Dask" in page.body.decode()
    identity = await fetch(f"{base}{prefix}/json/identity.json")
    assert identity.code == 200 and "workers" in json.loads(identity.body)
    # Every script, style and image the page names resolves under the prefix (the browser
    # asks the hub for it, and `proxy/absolute/{port}` forwards that whole path) and answers.
    html = page.body.decode()
    assets = re.findall(r'(?:src|href)="((?:/|static|statics)[^"]*)"', html)
    assert any("bokeh.min.js" in a for a in assets) and any("base.css" in a for a in assets)
    for asset in assets:
        path = urlsplit(urljoin(dashboard_link(prefix), asset)).path
        assert path.startswith(prefix + "/"), asset
        assert (await fetch(base + path)).code == 200, path
    # bokeh's client opens its websocket at the page's own path + /ws, with the page's token
    token = re.search(r'"token":"([^"]+)"', html).group(1)
    ws = await websocket_connect(
        f"ws://127.0.0.1:{scheduler.http_server.port}{dashboard_link(prefix)}/ws",
        subprotocols=["bokeh", token],
    )
    assert await asyncio.wait_for(ws.read_message(), 10)  # bokeh's first message (ACK)
    ws.close()


def test_the_scheduler_refuses_to_run_without_a_secret_prefix():
    with pytest.raises(ValueError, match="secret http_prefix"):
        PrivateDashboardScheduler(host="127.0.0.1", port=0, dashboard_address="127.0.0.1:0")


class Piped:
    """A reaper that is never started."""

    stdin = type("Stdin", (), {"close": lambda self: None})()

    def wait(self, timeout):
        return 0


def test_the_launcher_links_the_private_dashboard_and_nothing_else_names_it(site, tmp_path):
    """A real FactorySLURMCluster (minimum 0: no job is submitted) started by the widget."""
    env = {"SLURM_JOB_ACCOUNT": "ai-alpha", "SLURM_JOB_PARTITION": "cpu",
           "HOME": str(tmp_path), "JUPYTERHUB_SERVICE_PREFIX": "/user/bob/"}  # fmt: skip
    launcher = DaskLauncher(
        site=site,
        environ=env,
        client_factory=lambda cluster: None,
        reaper_factory=lambda user, name: Piped(),
    )
    launcher.minimum.value, launcher.maximum.value = 0, 1
    launcher.start()
    cluster = launcher.cluster
    try:
        assert isinstance(cluster, FactorySLURMCluster), launcher.message.value
        prefix = cluster.scheduler.private_prefix
        port = cluster.scheduler_info["services"]["dashboard"]
        assert prefix.startswith(f"/user/bob/proxy/absolute/{port}/dask-")
        assert launcher.dashboard_url == cluster.dashboard_link == f"{prefix}/status"
        assert launcher.dashboard_url in launcher.dashboard.value
        secret = prefix.rsplit("dask-", 1)[1]
        assert secret not in cluster.job_script()  # the worker jobs never see it
        assert secret not in cluster.scheduler_address
    finally:
        launcher.stop()
