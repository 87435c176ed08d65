import pytest

from aifactory_hub.site import DEMO_SITE, SiteError, load_site, parse_site

MINIMAL = """
[site]
name = "Test"
cluster = "test"

[[partitions]]
name = "cpu"
cpus_per_node = 8
memory_gb_per_node = 16
max_walltime_hours = 4
max_cpus = 4
max_memory_gb = 8
"""


def test_demo_site_loads_with_two_partitions_and_gpus():
    site = load_site(DEMO_SITE)
    names = [p.name for p in site.partitions]
    assert names == ["cpu", "gpu"]
    assert site.partition("gpu").has_gpus and not site.partition("cpu").has_gpus
    assert site.default_partition.name == "cpu"
    assert [p.account for p in site.projects_of("bob")] == ["ai-alpha", "ai-beta"]
    assert site.projects_of("sam") == []


def test_minimal_site_uses_defaults():
    site = parse_site(MINIMAL)
    assert site.hub.bind_url == "http://127.0.0.1:8000"
    assert site.auth.kind == "pam"


@pytest.mark.parametrize(
    ("change", "field", "why"),
    [
        ("max_cpus = 4", "partitions.0", "max_cpus 16 > cpus_per_node 8"),
        ('name = "cpu"', "partitions.0.name", "String should match pattern"),
        ("max_walltime_hours = 4", "partitions.0.max_walltime_hours", "greater than 0"),
        ('cluster = "test"', "site.cluster", "String should match pattern"),
    ],
)
def test_bad_field_is_named_with_reason(change, field, why):
    replacement = {
        "max_cpus = 4": "max_cpus = 16",
        'name = "cpu"': 'name = "CPU; rm -rf /"',
        "max_walltime_hours = 4": "max_walltime_hours = -1",
        'cluster = "test"': 'cluster = "Test Cluster"',
    }[change]
    with pytest.raises(SiteError) as info:
        parse_site(MINIMAL.replace(change, replacement), "site.toml")
    message = str(info.value)
    assert message.startswith("site.toml: invalid site file")
    assert f"  {field}: " in message and why in message


def test_unknown_field_is_refused():
    with pytest.raises(SiteError, match=r"partitions\.0\.gpus: Extra inputs are not permitted"):
        parse_site(MINIMAL + "gpus = 3\n")


def test_project_with_unknown_partition_is_refused():
    text = (
        MINIMAL
        + """
[[projects]]
account = "p1"
title = "P"
pi = "ann"
members = ["ann"]
partitions = ["gpu"]
"""
    )
    with pytest.raises(SiteError, match="project p1: unknown partition 'gpu'"):
        parse_site(text)


def test_pi_must_be_member():
    text = (
        MINIMAL
        + """
[[projects]]
account = "p1"
title = "P"
pi = "ann"
members = ["bea"]
partitions = ["cpu"]
"""
    )
    with pytest.raises(SiteError, match="pi 'ann' is not in members"):
        parse_site(text)


def test_oauth_needs_its_table():
    with pytest.raises(SiteError, match="auth: Value error, kind = 'oauth' needs"):
        parse_site(MINIMAL + '[auth]\nkind = "oauth"\n')


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(SiteError, match="not valid TOML"):
        parse_site("[site", "x.toml")
    with pytest.raises(SiteError, match="cannot read site file"):
        load_site(tmp_path / "missing.toml")


def test_storage_allowances_must_name_the_sites_modes():
    text = DEMO_SITE.read_text().replace("ai_science = 10 }", "ai_science = 10, typo_mode = 1 }")
    with pytest.raises(SiteError, match=r"storage\.allowance_gb: 'typo_mode' is not one of site"):
        parse_site(text)
