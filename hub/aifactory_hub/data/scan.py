"""How much one project (or scratch) folder holds: bytes on disk and the number of entries.

Where a site's filesystem has quota tools (Lustre `lfs quota -g`, GPFS `mmlsquota -j`, XFS
project quotas), the group's figure would be exact and instant; the local demo's filesystem
has none, so this module measures with a bounded walk, which works on any POSIX filesystem.
A quota reader would return the same `FolderSize` (the seam is `measure`'s callers: the
storage meter takes any `(path, max_entries) -> FolderSize`).

The walk is careful because the folders are written by researchers:
- it never follows a symbolic link (every entry is `lstat`ed; a link counts as itself), so a
  link pointing at `/` or at another project's folder adds nothing and opens nothing;
- it never crosses into another filesystem (`st_dev` differs from the folder's: a mount
  inside the folder is counted as one entry, not walked);
- it stops after `max_entries` entries and says its figure is a lower bound
  (`complete=False`), so a folder of millions of small files costs a bounded time;
- a subfolder it cannot read is named in `error`, and the walk goes on.

`bytes` is what `du` counts (`st_blocks * 512`: sparse files count what they hold, not their
length); `apparent_bytes` is the sum of lengths (`du --apparent-size`). A hard-linked file
counts once, as `du` counts it. `files` counts every entry below the folder and the folder
itself, as `find <folder> | wc -l` does.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from dataclasses import dataclass

MAX_ERRORS_SHOWN = 3


@dataclass(frozen=True)
class FolderSize:
    """One measurement of one folder. `exists` False: there is no such folder (not an error:
    a project whose folder was not made yet, or was removed after retention)."""

    path: str
    bytes: int = 0
    apparent_bytes: int = 0
    files: int = 0
    complete: bool = True
    exists: bool = True
    error: str = ""


def measure(path: str | os.PathLike[str], max_entries: int) -> FolderSize:
    """Walk `path` (never following links, never leaving its filesystem) for at most
    `max_entries` entries; the figures are a lower bound when `complete` is False."""
    if max_entries < 1:
        raise ValueError(f"max_entries: {max_entries} is not a positive number")
    root = os.fspath(path)
    try:
        top = os.lstat(root)
    except FileNotFoundError:
        return FolderSize(root, exists=False)
    except OSError as exc:
        return FolderSize(root, complete=False, error=_say(root, exc))
    if not stat.S_ISDIR(top.st_mode):  # a link or a file where the folder should be
        kind = "a symbolic link" if stat.S_ISLNK(top.st_mode) else "not a folder"
        return FolderSize(root, complete=False, error=f"{root} is {kind}; not measured")
    walk = _Walk(top.st_dev, max_entries)
    walk.count(top)
    pending = deque([root])
    while pending and not walk.full:
        folder = pending.popleft()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if walk.entries >= walk.max_entries:  # one entry more than the bound
                        walk.full = True
                        break
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError as exc:  # gone since the listing, or unreadable
                        walk.fail(entry.path, exc)
                        continue
                    walk.count(info)
                    if stat.S_ISDIR(info.st_mode) and info.st_dev == walk.device:
                        pending.append(entry.path)
        except OSError as exc:
            walk.fail(folder, exc)
    return FolderSize(
        root,
        bytes=walk.bytes,
        apparent_bytes=walk.apparent,
        files=walk.entries,
        complete=not walk.full and not walk.errors,
        error=walk.error_text(),
    )


class _Walk:
    """The running totals of one walk."""

    def __init__(self, device: int, max_entries: int):
        self.device, self.max_entries = device, max_entries
        self.bytes = self.apparent = self.entries = 0
        self.seen: set[tuple[int, int]] = set()  # hard links count once
        self.errors: list[str] = []
        self.full = False

    def count(self, info: os.stat_result) -> None:
        self.entries += 1
        if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in self.seen:
                return
            self.seen.add(key)
        self.bytes += info.st_blocks * 512
        self.apparent += info.st_size

    def fail(self, path: str, exc: OSError) -> None:
        self.errors.append(_say(path, exc))

    def error_text(self) -> str:
        parts = self.errors[:MAX_ERRORS_SHOWN]
        if len(self.errors) > MAX_ERRORS_SHOWN:
            parts.append(f"and {len(self.errors) - MAX_ERRORS_SHOWN} more")
        if self.full:
            parts.append(f"stopped after {self.max_entries} entries: the figures are a lower bound")
        return "; ".join(parts)


def _say(path: str, exc: OSError) -> str:
    return f"{path}: {exc.strerror or exc}"
