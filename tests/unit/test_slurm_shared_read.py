"""slurm.shared_read: one read for every caller within max_age, on an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from aifactory_hub import slurm
from aifactory_hub.slurm.runner import CommandResult
from aifactory_hub.slurm.shared_read import SharedRead


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def calls(monkeypatch) -> list[list[str]]:
    seen: list[list[str]] = []
    answers = iter(["1", "2", "3"])

    async def arun(argv, timeout=10.0, **kwargs):
        seen.append(list(argv))
        await asyncio.sleep(0.01)  # long enough for concurrent callers to arrive meanwhile
        return CommandResult(tuple(argv), 0, next(answers), "")

    monkeypatch.setattr(slurm, "arun", arun)
    return seen


def test_callers_within_max_age_share_one_command(calls):
    clock = Clock()
    read = SharedRead(lambda: ["squeue"], int, clock=clock)

    async def main():
        first = await asyncio.gather(*(read.get(15) for _ in range(5)))
        clock.now += 14.9
        kept = await read.get(15)
        clock.now += 0.2
        fresh = await read.get(15)
        return first, kept, fresh

    first, kept, fresh = asyncio.run(main())
    assert first == [1] * 5 and kept == 1  # five at once and one 14.9 s later: one squeue
    assert fresh == 2 and len(calls) == 2  # older than 15 s: Slurm is asked again


def test_a_controller_that_does_not_answer_gives_none_and_is_not_asked_again(monkeypatch):
    asked = []

    async def arun(argv, timeout=10.0, **kwargs):
        asked.append(timeout)
        raise slurm.ControllerUnreachable(argv, None, "", "")

    monkeypatch.setattr(slurm, "arun", arun)
    read = SharedRead(lambda: ["scontrol", "show", "node"], str, clock=Clock())

    async def main():
        return [await read.get(15, timeout=3), await read.get(15, timeout=3)]

    assert asyncio.run(main()) == [None, None]
    assert asked == [3]


def test_forget_asks_again(calls):
    read = SharedRead(lambda: ["squeue"], int, clock=Clock())
    assert asyncio.run(read.get(15)) == 1
    read.forget()
    assert asyncio.run(read.get(15)) == 2
