"""Workshops' pure parts: names, sizes, the reservation command, the participants' fixed
session, room states, the trainer's form, and the materials that never overwrite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from aifactory_hub.core.bodies import parse
from aifactory_hub.core.errors import AccessError
from aifactory_hub.hubside.batch import materials_lines
from aifactory_hub.site import load_site, paths
from aifactory_hub.slurm import reservations
from aifactory_hub.workshops import materials, plan

SITE = load_site()
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def body(**change) -> plan.NewWorkshop:
    data = {"title": "Intro", "starts_at": T0.isoformat(), "ends_at": (T0 + timedelta(hours=8))
            .isoformat(), "participants": 6, "partition": "cpu"} | change  # fmt: skip
    return parse(plan.NewWorkshop, data)


def test_names_and_hours_cover_every_participant():
    account, reservation, users = plan.names(7, 30, "a1b2")
    assert (account, reservation) == ("ws-7-a1b2", "ws-7-a1b2")
    assert users[0] == "ws7a1b2-01" and users[-1] == "ws7a1b2-30" and len(set(users)) == 30
    assert plan.names(3, 120, "ff00")[2][0] == "ws3ff00-001"
    with pytest.raises(ValueError):
        plan.names(3, 1, "A;B")
    assert plan.hours(body()) == (0, 48)  # 6 people x 1 CPU x 8 h
    assert plan.hours(body(partition="gpu", gpus=1, participants=2)) == (16, 16)


def test_reservation_argv_is_one_argument_per_setting():
    argv = reservations.create_reservation_argv(
        "ws-7", "ws-7", "cpu", 30, T0, T0 + timedelta(hours=8)
    )
    assert argv[:4] == ["scontrol", "create", "reservation", "ReservationName=ws-7"]
    assert "Accounts=ws-7" in argv and "CoreCnt=30" in argv and "PartitionName=cpu" in argv
    assert any(a.startswith("StartTime=2026-12-01T") for a in argv)
    assert reservations.delete_reservation_argv("ws-7") == [
        "scontrol", "delete", "ReservationName=ws-7"
    ]  # fmt: skip
    extend = reservations.extend_reservation_argv("ws-7", T0 + timedelta(hours=9))
    assert extend[:3] == ["scontrol", "update", "ReservationName=ws-7"]
    assert extend[3].startswith("EndTime=2026-12-01T")
    with pytest.raises(ValueError, match="not a Slurm name"):
        reservations.create_reservation_argv("ws 7", "ws-7", "cpu", 1, T0, T0)
    # A delete of a reservation that is already gone has nothing left to do.
    assert reservations.reservation_missing("scontrol: error: Invalid reservation name\n")
    assert not reservations.reservation_missing("Unable to delete: Access/permission denied")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": T0.isoformat()}, ""),
        ({"ends_at": (T0 + timedelta(days=20)).isoformat()}, ""),
        ({"starts_at": "2026-12-01T09:00:00"}, ""),
        ({"participants": 0}, "participants"),
        ({"participants": "30"}, "participants"),
        ({"materials": "../../etc"}, "materials"),
        ({"partition": "cpu; rm -rf /"}, "partition"),
        ({"title": "x"}, "title"),
        ({"extra": 1}, "extra"),
    ],
)
def test_the_form_refuses_bad_input_with_its_field(change, field):
    with pytest.raises(AccessError) as refused:
        body(**change)
    assert refused.value.status == 400 and refused.value.field == field


def test_the_site_must_host_it():
    assert plan.check_against_site(SITE, body()) == ("", "")
    assert plan.check_against_site(SITE, body(partition="nope"))[0] == "partition"
    assert plan.check_against_site(SITE, body(cpus=3))[0] == "cpus"
    assert plan.check_against_site(SITE, body(participants=9))[0] == "participants"
    assert plan.check_against_site(SITE, body(partition="gpu"))[0] == "gpus"  # min 1 GPU there
    assert plan.check_against_site(SITE, body(materials="no-such-folder"))[0] == "materials"


def test_a_participant_gets_the_workshops_session_until_its_end():
    ws = SimpleNamespace(account="ws-7", reservation="ws-7", partition="cpu", cpus=2,
                         memory_gb=4, gpus=0, materials="workshop-intro", starts_at=T0,
                         ends_at=T0 + timedelta(hours=2), environment="")  # fmt: skip
    request = plan.session_request(SITE, ws, now=T0 + timedelta(minutes=30))
    assert (request.account, request.reservation, request.cpus) == ("ws-7", "ws-7", 2)
    assert request.walltime_minutes == 90 and request.materials == "workshop-intro"
    long = SimpleNamespace(**{**vars(ws), "ends_at": T0 + timedelta(days=2)})
    assert plan.session_request(SITE, long, now=T0).walltime_minutes == 12 * 60  # cpu's max
    assert materials_lines(request) == [
        "python -m aifactory_hub.workshops.materials workshop-intro || true"
    ]
    with pytest.raises(ValueError):
        materials_lines(SimpleNamespace(materials="x; rm -rf ~"))


def test_room_states():
    now = T0 + timedelta(hours=1)
    ready = {"ready": True, "pending": None, "last_activity": now.isoformat()}
    assert plan.room_state(None, False, False, now) == "not_logged_in"
    assert plan.room_state(None, False, True, now) == "logged_in"
    assert plan.room_state({"ready": False, "pending": "spawn"}, False, True, now) == "pending"
    assert plan.room_state(ready, False, True, now) == "running"
    stale = {**ready, "last_activity": (now - timedelta(minutes=20)).isoformat()}
    assert plan.room_state(stale, False, True, now) == "idle"
    assert plan.room_state(ready, True, True, now) == "disabled"


def test_materials_copy_only_what_is_missing(tmp_path: Path):
    source, target = tmp_path / "src", tmp_path / "home" / "intro"
    (source / "data").mkdir(parents=True)
    (source / "01.ipynb").write_text("original")
    (source / "data" / "x.csv").write_text("1,2")
    first = materials.copy_missing(source, target)
    assert sorted(p.name for p in first) == ["01.ipynb", "x.csv"]
    (target / "01.ipynb").write_text("my edits")
    assert materials.copy_missing(source, target) == []
    assert (target / "01.ipynb").read_text() == "my edits"


def test_the_demo_materials_exist():
    assert (paths.notebooks() / "workshop-intro" / "01-welcome.ipynb").is_file()


def only_on(site, name: str, partitions: list[str]):
    """`site` with environment `name` offered on `partitions` only."""
    envs = [
        e.model_copy(update={"partitions": partitions}) if e.name == name else e
        for e in site.environments
    ]
    return site.model_copy(update={"environments": envs})


def test_a_workshop_names_an_environment_the_site_offers_on_its_partition():
    assert plan.check_against_site(SITE, body(environment="jax")) == ("", "")
    assert plan.check_against_site(SITE, body()) == ("", "")  # none named: the default
    field, reason = plan.check_against_site(SITE, body(environment="tensorflow"))
    assert field == "environment"
    assert reason == "unknown environment 'tensorflow' (the site has factory, pytorch, jax)"
    gpu_only = only_on(SITE, "jax", ["gpu"])
    field, reason = plan.check_against_site(gpu_only, body(environment="jax"))
    assert (field, reason) == (
        "environment", "jax is not offered on cpu (offered there: factory, pytorch)"
    )  # fmt: skip
    bare = SITE.model_copy(update={"environments": []})
    assert plan.check_against_site(bare, body(environment="jax"))[0] == "environment"
    assert plan.check_against_site(bare, body()) == ("", "")


@pytest.mark.parametrize("name", ["JAX", "jax; rm -rf ~", "../jax", "x" * 40, 3])
def test_an_environment_that_is_no_name_is_refused_by_the_form(name):
    with pytest.raises(AccessError) as refused:
        body(environment=name)
    assert refused.value.status == 400 and refused.value.field == "environment"


def test_a_participants_session_runs_the_workshops_environment():
    ws = SimpleNamespace(account="ws-7", reservation="ws-7", partition="cpu", cpus=1,
                         memory_gb=2, gpus=0, materials="workshop-intro", starts_at=T0,
                         ends_at=T0 + timedelta(hours=2), environment="jax")  # fmt: skip
    request = plan.session_request(SITE, ws, now=T0)
    assert request.environment == "jax"
    assert request.to_options()["environment"] == "jax"
    default = SimpleNamespace(**{**vars(ws), "environment": ""})
    assert plan.session_request(SITE, default, now=T0).environment == "factory"
    # the site stopped offering it there: the partition's default, not a failed session
    assert plan.session_request(only_on(SITE, "jax", ["gpu"]), ws, now=T0).environment == "factory"
    bare = SITE.model_copy(update={"environments": []})
    assert plan.session_request(bare, default, now=T0).environment == ""
    assert "environment" not in plan.session_request(bare, default, now=T0).to_options()
