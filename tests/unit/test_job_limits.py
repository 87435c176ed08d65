"""What a project and a partition allow, before anything reaches Slurm; the service's answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aifactory_hub.service.routes.jobs import jobs_facts, project_partitions
from aifactory_widgets.jobs.dask.cluster import DaskRequest, WorkerSize, check_dask, worker_sizes
from aifactory_widgets.jobs.limits import JobSite, LimitError, Resources, check_resources


@pytest.fixture
def bob(demo_site) -> JobSite:
    return JobSite.from_json(jobs_facts(demo_site, project_partitions(demo_site, {}, "bob")))


CPU = Resources("ai-alpha", "cpu", nodes=1, tasks_per_node=2, cpus_per_task=1, memory_gb=2,
                gpus_per_node=0, walltime_minutes=10)  # fmt: skip


def test_the_service_says_which_partitions_each_project_may_use(demo_site):
    granted = {"pg-bob": ["cpu"], "ai-alpha": ["gpu"]}  # the site file wins for its projects
    usable = project_partitions(demo_site, granted, "bob")
    assert usable == {"ai-alpha": ["cpu", "gpu"], "ai-beta": ["cpu"], "pg-bob": ["cpu"]}
    facts = jobs_facts(demo_site, {"ai-beta": ["cpu"]})
    assert [p["name"] for p in facts["partitions"]] == ["cpu"]  # only partitions one may use
    assert facts["jobs"] == {"interface": "lo", "worker_death_timeout_s": 60}


def test_a_request_within_limits_passes_and_gets_the_gpu_type(bob):
    assert check_resources(CPU, bob) == CPU
    gpu = replace(CPU, partition="gpu", gpus_per_node=2)
    assert check_resources(gpu, bob).gpu_type == "sim"


@pytest.mark.parametrize(
    ("change", "field", "why"),
    [
        ({"account": "ai-gamma"}, "project", "not a member of ai-gamma"),
        ({"account": "ai-beta", "partition": "gpu"}, "partition", "ai-beta may not use gpu"),
        ({"nodes": 3}, "nodes", "outside partition cpu's nodes"),
        ({"tasks_per_node": 2, "cpus_per_task": 2}, "cpus_per_task", "4 CPUs per node"),
        ({"memory_gb": 5}, "memory_gb", "5 is outside partition cpu's GB \\(1 to 4\\)"),
        ({"gpus_per_node": 1}, "gpus_per_node", "outside partition cpu's GPUs"),
        ({"partition": "gpu"}, "gpus_per_node", "0 is outside partition gpu's GPUs"),
        ({"walltime_minutes": 721}, "walltime", "721 min is outside partition cpu's limit"),
    ],
)
def test_requests_over_the_limits_are_refused_with_the_reason(bob, change, field, why):
    with pytest.raises(LimitError, match=why) as refused:
        check_resources(replace(CPU, **change), bob)
    assert refused.value.field == field


def test_worker_sizes_stay_within_the_partition(bob):
    cpu = [(s.cores, s.memory_gb, s.gpus) for s in worker_sizes(bob.partitions["cpu"])]
    assert cpu == [(1, 2, 0), (2, 4, 0)]
    gpu = worker_sizes(bob.partitions["gpu"])
    assert all(s.gpus == 1 and s.cores <= 2 and s.memory_gb <= 4 for s in gpu)
    assert gpu[0].label == "1 CPU, 2 GB, 1 GPU"


def test_dask_requests_are_checked(bob):
    ok = DaskRequest("ai-alpha", "cpu", WorkerSize(1, 2), 0, 4, 60)
    check_dask(ok, bob)
    with pytest.raises(LimitError, match="minimum"):
        check_dask(replace(ok, minimum=5), bob)
    with pytest.raises(LimitError, match="cores"):
        check_dask(replace(ok, size=WorkerSize(9, 2)), bob)
    with pytest.raises(LimitError, match="ai-beta may not use gpu"):
        check_dask(replace(ok, account="ai-beta", partition="gpu"), bob)


def test_the_site_files_jobs_table_is_validated(demo_site):
    from aifactory_hub.site import DEMO_SITE, SiteError, parse_site

    text = DEMO_SITE.read_text().replace('interface = "lo"', 'interface = "lo; rm -rf /"')
    with pytest.raises(SiteError, match=r"jobs\.interface"):
        parse_site(text)
    assert demo_site.jobs.interface == "lo" and demo_site.jobs.worker_death_timeout_s == 60
