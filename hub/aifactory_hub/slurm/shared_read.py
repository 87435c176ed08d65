"""One Slurm read shared by every caller for a few seconds.

The spawn form reads the nodes (`scontrol show node`) and the queue (`squeue`) on every view:
many forms opened at once must cost slurmctld one command of each, not one per form. A
`SharedRead` runs its command through the one runner, parses the answer, and gives the same
value to every caller until it is `max_age` seconds old; callers that arrive while it runs
wait for that run instead of starting another. A controller that does not answer gives None,
kept for the same time, so a down slurmctld is not asked again by every form either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from aifactory_hub import slurm

T = TypeVar("T")


class SharedRead(Generic[T]):
    """`argv()` run and `parse`d at most once per `max_age` seconds (`clock`: injectable)."""

    def __init__(
        self,
        argv: Callable[[], list[str]],
        parse: Callable[[str], T],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.argv, self.parse, self.clock = argv, parse, clock
        self._kept: tuple[float, T | None] | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self, max_age: float, timeout: float = 10.0) -> T | None:
        """The parsed answer, at most `max_age` seconds old; None when Slurm did not answer."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._kept is not None and self.clock() - self._kept[0] < max_age:
                return self._kept[1]
            try:
                result = await slurm.arun(self.argv(), timeout=timeout)
                value: T | None = self.parse(result.stdout)
            except slurm.SlurmError:
                value = None
            self._kept = (self.clock(), value)
            return value

    def forget(self) -> None:
        """The next `get` asks Slurm again (tests, benchmarks: a cold cache)."""
        self._kept = None
