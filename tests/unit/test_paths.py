"""Where the shipped dashboards and notebooks are found: the site file's [paths], the hub's
environment, a development checkout (recognised explicitly), the installed distribution.
tests/unit/test_wheel.py checks the installed case from a real wheel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import pytest
from traitlets.config import Config

from aifactory_hub.hubside.config import apply_site
from aifactory_hub.site import DEMO_SITE, PathSettings, SiteError, parse_site, paths, scopes
from aifactory_hub.workshops import materials, plan

CHECKOUT = Path(__file__).resolve().parents[2]
NO_ENV: dict[str, str] = {}


def test_the_checkout_is_recognised_by_its_pyproject():
    assert paths.checkout() == CHECKOUT
    assert paths.dashboards(environ=NO_ENV) == CHECKOUT / "dashboards"
    assert paths.notebooks(environ=NO_ENV) == CHECKOUT / "notebooks"


def test_an_installed_package_is_no_checkout(tmp_path: Path):
    # The wheel's layout: <venv>/lib/python3.11/site-packages/aifactory_hub
    package = tmp_path / "lib" / "python3.11" / "site-packages" / "aifactory_hub"
    package.mkdir(parents=True)
    assert paths.checkout(package) is None
    # A pyproject.toml above it counts only at <root>/hub/aifactory_hub and naming us.
    (tmp_path / "lib" / "python3.11" / "pyproject.toml").write_text(
        '[project]\nname = "aifactory-hub"\n'
    )
    assert paths.checkout(package) is None
    other = tmp_path / "other" / "hub" / "aifactory_hub"
    other.mkdir(parents=True)
    (tmp_path / "other" / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    assert paths.checkout(other) is None
    (tmp_path / "other" / "pyproject.toml").write_text("not toml [")
    assert paths.checkout(other) is None


def test_the_site_file_wins_then_the_hubs_environment(tmp_path: Path):
    settings = PathSettings(dashboards=str(tmp_path / "boards"), notebooks=str(tmp_path / "nb"))
    env = {paths.DASHBOARDS_ENV: "/from/env/boards", paths.NOTEBOOKS_ENV: "/from/env/nb"}
    assert paths.dashboards(settings, env) == tmp_path / "boards"
    assert paths.notebooks(settings, env) == tmp_path / "nb"
    assert paths.dashboards(PathSettings(), env) == Path("/from/env/boards")
    assert paths.notebooks(None, env) == Path("/from/env/nb")


def test_the_hub_passes_on_only_what_the_site_file_names():
    assert paths.environment(PathSettings()) == {}
    assert paths.environment(PathSettings(notebooks="/srv/materials")) == {
        paths.NOTEBOOKS_ENV: "/srv/materials"
    }


def test_no_data_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(paths.NOTEBOOKS_ENV, raising=False)
    monkeypatch.setattr(paths, "checkout", lambda: None)
    monkeypatch.setattr(paths, "installed_share", lambda: None)
    with pytest.raises(paths.MissingData, match=r"\[paths\] dashboards"):
        paths.dashboards(environ=NO_ENV)
    site = parse_site(DEMO_SITE.read_text())
    start = datetime(2030, 1, 1, 9, tzinfo=UTC)
    body = plan.NewWorkshop(
        title="Intro", starts_at=start, ends_at=start + timedelta(hours=2), participants=2,
        partition="cpu",
    )  # fmt: skip
    field, why = plan.check_against_site(site, body)
    assert field == "materials" and "[paths] notebooks" in why


def test_the_installed_share_is_found_through_the_distributions_record(tmp_path: Path):
    # What pip leaves for a wheel installed under a prefix: the data files' place is in RECORD.
    site = tmp_path / "prefix" / "lib" / "python3.11" / "site-packages"
    info = site / "aifactory_hub-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: aifactory-hub\nVersion: 0.1.0\n")
    (info / "RECORD").write_text(
        "aifactory_hub/__init__.py,,\n"
        "../../../share/aifactory-hub/dashboards/cluster.ipynb,,\n"
        "aifactory_hub-0.1.0.dist-info/RECORD,,\n"
    )
    found = metadata.PathDistribution(info)
    assert paths.installed_share(found) == tmp_path / "prefix" / "share" / "aifactory-hub"
    assert paths.installed_share("no-such-distribution-aifactory") is None


@pytest.mark.parametrize("value", ["relative/dashboards", "~/dashboards", "a\x00b"])
def test_paths_must_be_absolute(value: str):
    # A JSON string is a TOML basic string (\u0000 included).
    text = DEMO_SITE.read_text() + f"\n[paths]\ndashboards = {json.dumps(value)}\n"
    with pytest.raises(SiteError, match=r"paths\.dashboards: String should match pattern"):
        parse_site(text)


def test_a_site_folder_of_materials_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    own = tmp_path / "materials"
    (own / "gpu-course").mkdir(parents=True)
    (own / "gpu-course" / "01.ipynb").write_text("{}")
    site = parse_site(DEMO_SITE.read_text() + f'\n[paths]\nnotebooks = "{own}"\n')
    start = datetime(2030, 1, 1, 9, tzinfo=UTC)
    body = plan.NewWorkshop(
        title="GPU course", starts_at=start, ends_at=start + timedelta(hours=2), participants=2,
        partition="cpu", materials="gpu-course",
    )  # fmt: skip
    assert plan.check_against_site(site, body) == ("", "")
    assert plan.check_against_site(parse_site(DEMO_SITE.read_text()), body)[0] == "materials"

    # The session gets the folder from the hub's environment and copies from it.
    monkeypatch.setenv(paths.NOTEBOOKS_ENV, str(own))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert materials.main(["gpu-course"]) == 0
    assert (tmp_path / "home" / "gpu-course" / "01.ipynb").read_text() == "{}"


def test_the_hub_hands_a_sites_folders_to_the_console_and_the_sessions(demo_site):
    own = PathSettings(dashboards="/srv/aifactory/dashboards", notebooks="/srv/aifactory/nb")
    site = demo_site.model_copy(update={"paths": own})
    _factory, console, _culler = scopes.services(site, "/etc/aifactory/site.toml")
    assert console["environment"][paths.DASHBOARDS_ENV] == "/srv/aifactory/dashboards"
    c = apply_site(Config(), site, site_file="/s.toml", proxy_command="chp")
    assert c.FactorySpawner.environment[paths.NOTEBOOKS_ENV] == "/srv/aifactory/nb"
    # Without [paths] nothing is passed: each process finds the shipped folders itself.
    _factory, console, _culler = scopes.services(demo_site, "/etc/aifactory/site.toml")
    assert paths.DASHBOARDS_ENV not in console["environment"]
