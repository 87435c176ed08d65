"""A refresh timer that ticks in the browser, so a kernel whose page is gone stops asking.

A Play widget starts ticking only when `playing` changes to true while its view exists, and
the kernel cannot tell when the page has built its views. So the kernel toggles `playing`
every few seconds until the first tick arrives, and gives up after a while (the page may never
have been opened).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import ipywidgets as w

TIMER_OFF = "Auto-refresh is off (no page answered); use Refresh now."


def updated_line(refresh_s: float, at: float | None = None) -> str:
    """'Updated 10:42:05 UTC; refreshes every 10 s.': when the figures shown were taken (`at`,
    seconds since the epoch; now by default)."""
    taken = time.strftime("%H:%M:%S", time.gmtime(time.time() if at is None else at))
    return f"Updated {taken} UTC; refreshes every {refresh_s:g} s."


def browser_timer(interval_s: float) -> w.Play:
    """A hidden Play widget; observe its `value` to act on each tick."""
    return w.Play(
        interval=int(interval_s * 1000),
        max=10**9,
        repeat=True,
        playing=False,
        layout=w.Layout(display="none"),
    )


async def nudge_until_ticking(
    timer: w.Play, ticked: Callable[[], bool], every_s: float = 2.0, give_up_s: float = 30.0
) -> bool:
    """Toggle `playing` until `ticked()`; False (and the timer off) if no page ever ticked."""
    for _ in range(int(give_up_s / every_s)):
        if ticked():
            return True
        timer.playing = False
        timer.playing = True
        await asyncio.sleep(every_s)
    if not ticked():
        timer.playing = False
    return ticked()


def start_soon(coroutine_function: Callable[[], object]) -> None:
    """Run the nudging in the kernel's event loop, if there is one (tests have none)."""
    try:
        asyncio.get_running_loop().create_task(coroutine_function())
    except RuntimeError:
        pass  # no event loop: not in a kernel (tests call the coroutine themselves)


class BrowserRefresh:
    """For a widget with a `refresh()`: a `timer` ticking in the browser drives it.

    Start it with `start_soon(self.start_timer)` once the widget is built; if no page ever
    ticks, `timer_off` says so (where the widget shows it)."""

    ticks = 0
    timer: w.Play

    def refresh(self) -> object:
        raise NotImplementedError

    def timer_off(self, text: str) -> None:
        """Show `text` (auto-refresh is off); by default nothing is shown."""

    def make_timer(self, interval_s: float) -> w.Play:
        self.timer = browser_timer(interval_s)
        self.timer.observe(self._tick, "value")
        return self.timer

    def _tick(self, _change: dict) -> None:
        self.ticks += 1
        self.refresh()

    async def start_timer(self, every_s: float = 2.0, give_up_s: float = 30.0) -> bool:
        """Nudge the browser's Play widget until it ticks; False if no page ever did."""
        if await nudge_until_ticking(self.timer, lambda: bool(self.ticks), every_s, give_up_s):
            return True
        self.timer_off(TIMER_OFF)
        return False
