"""Storage use: every project's project and scratch folder measured at the site's
`storage.scan_interval_s`, stored as `StorageUse` rows, with the scratch purge in the same pass.

Why a periodic pass into the store rather than measuring on request: a walk of a big folder
takes seconds to minutes (`data.scan`), so pages (the quota view, the usage desk, the funder
report) read the last figures from the store, each with the time it was measured. The pass
runs in a worker thread, never on the service's event loop, one at a time: the periodic task
and staff's "measure now" share the service's one `StorageMeter` (as the accounting
collector's periodic read and "collect now" share one `Collector`).

Which folders: those of the site file's projects and of the store's projects that have not
ended (an ended project's folders are frozen for retention; their last figure stays until
staff remove the data, when the pass drops it). A folder
that does not exist (a project not provisioned yet) is stored as such (`MISSING`), not an
error. The pass's own record is the `collector_state` row named `storage`, so answers can say
how old the figures are.

The figures are what the service's user can see: on the demo the service runs as root and
sees every folder; a site whose service runs unprivileged would read its filesystem's quota
tool instead (`scanner` takes any `(path, max_entries) -> FolderSize`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from aifactory_hub.data import FOLDERS, env_name, folder
from aifactory_hub.data.purge import Purged, purge
from aifactory_hub.data.scan import FolderSize, measure
from aifactory_hub.policy.quota import GB, storage_fraction, storage_level
from aifactory_hub.site import Site
from aifactory_hub.site.storage import StorageSettings
from aifactory_hub.store import models as m
from aifactory_hub.usage.collector import state_json as collector_state

log = logging.getLogger("aifactory.storage")

NAME = "storage"  # the pass's row in collector_state
MISSING = "no such folder"

Scanner = Callable[[str, int], FolderSize]
Purger = Callable[[str, int, datetime], Purged]


def accounts_to_measure(db: Session, site: Site) -> list[str]:
    """The site file's projects and the store's projects that have not ended."""
    live = select(m.Project.account).where(
        m.Project.ended_at.is_(None), m.Project.status != "ended"
    )
    return sorted({p.account for p in site.projects} | set(db.scalars(live)))


def forget_removed(db: Session) -> int:
    """Drop the figures of projects whose data staff removed after retention: a stored figure
    would say they still hold it. The number of rows dropped."""
    removed = select(m.Project.account).where(m.Project.data_removed_at.is_not(None))
    result = db.execute(delete(m.StorageUse).where(m.StorageUse.account.in_(removed)))
    return int(getattr(result, "rowcount", 0) or 0)


def save(db: Session, account: str, which: str, size: FolderSize, when: datetime) -> None:
    """Upsert the folder's row (one per account and folder)."""
    row = db.get(m.StorageUse, (account, which)) or m.StorageUse(account=account, folder=which)
    db.add(row)
    row.bytes, row.files, row.measured_at = size.bytes, size.files, when
    row.complete = size.complete
    row.error = (size.error if size.exists else MISSING)[:2000]


class StorageMeter:
    """Measures every project's folders and purges scratch, every `scan_interval_s`."""

    def __init__(
        self,
        store: sessionmaker[Session],
        site: Site,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        scanner: Scanner = measure,
        purger: Purger = purge,
    ):
        self.store, self.site = store, site
        self.clock, self.scanner, self.purger = clock, scanner, purger
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    @property
    def storage(self) -> StorageSettings:
        return self.site.storage

    def measure_all(self) -> dict[str, Any]:
        """One pass (blocking: call it in a worker thread). Never raises for one folder's
        trouble (it is stored with that folder), nor for a failed pass: that is recorded as
        the pass's `last_error`, and the figures stay the last good ones."""
        started = self.clock()
        accounts: list[str] = []
        totals = dict.fromkeys(("folders", "missing", "incomplete", "purged", "purged_bytes"), 0)
        try:
            with self.store.begin() as db:
                forget_removed(db)
                accounts = accounts_to_measure(db, self.site)
            for account in accounts:
                self._measure_account(account, started, totals)
            self._record(started, "")
            log.info("storage: %d accounts measured, %s", len(accounts), totals)
        except Exception as exc:  # the store, or a scanner's surprise: keep the figures, say why
            log.warning("storage pass failed: %s", exc, exc_info=True)
            self._record(started, str(exc) or repr(exc))
        return {**self.state(), "accounts": len(accounts), **totals}

    def _measure_account(self, account: str, when: datetime, totals: dict[str, int]) -> None:
        sizes = {}
        for which in FOLDERS:
            path = str(folder(self.storage, which, account))
            purge_note = ""
            if which == "scratch":
                done = self.purger(path, self.storage.scratch_purge_days, when)
                totals["purged"] += done.removed
                totals["purged_bytes"] += done.bytes
                if done.removed:
                    log.info("storage: purged %d entries (%d bytes) from %s", done.removed,
                             done.bytes, path)  # fmt: skip
                if done.errors:
                    purge_note = "purge: " + "; ".join(done.errors[:3])
            size = self.scanner(path, self.storage.scan_max_entries)
            if purge_note:
                error = "; ".join(e for e in (size.error, purge_note) if e)
                size = FolderSize(**{**size.__dict__, "error": error})
            sizes[which] = size
            totals["folders"] += 1
            totals["missing"] += not size.exists
            totals["incomplete"] += not size.complete
        with self.store.begin() as db:
            for which, size in sizes.items():
                save(db, account, which, size, when)

    def _record(self, started: datetime, error: str) -> None:
        try:
            with self.store.begin() as db:
                row = db.get(m.CollectorState, NAME) or m.CollectorState(name=NAME)
                db.add(row)
                row.last_run_at = started
                row.last_error = error[:2000]
                if not error:
                    row.last_success_at = started
        except Exception as exc:  # the store itself is down: the log is all there is
            log.warning("storage: cannot record the pass: %s", exc)

    def state(self) -> dict[str, Any]:
        with self.store() as db:
            return state_json(db, self.storage.scan_interval_s, self.clock())

    async def run_once(self) -> dict[str, Any]:
        """One pass in a worker thread; a second caller waits for the first to finish."""
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(None, self.measure_all)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # try again next round: the loop must never stop
                log.exception("storage pass")
            await asyncio.sleep(self.storage.scan_interval_s)

    def start(self) -> asyncio.Task:
        """Run periodically in the current event loop (the factory service's)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run_forever())
        return self._task


_shared: dict[int, StorageMeter] = {}


def shared_meter(store: sessionmaker[Session], site: Site) -> StorageMeter:
    """The service's one meter for its store: the periodic task and "measure now" share it,
    so two passes never overlap."""
    if id(store) not in _shared:
        _shared[id(store)] = StorageMeter(store, site)
    return _shared[id(store)]


# --- reading the figures --------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One folder's last figure, as stored."""

    bytes: int
    files: int
    complete: bool
    error: str
    measured_at: datetime


def read(db: Session, accounts: Iterable[str] | None = None) -> dict[str, dict[str, Measured]]:
    """The stored figures by account and folder (every account when None)."""
    query = select(m.StorageUse)
    wanted = None if accounts is None else sorted(set(accounts))
    rows: list[m.StorageUse] = []
    if wanted is None:
        rows = list(db.scalars(query))
    for i in range(0, len(wanted or []), 500):
        rows += db.scalars(query.where(m.StorageUse.account.in_(wanted[i : i + 500])))
    found: dict[str, dict[str, Measured]] = {}
    for r in rows:
        found.setdefault(r.account, {})[r.folder] = Measured(
            r.bytes, r.files, r.complete, r.error, r.measured_at
        )
    return found


def state_json(db: Session, interval_s: float, now: datetime) -> dict[str, Any]:
    """When the last pass ran and whether it worked, as the accounting collector says it of
    its own runs (stale after a failure or three intervals without a success); the pass has
    no watermark."""
    state = collector_state(db.get(m.CollectorState, NAME), interval_s, now)
    del state["watermark"]
    return state


def storage_json(
    storage: StorageSettings, account: str, access_mode: str, figures: dict[str, Measured]
) -> dict[str, Any]:
    """A project's storage as the quota view shows it: used GB and entries of its project and
    scratch folders together, against the allowance of its access mode ("site" for a site-file
    project), the warning level, when measured and whether it is a lower bound."""
    allowance = storage.allowance(access_mode)  # "site" is the site file's projects' key
    folders = []
    for which in FOLDERS:
        got = figures.get(which)
        folders.append({
            "folder": which,
            "env": env_name(which),
            "path": str(folder(storage, which, account)),
            "measured": got is not None,
            "exists": got is not None and got.error != MISSING,
            "used_gb": round(got.bytes / GB, 6) if got else None,
            "bytes": got.bytes if got else None,
            "files": got.files if got else None,
            "complete": got.complete if got else None,
            "error": "" if got is None or got.error == MISSING else got.error,
            "measured_at": _iso(got.measured_at if got else None),
        })  # fmt: skip
    measured = [figures[w] for w in FOLDERS if w in figures]
    used = sum(f.bytes for f in measured)
    fraction = storage_fraction(used, allowance) if measured else None
    return {
        "measured": bool(measured),
        "used_gb": round(used / GB, 6) if measured else None,
        "bytes": used if measured else None,
        "files": sum(f.files for f in measured) if measured else None,
        "allowance_gb": allowance or None,
        "percent": None if fraction is None else round(100 * fraction, 4),
        "level": storage_level(used, allowance) if measured else "none",
        "lower_bound": any(not f.complete for f in measured),
        "measured_at": _iso(min((f.measured_at for f in measured), default=None)),
        "scratch_purge_days": storage.scratch_purge_days,
        "folders": folders,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
