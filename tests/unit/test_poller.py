"""The shared poller against scripted Slurm answers (edge cases a real slurmctld can't make
on demand: timeouts, garbage lines, odd exit codes)."""

import asyncio
import heapq

import pytest

from aifactory_hub import slurm
from aifactory_hub.hubside.poller import SlurmPoller
from aifactory_hub.slurm.jobs import parse_sacct, parse_squeue


class FakeSlurm:
    """Answers squeue/sacct from scripted text; counts calls."""

    def __init__(self):
        self.squeue = (0, "", "")
        self.sacct = (0, "", "")
        self.calls: list[list[str]] = []
        self.raise_on: str | None = None

    async def __call__(self, argv, *, timeout, check=True, **_):
        self.calls.append(list(argv))
        if self.raise_on == argv[0]:
            raise slurm.ControllerUnreachable(argv, None, "", "")
        code, out, err = self.squeue if argv[0] == "squeue" else self.sacct
        if check and code:
            raise slurm.classify(argv, code, out, err)
        return slurm.CommandResult(tuple(argv), code, out, err)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class VirtualTime:
    """Virtual seconds for the watch loop (its `clock` and `sleep`): a sleeper is parked until
    `tick` moves the clock to its wake-up, so the tests count what happens per interval
    instead of racing real time on a loaded machine."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future, asyncio.Task]] = []
        self._made = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._made += 1
        heapq.heappush(self._sleepers, (self.now + seconds, self._made, future,
                                        asyncio.current_task()))  # fmt: skip
        await future

    async def tick(self) -> None:
        """Wake the next sleeper at its time; return once it sleeps again or has ended (a
        knock on a real socket may take a moment of real time: at most 10 s)."""
        await self._until(lambda: self._sleepers, "nothing sleeps")
        wake, _, future, task = heapq.heappop(self._sleepers)
        self.now = max(self.now, wake)
        made = self._made
        future.set_result(None)
        await self._until(lambda: self._made > made or task.done(), "the loop did not go on")

    async def run_for(self, seconds: float) -> None:
        """Every wake-up within `seconds` of virtual time, in order; then the clock is there."""
        end = self.now + seconds
        for _ in range(100):  # a loop just started has not reached its first sleep yet
            if self._sleepers:
                break
            await asyncio.sleep(0)
        while self._sleepers and self._sleepers[0][0] <= end:
            await self.tick()
        self.now = end

    @staticmethod
    async def _until(condition, what: str) -> None:
        for _ in range(10_000):
            if condition():
                return
            await asyncio.sleep(0.001)
        raise AssertionError(what)


@pytest.fixture
def fake():
    return FakeSlurm()


@pytest.fixture
def vt():
    return VirtualTime()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def poller(fake, clock):
    return SlurmPoller(runner=fake, clock=clock)


LINE = "{id}|{state}|{reason}|N/A|{node}|ai-alpha|cpu|alice"


def squeue_text(*jobs):
    return "\n".join(LINE.format(id=i, state=s, reason=r, node=n) for i, s, r, n in jobs) + "\n"


async def test_one_squeue_for_many_jobs_per_interval(poller, fake, clock):
    fake.squeue = (0, squeue_text(*[(str(i), "RUNNING", "None", "vm") for i in range(1, 41)]), "")
    for i in range(1, 41):
        poller.track(str(i))
    for i in range(1, 41):
        info = await poller.get(str(i), max_age=10)
        assert info.phase == "running" and info.node == "vm"
    assert len(fake.calls) == 1
    assert fake.calls[0][3] == "--jobs=" + ",".join(str(i) for i in range(1, 41))
    clock.now += 5
    await poller.get("7", max_age=10)
    assert len(fake.calls) == 1
    clock.now += 6
    for i in range(1, 41):
        await poller.get(str(i), max_age=10)
    assert len(fake.calls) == 2


async def test_pending_reason_and_expected_start(poller, fake):
    fake.squeue = (
        0,
        "5|PENDING|AssocGrpGRESMinutes|2026-11-27T10:00:00|(null)|ai-alpha|gpu|alice\n",
        "",
    )
    info = await poller.get("5", max_age=1)
    assert (info.phase, info.reason, info.expected_start, info.node) == (
        "pending",
        "AssocGrpGRESMinutes",
        "2026-11-27T10:00:00",
        "",
    )


@pytest.mark.hardening(
    "fault", "slurmctld times out (scripted)", "every job 'unknown', none 'gone'"
)
async def test_controller_timeout_is_unknown_not_gone(poller, fake):
    fake.raise_on = "squeue"
    info = await poller.get("9", max_age=1)
    assert info.phase == "unknown" and info.alive


@pytest.mark.parametrize(
    "answer",
    [
        (0, "garbage line\n\x00\x01\n", ""),
        (0, "", ""),
        (1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"),
        (2, "", "squeue: error: something unexpected"),
        (-9, "", ""),
    ],
    ids=["garbage", "empty", "unreachable", "exit-2", "killed"],
)
@pytest.mark.hardening(
    "fault", "squeue answers (scripted): garbage, nothing, odd exit codes", "never 'gone'"
)
async def test_bad_squeue_answers_never_mean_gone(poller, fake, answer):
    fake.squeue = answer
    fake.sacct = (0, "", "")  # accounting doesn't know the job either
    info = await poller.get("9", max_age=1)
    assert info.phase == "unknown"


async def test_missing_job_is_gone_only_when_accounting_confirms(poller, fake, clock):
    fake.squeue = (1, "", "slurm_load_jobs error: Invalid job id specified")
    fake.sacct = (0, "9|RUNNING|0:0|None\n", "")
    assert (await poller.get("9", max_age=1)).phase == "unknown"
    clock.now += 2
    fake.sacct = (0, "9|CANCELLED by 1001|0:15|None\n9.batch|CANCELLED|0:15|\n", "")
    info = await poller.get("9", max_age=1)
    assert (info.phase, info.state, info.exit_code) == ("gone", "CANCELLED", "0:15")


async def test_accounting_down_keeps_missing_job_unknown(poller, fake):
    fake.squeue = (0, squeue_text(("1", "RUNNING", "None", "vm")), "")
    fake.raise_on = "sacct"
    assert (await poller.get("2", max_age=1)).phase == "unknown"
    assert (await poller.get("1", max_age=1)).phase == "running"


async def test_new_job_forces_a_refresh_and_concurrent_callers_share_it(poller, fake, clock):
    import asyncio

    fake.squeue = (
        0,
        squeue_text(("1", "RUNNING", "None", "vm"), ("2", "PENDING", "Priority", "")),
        "",
    )
    await poller.get("1", max_age=30)
    clock.now += 1
    results = await asyncio.gather(*(poller.get("2", max_age=30) for _ in range(10)))
    assert {r.phase for r in results} == {"pending"}
    assert len(fake.calls) == 2


def test_parsers_skip_garbage():
    jobs, skipped = parse_squeue("1|RUNNING|None|N/A|vm|a|cpu|u\nnot|a|job\n|||||||\n")
    assert list(jobs) == ["1"] and len(skipped) == 2
    assert parse_sacct("x|y\n3|COMPLETED|0:0|None\n3.batch|COMPLETED|0:0|\n")["3"].phase == "gone"


async def test_watched_jobs_share_one_loop_and_hear_of_their_end_once(fake, vt):
    poller = SlurmPoller(runner=fake, min_spacing=0.0, clock=vt.clock, sleep=vt.sleep)
    fake.squeue = (
        0,
        squeue_text(("7", "RUNNING", "None", "n1"), ("8", "RUNNING", "None", "n1")),
        "",
    )
    heard: list[tuple[str, str]] = []

    async def on_gone(info):
        heard.append((info.job_id, info.state))

    poller.watch("7", on_gone, every=5)
    poller.watch("8", on_gone, every=5)
    for _ in range(6):
        await vt.tick()
    squeues = [c for c in fake.calls if c[0] == "squeue"]
    assert heard == [] and len(squeues) == 6  # one squeue per interval for both jobs
    assert all("--jobs=7,8" in c for c in squeues)

    fake.squeue = (0, "definitely|not|squeue\n", "")  # garbage is never "gone"
    for _ in range(3):
        await vt.tick()
    assert heard == []

    fake.squeue = (0, squeue_text(("8", "RUNNING", "None", "n1")), "")
    fake.sacct = (0, "7|CANCELLED by 0|0:15|None\n", "")
    for _ in range(3):
        await vt.tick()
    await asyncio.sleep(0)  # the notice runs as a task of its own
    assert heard == [("7", "CANCELLED")]  # once, though later refreshes see it gone too
    assert poller.watched == {"8"}

    poller.untrack("8")
    await vt.tick()  # the loop wakes, finds nothing to watch and ends
    calls = len(fake.calls)
    await vt.run_for(60)
    assert len(fake.calls) == calls, "the loop must stop when nothing is watched"


@pytest.mark.parametrize("state", ["NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "TIMEOUT"])
async def test_end_states_with_underscores_are_gone(poller, fake, state):
    fake.squeue = (0, squeue_text(("7", state, "None", "n1")), "")
    assert (await poller.get("7", max_age=0)).phase == "gone"


def test_a_state_must_look_like_one():
    jobs, skipped = parse_squeue(
        "7|RUN NING|x|N/A|n|a|p|u\n8|_|x|N/A|n|a|p|u\n9|run|x|N/A|n|a|p|u\n"
    )
    assert jobs == {} and len(skipped) == 3


# --- knocking on the sessions' ports (real loopback sockets, scripted Slurm) -------------


class Session:
    """A listening socket standing in for a session's server."""

    async def open(self) -> "Session":
        self.server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        self.address = self.server.sockets[0].getsockname()[:2]
        return self

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


def squeues(fake) -> int:
    return sum(1 for c in fake.calls if c[0] == "squeue")


async def test_answering_sessions_are_confirmed_with_slurm_only_now_and_then(fake, vt):
    poller = SlurmPoller(runner=fake, min_spacing=0.0, clock=vt.clock, sleep=vt.sleep)
    fake.squeue = (
        0,
        squeue_text(("7", "RUNNING", "None", "n1"), ("8", "RUNNING", "None", "n1")),
        "",
    )
    a, b = await Session().open(), await Session().open()
    heard = []

    async def on_gone(info):
        heard.append((info.job_id, info.state))

    try:
        poller.watch("7", on_gone, every=5, address=a.address, confirm_every=60)
        poller.watch("8", on_gone, every=5, address=b.address, confirm_every=60)
        await vt.run_for(40)  # about 8 intervals
        assert squeues(fake) == 1, "both servers answer: only the first tick asks Slurm"
        # The hub's periodic poll of a watched, answering session reads the cache.
        assert (await poller.get("7", max_age=10)).phase == "running"
        assert squeues(fake) == 1
        await vt.run_for(50)  # the first confirmation falls 57 to 68 s after the first ask
        assert squeues(fake) == 2, "confirmed with Slurm once per confirm_every"

        # Job 7 ends: its server stops answering, so the next tick asks Slurm, which says so.
        calls = squeues(fake)
        await a.close()
        fake.squeue = (0, squeue_text(("8", "RUNNING", "None", "n1")), "")
        fake.sacct = (0, "7|CANCELLED by 0|0:15|None\n", "")
        await vt.tick()
        await asyncio.sleep(0)  # the notice runs as a task of its own
        assert heard == [("7", "CANCELLED")]
        assert squeues(fake) - calls == 1  # one for the silent tick, not one per job
        assert poller.watched == {"8"}
    finally:
        poller.untrack("7")
        poller.untrack("8")
        await b.close()


async def test_a_silent_server_is_not_gone_while_slurm_says_it_runs(fake, vt):
    poller = SlurmPoller(runner=fake, min_spacing=0.0, clock=vt.clock, sleep=vt.sleep)
    fake.squeue = (0, squeue_text(("7", "RUNNING", "None", "n1")), "")
    s = await Session().open()
    await s.close()  # nothing listens there any more
    heard = []

    async def on_gone(info):
        heard.append(info.job_id)

    poller.watch("7", on_gone, every=5, address=s.address, confirm_every=1000)
    try:
        for _ in range(4):
            await vt.tick()
        assert heard == []
        assert squeues(fake) == 4, "while it is silent, Slurm is asked every interval"
        assert poller.watched == {"7"}
    finally:
        poller.untrack("7")


async def test_a_watched_job_without_an_address_is_asked_about_every_interval(fake, vt):
    poller = SlurmPoller(runner=fake, min_spacing=0.0, clock=vt.clock, sleep=vt.sleep)
    fake.squeue = (0, squeue_text(("7", "RUNNING", "None", "n1")), "")

    async def on_gone(info):
        pass

    poller.watch("7", on_gone, every=5, confirm_every=1000)
    try:
        await vt.run_for(30)  # six intervals of 5 s, give or take the 5 % jitter
        assert squeues(fake) in (5, 6, 7)
        for _ in range(4):
            await vt.tick()
        assert squeues(fake) in (9, 10, 11)
    finally:
        poller.untrack("7")


@pytest.mark.parametrize(
    "address", [("127.0.0.1", 1), ("no-such-host.invalid", 8888), ("127.0.0.1", 70000), ("", 0)]
)
async def test_knocks_that_cannot_connect_are_silent(address):
    from aifactory_hub.hubside.poller import answers

    assert await answers(address, timeout=1.0) is False
