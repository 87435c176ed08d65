"""The service's background work, started once by `__main__` in the service's event loop:
the accounting collector's periodic read, the storage meter's periodic pass (sizes of every
project's folders, and the scratch purge), and the timer that ends workshops on time."""

from __future__ import annotations

import asyncio
import logging

from aifactory_hub.data.storage_use import shared_meter
from aifactory_hub.service.base import Context, in_thread
from aifactory_hub.service.routes.workshops import end_workshop
from aifactory_hub.workshops import lifecycle as life

log = logging.getLogger("aifactory.workshops")
_running: set[asyncio.Task] = set()  # kept referenced for as long as the service runs


async def end_due_workshops(context: Context, every_s: float = 60) -> None:
    """Workshops end on time, nobody has to press a button; runs for ever."""
    while True:
        try:
            for workshop_id in await in_thread(life.due, context.store):
                await end_workshop(context, workshop_id, "end time")
        except Exception:  # try again next round: the loop must never stop
            log.exception("workshop timer")
        await asyncio.sleep(every_s)


def start(context: Context) -> None:
    """Start the background tasks in the running loop: accounting into the store every
    collector interval (pages read the store, not slurmdbd), storage every scan interval (in a
    worker thread; pages read the store, not the folders), and the workshop timer."""
    _running.add(context.collector.start())
    _running.add(shared_meter(context.store, context.site).start())
    _running.add(asyncio.get_running_loop().create_task(end_due_workshops(context)))
