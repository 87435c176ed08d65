"""The spawner and the poller's watch: stopping a session while the watch loop runs (the
benchmark's 20 concurrent stops once let the loop clear a spawner's state under its own
stop, and an empty job id then broke every later squeue of the hub)."""

import asyncio
from types import SimpleNamespace

import pytest

from aifactory_hub.hubside import spawner as spawner_module
from aifactory_hub.hubside.poller import SlurmPoller
from aifactory_hub.hubside.spawner import FactorySpawner
from tests.unit.test_poller import Clock, FakeSlurm, squeue_text


@pytest.fixture
def fake():
    return FakeSlurm()


@pytest.fixture
def poller(fake, monkeypatch):
    poller = SlurmPoller(runner=fake, min_spacing=0.0)
    monkeypatch.setattr(spawner_module, "shared_poller", lambda: poller)
    return poller


def make_spawner(job_id: str) -> FactorySpawner:
    user = SimpleNamespace(name="alice", url="/user/alice/", escaped_name="alice")
    spawner = FactorySpawner(user=user, hub=None)
    spawner.job_id = job_id
    return spawner


async def no_memory_kills(job_id, node):
    return None


async def test_a_stop_is_not_raced_by_the_watch_loop(poller, fake, monkeypatch):
    fake.squeue = (0, squeue_text(("7", "RUNNING", "None", "n1")), "")
    spawner = make_spawner("7")
    heard = []

    async def on_gone(info):  # what the hub would hear: "your server stopped"
        heard.append(info.job_id)

    async def cancel(job_id):
        fake.squeue = (0, squeue_text(("7", "CANCELLED", "None", "n1")), "")
        await asyncio.sleep(0.2)  # the watch loop ticks meanwhile

    monkeypatch.setattr(spawner, "_cancel", cancel)
    monkeypatch.setattr(spawner, "_note_memory_kills", no_memory_kills)
    poller.watch("7", on_gone, every=0.02)  # no address: Slurm is asked every tick
    await asyncio.sleep(0.05)
    await spawner.stop()
    await asyncio.sleep(0.1)
    assert heard == [], "the watch told the hub of a stop the hub itself was making"
    assert poller.tracked == frozenset() and poller.watched == frozenset()


async def test_no_job_id_is_never_tracked(poller, fake):
    spawner = make_spawner("")
    info = await spawner.job_info(1.0)
    assert info.phase == "gone" and fake.calls == []
    assert poller.tracked == frozenset()


@pytest.mark.parametrize("bad", ["", "12a", "1;aifactory", "١٢", " 7"])
async def test_the_poller_refuses_what_is_not_a_job_id(poller, fake, bad):
    fake.squeue = (0, squeue_text(("7", "RUNNING", "None", "n1")), "")
    with pytest.raises(ValueError, match="not a Slurm job id"):
        await poller.get(bad, max_age=0)
    assert (await poller.get("7", max_age=0)).phase == "running"  # the others still work


async def test_the_wait_for_the_port_asks_slurm_once_per_poll_interval(fake, monkeypatch):
    clock = Clock()
    poller = SlurmPoller(runner=fake, clock=clock, min_spacing=0.0)
    monkeypatch.setattr(spawner_module, "shared_poller", lambda: poller)
    spawner = make_spawner("")
    spawner.startup_poll_interval = 0.01

    async def submit():
        spawner.job_id = "7"
        return "7"

    monkeypatch.setattr(spawner, "submit_batch_script", submit)
    fake.squeue = (0, squeue_text(("7", "RUNNING", "None", "n1")), "")
    start = asyncio.ensure_future(spawner.start())
    await asyncio.sleep(0.3)  # 30 turns of the wait for JupyterLab's port
    assert not start.done()
    assert sum(c[0] == "squeue" for c in fake.calls) == 1, "the cache serves the wait"

    # The job dies before JupyterLab reports its port: seen once the interval has passed.
    fake.squeue = (0, squeue_text(("7", "FAILED", "None", "n1")), "")
    clock.now += spawner.site.hub.poll_interval_s
    with pytest.raises(spawner_module.SessionFailed, match="before JupyterLab answered: FAILED"):
        await asyncio.wait_for(start, 5)


async def test_a_session_slurm_ended_leaves_its_reason_for_the_hub_home(poller, fake, monkeypatch):
    """Scripted Slurm: the job is gone from squeue and sacct says its node failed."""
    spawner = make_spawner("9")
    spawner.session_request = spawner_module.SessionRequest("ai-alpha", "cpu", 1, 4, 0, 60)
    monkeypatch.setattr(FactorySpawner, "site", SimpleNamespace(hub=SimpleNamespace(
        poll_interval_s=5.0)))  # fmt: skip
    fake.squeue = (0, "", "")
    fake.sacct = (0, "9|NODE_FAIL|0:0|None\n", "")
    assert await spawner.poll() == 1
    assert "ended because its node failed" in spawner.ended_notice
    saved = spawner.get_state()
    assert saved["ended_notice"] == spawner.ended_notice and "job_id" not in saved
    restarted = make_spawner("")
    restarted.load_state(saved)  # a restarted hub still shows it
    assert restarted.ended_notice == spawner.ended_notice


@pytest.mark.parametrize(
    ("answers", "says"),
    [
        # a kernel was killed by the job's memory limit; the user stopped the session later
        (["42|CANCELLED by 1001\n42.batch|OUT_OF_MEMORY\n42.extern|COMPLETED\n"], True),
        # accounting has not the step's end yet on the first ask
        (
            ["42|CANCELLED by 1001\n42.batch|RUNNING\n", "42|CANCELLED\n42.batch|OUT_OF_MEMORY\n"],
            True,
        ),
        (["42|CANCELLED by 1001\n42.batch|CANCELLED\n42.extern|COMPLETED\n"], False),
        (["garbage line\n4200.batch|OUT_OF_MEMORY\n42|CANCELLED\n42.batch|CANCELLED\n"], False),
    ],
)
async def test_a_stopped_session_whose_kernel_was_killed_for_memory_says_so(
    monkeypatch, answers, says
):
    """Scripted sacct (mock: the real-stack test is tests/hub/test_confinement.py)."""
    asked = []

    async def arun(argv, **kwargs):
        asked.append(argv)
        return SimpleNamespace(stdout=answers[min(len(asked), len(answers)) - 1])

    async def no_sleep(seconds):
        return None

    monkeypatch.setattr(spawner_module.slurm, "arun", arun)
    monkeypatch.setattr(spawner_module.asyncio, "sleep", no_sleep)
    monkeypatch.setattr(FactorySpawner, "_run_as", lambda self: "alice")
    spawner = make_spawner("")
    spawner.session_request = spawner_module.SessionRequest("ai-alpha", "cpu", 1, 4, 0, 60)
    await spawner._note_memory_kills("42", "cpu2")
    assert len(asked) == len(answers) and "--jobs=42" in asked[0]
    if says:
        assert spawner.ended_notice.startswith("In your last session (Slurm job 42 on node cpu2)")
        assert "more memory than the 4 GB it asked for" in spawner.ended_notice
    else:
        assert spawner.ended_notice == ""
