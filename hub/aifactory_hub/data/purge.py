"""The scratch purge: files in a project's scratch folder unchanged for `scratch_purge_days`
are removed, as on LUMI's or JUWELS' scratch. Scratch is for what a job makes and the next
one reads; what must last belongs in the project folder (not purged).

The purge is as careful as the size scan (`data.scan`), because researchers write scratch:
- a symbolic link is never followed: the link itself is removed once it is old (its own
  mtime, `lstat`), what it points at is never touched, so a link to `/etc` or to another
  project's folder is harmless;
- it never descends into another filesystem mounted inside the folder;
- every removal is relative to an open folder (`dir_fd`), so swapping a subfolder for a link
  between the listing and the removal cannot redirect the removal out of the folder;
- empty subfolders left behind are removed (a subfolder that was empty to begin with and is
  itself old goes too), but never the scratch folder itself;
- a file it cannot remove is counted as an error, and the purge goes on; so is a folder
  nested deeper than `MAX_DEPTH` (each level holds one open folder while it is purged).

`now` is given (the storage meter's clock), so tests age files with `os.utime` instead of
waiting.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta

MAX_ERRORS_KEPT = 20
MAX_DEPTH = 128  # deeper folders are left alone (and named): each level holds an open folder


@dataclass
class Purged:
    """What one purge removed: entries (files, links and folders), and the bytes they held
    (`st_blocks * 512`, as `du` counts them)."""

    path: str
    removed: int = 0
    bytes: int = 0
    folders: int = 0  # of `removed`, how many were emptied subfolders
    errors: list[str] = field(default_factory=list)


def purge(path: str | os.PathLike[str], older_than_days: int, now: datetime) -> Purged:
    """Remove what under `path` was last changed more than `older_than_days` before `now`."""
    if older_than_days < 1:
        raise ValueError(f"older_than_days: {older_than_days} is not a positive number of days")
    root = os.fspath(path)
    cutoff = (now - timedelta(days=older_than_days)).timestamp()
    result = Purged(root)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return result
    except OSError as exc:  # a link where the folder should be, or unreadable: purge nothing
        result.errors.append(f"{root}: {exc.strerror or exc}")
        return result
    try:
        device = os.fstat(fd).st_dev
        _purge_folder(fd, root, device, cutoff, result, 0)
    finally:
        os.close(fd)
    return result


def _purge_folder(
    fd: int, shown: str, device: int, cutoff: float, result: Purged, depth: int
) -> bool:
    """Purge the open folder `fd` (`depth` levels below the scratch folder); True when it is
    empty afterwards."""
    try:
        names = os.listdir(fd)
    except OSError as exc:
        _fail(result, shown, exc)
        return False
    left = len(names)
    for name in names:
        where = f"{shown}/{name}"
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:  # removed meanwhile
            left -= 1
            continue
        except OSError as exc:
            _fail(result, where, exc)
            continue
        if stat.S_ISDIR(info.st_mode):
            if info.st_dev != device:
                continue  # another filesystem mounted here: not ours to purge
            if depth >= MAX_DEPTH:
                _fail(result, where, OSError(f"nested deeper than {MAX_DEPTH}: not purged"))
                continue
            if _purge_subfolder(fd, name, where, device, cutoff, result, info, depth + 1):
                left -= 1
        elif info.st_mtime < cutoff:
            try:
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                left -= 1
                continue
            except OSError as exc:
                _fail(result, where, exc)
                continue
            left -= 1
            result.removed += 1
            result.bytes += info.st_blocks * 512
    return left == 0


def _purge_subfolder(
    parent: int,
    name: str,
    where: str,
    device: int,
    cutoff: float,
    result: Purged,
    before: os.stat_result,
    depth: int,
) -> bool:
    """Purge one subfolder, then remove it if it is empty and either held something that was
    purged or is itself old. True when it was removed."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    except OSError as exc:  # swapped for a link since the listing, or unreadable
        _fail(result, where, exc)
        return False
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            return False  # replaced between the listing and the opening: leave it
        removed_before = result.removed
        empty = _purge_folder(fd, where, device, cutoff, result, depth)
    finally:
        os.close(fd)
    if not empty or (result.removed == removed_before and before.st_mtime >= cutoff):
        return False  # a fresh empty folder a job just made stays
    try:
        os.rmdir(name, dir_fd=parent)
    except OSError as exc:  # written meanwhile, or not ours
        if not isinstance(exc, FileNotFoundError):
            _fail(result, where, exc)
        return False
    result.removed += 1
    result.folders += 1
    result.bytes += before.st_blocks * 512
    return True


def _fail(result: Purged, where: str, exc: OSError) -> None:
    if len(result.errors) < MAX_ERRORS_KEPT:
        result.errors.append(f"{where}: {exc.strerror or exc}")
