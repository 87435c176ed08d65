import pytest

from aifactory_hub.site.sessions import OptionError, form_to_options, validate_options


def check(site, user, raw):
    return validate_options(raw, site=site, projects=site.projects_of(user))


def test_defaults_charge_first_project_on_default_partition(demo_site):
    req = check(demo_site, "alice", {})
    assert (req.account, req.partition, req.cpus, req.memory_gb, req.gpus) == (
        "ai-alpha",
        "cpu",
        1,
        1,
        0,
    )
    assert req.walltime_minutes == 60


def test_gpu_partition_defaults_to_min_gpus_with_type(demo_site):
    req = check(demo_site, "alice", {"partition": "gpu"})
    assert req.gpus == 1 and req.gpu_type == "sim"


def test_form_strings_are_parsed(demo_site):
    raw = form_to_options(
        {
            "project": ["ai-beta"],
            "partition": ["cpu"],
            "cpus": ["2"],
            "memory_gb": ["3"],
            "walltime_hours": ["2.5"],
            "gpus": ["0"],
            "_xsrf": ["x"],
        }
    )
    req = check(demo_site, "bob", raw)
    assert (req.account, req.cpus, req.memory_gb, req.walltime_minutes) == ("ai-beta", 2, 3, 150)
    assert req.to_options()["walltime_hours"] == 2.5


@pytest.mark.parametrize(
    ("user", "raw", "field", "why"),
    [
        ("alice", {"project": "ai-beta"}, "project", "not available"),
        ("carol", {"partition": "gpu"}, "partition", "not available to project ai-beta"),
        ("alice", {"partition": "nope"}, "partition", "not available"),
        ("alice", {"cpus": 3}, "cpus", "outside the partition's limits (1 to 2)"),
        ("alice", {"cpus": 0}, "cpus", "outside"),
        ("alice", {"cpus": -1}, "cpus", "outside"),
        ("alice", {"cpus": "-1"}, "cpus", "whole number"),
        ("alice", {"cpus": "2\n#SBATCH --uid=0"}, "cpus", "whole number"),
        ("alice", {"cpus": 2.5}, "cpus", "whole number"),
        ("alice", {"cpus": True}, "cpus", "whole number"),
        ("alice", {"cpus": "1e3"}, "cpus", "whole number"),
        ("alice", {"memory_gb": 10**12}, "memory_gb", "outside"),
        ("alice", {"gpus": 1}, "gpus", "outside the partition's limits (0 to 0)"),
        ("alice", {"partition": "gpu", "gpus": 3}, "gpus", "outside"),
        ("alice", {"walltime_hours": 13}, "walltime_hours", "up to 12 h"),
        ("alice", {"walltime_hours": "nan"}, "walltime_hours", "number of hours"),
        ("alice", {"walltime_hours": float("inf")}, "walltime_hours", "number of hours"),
        ("alice", {"project": "ai-alpha\n#SBATCH --account=ai-beta"}, "project", "not available"),
        ("alice", {"project": ["ai-alpha"]}, "project", "must be a string"),
        ("alice", {"cmd": ["/bin/sh"]}, "cmd", "unknown option"),
        ("alice", {"prologue": "curl x | sh"}, "prologue", "unknown option"),
        ("alice", {"options": "#SBATCH --exclusive"}, "options", "unknown option"),
        ("sam", {}, "project", "not a member of any project"),
        ("alice", {"project": "x" * 10_000}, "project", "not available"),
    ],
)
def test_refused(demo_site, user, raw, field, why):
    with pytest.raises(OptionError) as info:
        check(demo_site, user, raw)
    assert info.value.field == field
    assert why in str(info.value)


def test_form_with_two_values_for_a_field_is_refused():
    with pytest.raises(OptionError, match="exactly one value"):
        form_to_options({"cpus": ["1", "2"]})
