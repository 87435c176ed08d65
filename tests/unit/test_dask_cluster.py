"""The Dask cluster's options and worker job script, without starting a scheduler."""

from __future__ import annotations

import asyncio

import pytest

from aifactory_hub.service.jobs_api import jobs_facts, project_partitions
from aifactory_widgets import dask_cluster
from aifactory_widgets.dask_cluster import (
    DaskRequest,
    FactorySLURMJob,
    WorkerSize,
    cluster_name,
    cluster_options,
    dashboard_link,
    lifetime_args,
)
from aifactory_widgets.limits import JobSite


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
    assert dashboard_link("/user/bob/", 8787) == "/user/bob/proxy/8787/status"


def test_sbatch_and_scancel_of_workers_go_through_jobs_py(monkeypatch):
    seen = []

    class Runner:
        async def arun(self, argv, input=None):
            seen.append(list(argv))
            return "42\n"

    monkeypatch.setattr(dask_cluster, "SlurmRunner", Runner)
    assert asyncio.run(FactorySLURMJob._call(["sbatch", "/tmp/x.sh"])) == "42\n"
    assert seen == [["sbatch", "/tmp/x.sh"]]
