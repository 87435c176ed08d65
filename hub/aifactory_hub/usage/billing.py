"""Staff reports over a period: billing (every project, use against allocation, the charge
for charged access) and the funder report (hours granted and used by access mode and by
applicant type, and each project's storage as last measured).

Both read the store once (projects, then jobs), never slurmdbd. "Used in the period" is each
job's share inside the period (a job crossing an edge counts pro rata). "Granted in the
period" is the allocations of projects whose allocation starts in it: what was awarded then.
Jobs on accounts that belong to no project are reported as such, so every hour is somewhere.
The funder report also gives the time to access per access mode: the requests decided in the
period, in working days (the site's holiday calendar) from submission to decision, against
the mode's service-level target.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory_hub.data import storage_use
from aifactory_hub.policy import (
    ApplicantType,
    Hours,
    charge,
    fraction_used,
    use_by,
    warning_level,
)
from aifactory_hub.policy.clocks import decision_due, time_to_access, working_days_between
from aifactory_hub.policy.quota import day_start, share
from aifactory_hub.policy.settings import ModeSettings
from aifactory_hub.site import Site
from aifactory_hub.store import models as m
from aifactory_hub.usage.ledgers import NOT_STATED, Ledger, all_ledgers, every_job, figures_as_of

OTHER_LABELS = {
    "site": "Site projects (site file, no recorded allocation)",
    "none": "Accounts of no project",
}


def mode_labels(site: Site) -> dict[str, str]:
    """Every access mode's label (site data), and the two groups that are not modes."""
    return {**{code: m.label for code, m in site.access.modes.items()}, **OTHER_LABELS}


TYPE_LABELS = {
    **{t.value: t.label for t in ApplicantType},
    NOT_STATED: "Not stated (playground, site projects, other accounts)",
}
CSV_COLUMNS = (
    "account", "title", "pi", "organisation", "access_mode", "applicant_type", "status",
    "starts_on", "ends_on", "granted_gpu_hours", "granted_cpu_hours", "period_gpu_hours",
    "period_cpu_hours", "total_gpu_hours", "total_cpu_hours", "fraction_used", "level",
    "charged", "charge", "currency",
)  # fmt: skip


def _stray(account: str) -> Ledger:
    return Ledger(account, "(no project)", "", "", "none", "", None, None, {}, ())


def billing(db: Session, site: Site, first: date, last: date) -> dict[str, Any]:
    """One row per project (and per account of no project with use in the period)."""
    as_of, state = figures_as_of(db, site.services.collector_interval_s)
    lo, hi = day_start(first), min(day_start(last + timedelta(days=1)), as_of)
    ledgers = all_ledgers(db, site)
    jobs = every_job(db)
    known = {p.account for p in ledgers}
    period = use_by((j for js in jobs.values() for j in js), lambda j: j.account, lo, hi)
    ledgers += [_stray(a) for a in sorted(jobs) if a not in known and a in period]
    rates = site.access.rates
    rows, total, total_charge = [], Hours(), charge(0, 0, rates)
    for p in ledgers:
        # Use against the allocation: the project's own dates (a period may cut them).
        since = day_start(p.starts_on) if p.starts_on else None
        until = min(day_start(p.ends_on + timedelta(days=1)), as_of) if p.ends_on else as_of
        to_date = sum((share(j, since, until) for j in jobs.get(p.account, [])), Hours())
        granted = sum(p.grants.values(), Hours())
        used = period.get(p.account, Hours())
        amount = charge(max(used.gpu, 0), max(used.cpu, 0), rates) if p.charged else None
        total += used
        total_charge += amount or 0
        rows.append({
            "account": p.account, "title": p.title, "pi": p.pi, "organisation": p.organisation,
            "access_mode": p.access_mode, "applicant_type": p.applicant_type,
            "status": p.status, "starts_on": _iso(p.starts_on), "ends_on": _iso(p.ends_on),
            "granted": granted.rounded(), "period": used.rounded(), "total": to_date.rounded(),
            "fraction_used": _round(fraction_used(granted, to_date)),
            "level": warning_level(granted, to_date), "charged": p.charged,
            "charge": None if amount is None else str(amount),
        })  # fmt: skip
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "as_of": as_of.isoformat(),
        "collector": state,
        "currency": rates.currency,
        "rates": rates.model_dump(),
        "rows": rows,
        "totals": {**total.rounded(), "charge": str(total_charge)},
    }


def billing_csv(report: dict[str, Any]) -> str:
    """The billing report as CSV, one project per line (spreadsheet-safe text cells)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in report["rows"]:
        writer.writerow([
            _cell(r["account"]), _cell(r["title"]), _cell(r["pi"]), _cell(r["organisation"]),
            r["access_mode"], r["applicant_type"], r["status"], r["starts_on"] or "",
            r["ends_on"] or "", r["granted"]["gpu_hours"], r["granted"]["cpu_hours"],
            r["period"]["gpu_hours"], r["period"]["cpu_hours"], r["total"]["gpu_hours"],
            r["total"]["cpu_hours"], "" if r["fraction_used"] is None else r["fraction_used"],
            r["level"], "yes" if r["charged"] else "no", r["charge"] or "", report["currency"],
        ])  # fmt: skip
    return out.getvalue()


def funder(db: Session, site: Site, first: date, last: date) -> dict[str, Any]:
    """GPU- and CPU-hours granted and used in the period, by access mode and applicant type."""
    as_of, state = figures_as_of(db, site.services.collector_interval_s)
    lo, hi = day_start(first), min(day_start(last + timedelta(days=1)), as_of)
    ledgers = {p.account: p for p in all_ledgers(db, site)}
    jobs = every_job(db)
    used = use_by((j for js in jobs.values() for j in js), lambda j: j.account, lo, hi)
    groups: dict[str, dict[str, dict[str, Any]]] = {"mode": {}, "type": {}}
    empty = {"projects": 0, "granted": Hours(), "used": Hours()}

    def add(kind: str, key: str, granted: Hours, hours: Hours, active: bool) -> None:
        row = groups[kind].setdefault(key, dict(empty))
        row["granted"] += granted
        row["used"] += hours
        row["projects"] += int(active)

    for account in sorted(set(ledgers) | set(used)):
        p = ledgers.get(account) or _stray(account)
        starts_in = p.starts_on is not None and first <= p.starts_on <= last
        granted = sum(p.grants.values(), Hours()) if starts_in else Hours()
        active = p.starts_on is None or (p.starts_on <= last and p.ends_on >= first)
        hours = used.get(account, Hours())
        if not (active or hours != Hours()) or (p.access_mode == "none" and hours == Hours()):
            continue
        add("mode", p.access_mode, granted, hours, active and p.access_mode != "none")
        add("type", p.applicant_type, granted, hours, active and p.access_mode != "none")
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "as_of": as_of.isoformat(),
        "collector": state,
        "by_access_mode": _rows(groups["mode"], mode_labels(site)),
        "by_applicant_type": _rows(groups["type"], TYPE_LABELS),
        "time_to_access": access_times(
            decided_in(db, first, last), site.access.modes, site.access.holidays
        ),
        **storage_report(db, site, list(ledgers.values())),
    }


@dataclass(frozen=True)
class Decided:
    """A decided request, as the time-to-access figures need it."""

    mode: str
    submitted_on: date
    decided_on: date
    due_on: date | None  # as stored at submission; None: recomputed from the mode


def decided_in(db: Session, first: date, last: date) -> list[Decided]:
    """The requests decided (granted, partly, waitlisted or rejected) in the period."""
    p = m.Proposal
    rows = db.execute(
        select(p.access_mode, p.submitted_at, p.decided_at, p.decision_due_on).where(
            p.decided_at >= day_start(first),
            p.decided_at < day_start(last + timedelta(days=1)),
            p.submitted_at.is_not(None),
        )
    )
    return [Decided(mode, sub.date(), dec.date(), due) for mode, sub, dec, due in rows]


def access_times(
    decided: Iterable[Decided], modes: Mapping[str, ModeSettings], region: str
) -> list[dict[str, Any]]:
    """Time to access per access mode (every mode of the site, in its order; a mode the
    site no longer has, if requests of it were decided): working days from submission to
    decision, against the target (working days from submission to the date the decision was
    due: `decision_working_days` after the submission or after its cut-off, as the mode
    says). Counted: `decided`, `median_working_days`, `p90_working_days`, `within_target`
    (the share decided by its due date)."""
    by_mode: dict[str, list[tuple[int, int]]] = {code: [] for code in modes}
    for d in decided:
        mode = modes.get(d.mode)
        due = d.due_on
        if due is None and mode is not None:
            due = decision_due(mode, d.submitted_on, region)[1]
        if due is None:
            continue  # a mode the site lost, from before clocks were stored: no target
        taken = working_days_between(d.submitted_on, d.decided_on, region)
        target = working_days_between(d.submitted_on, due, region)
        by_mode.setdefault(d.mode, []).append((taken, target))
    rows = []
    for code, taken in by_mode.items():
        mode = modes.get(code)
        rows.append({
            "key": code,
            "label": mode.label if mode else code,
            "selection": mode.selection if mode else None,
            "decision_working_days": mode.decision_working_days if mode else None,
            "clock_from": mode.clock_from if mode else None,
            **time_to_access(taken),
        })  # fmt: skip
    return rows


STORAGE_KEYS = ("used_gb", "files", "allowance_gb", "percent", "level", "lower_bound",
                "measured_at")  # fmt: skip


def storage_report(db: Session, site: Site, ledgers: list[Ledger]) -> dict[str, Any]:
    """Each project's storage (project and scratch folders together) as last measured: a
    figure of now, not of the period (the meter keeps no history). Projects that have not
    ended, and ended ones whose last figure is stored (their data is kept for retention)."""
    stored = storage_use.read(db)
    rows = []
    for p in ledgers:
        if p.status == "ended" and p.account not in stored:
            continue
        figures = storage_use.storage_json(
            site.storage, p.account, p.access_mode, stored.get(p.account, {})
        )
        rows.append({"account": p.account, "title": p.title, "access_mode": p.access_mode,
                     **{k: figures[k] for k in STORAGE_KEYS}})  # fmt: skip
    measured = [r for r in rows if r["used_gb"] is not None]
    return {
        "storage_pass": storage_use.state_json(db, site.storage.scan_interval_s, datetime.now(UTC)),
        "storage": rows,
        "storage_totals": {
            "projects": len(measured),
            "used_gb": round(sum(r["used_gb"] for r in measured), 6),
            "files": sum(r["files"] for r in measured),
            "lower_bound": any(r["lower_bound"] for r in measured),
        },
    }


def _rows(groups: dict[str, dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    order = list(labels)
    rows = [
        {"key": key, "label": labels.get(key, key), "projects": g["projects"],
         "granted": g["granted"].rounded(), "used": g["used"].rounded()}
        for key, g in sorted(groups.items(), key=lambda kv: _index(order, kv[0]))
    ]  # fmt: skip
    return rows


def _index(order: list[str], key: str) -> int:
    return order.index(key) if key in order else len(order)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
