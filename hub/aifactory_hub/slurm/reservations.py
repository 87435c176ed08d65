"""Slurm reservations (a workshop's cores): the `scontrol` commands that make, extend and delete
one, and what a delete of one that is already gone prints."""

from __future__ import annotations

from datetime import datetime

from aifactory_hub.site.names import require_slurm_name


def _slurm_time(moment: datetime) -> str:
    # scontrol reads times in the controller's local time zone.
    return moment.astimezone().strftime("%Y-%m-%dT%H:%M:%S")


def create_reservation_argv(
    name: str, account: str, partition: str, cores: int, start: datetime, end: datetime
) -> list[str]:
    """`cores` cores on `partition` from `start` to `end`, usable by `account` only.
    IGNORE_JOBS: a reservation starting now is made even if running jobs hold cores."""
    return [
        "scontrol", "create", "reservation", f"ReservationName={require_slurm_name(name)}",
        f"StartTime={_slurm_time(start)}", f"EndTime={_slurm_time(end)}",
        f"Accounts={require_slurm_name(account)}",
        f"PartitionName={require_slurm_name(partition)}", f"CoreCnt={int(cores)}",
        "Flags=IGNORE_JOBS",
    ]  # fmt: skip


def extend_reservation_argv(name: str, end: datetime) -> list[str]:
    """Move the reservation's end to `end`."""
    return [
        "scontrol", "update", f"ReservationName={require_slurm_name(name)}",
        f"EndTime={_slurm_time(end)}",
    ]  # fmt: skip


def delete_reservation_argv(name: str) -> list[str]:
    return ["scontrol", "delete", f"ReservationName={require_slurm_name(name)}"]


def reservation_missing(output: str) -> bool:
    """Whether a failed delete's output (stdout and stderr) says there is no such reservation
    ("Invalid reservation name"): then there is nothing left to delete."""
    return "invalid" in output.lower()
