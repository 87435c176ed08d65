#!/usr/bin/env python3
"""The staging job's batch script: copy SOURCE into the folder DEST, as the user, with progress.

`aifactory_hub.data.staging` submits this file, unchanged, with `sbatch ... stage_job.py TIMES
SOURCE DEST`: the user's paths reach it only as arguments, never as script text. It runs on a
compute node as the user, so the filesystem decides what may be read and written; it uses the
standard library only, so any python3 on the node runs it.

With rsync on the node it is `rsync -a --info=progress2 --no-inc-recursive` (the total is known
up front, so the percentage means the whole copy); without, a Python copy prints
`progress BYTES TOTAL PERCENT%` lines. Either way:
- files and folders are group-readable and -writable and closed to others, and new folders keep
  the setgid bit, so the project's members share what was staged and it keeps the project's
  group (rsync -a alone would keep the source's private modes and the user's own group);
- TIMES is `keep-times` (a project folder: a later staging of the same data skips what is
  unchanged) or `fresh-times` (scratch: the purge counts from the copy, not from when the
  source was last changed, or old data would be purged as soon as it lands).
The job's --time bounds the copy.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

TIMES = ("keep-times", "fresh-times")
CHMOD = "Dg+s,ug+rwX,o-rwx"  # rsync's --chmod: shared with the group, setgid folders
CHUNK = 4 * 1024 * 1024
EVERY_S = 1.0  # at most one progress line a second


def rsync_argv(times: str, source: str, dest: str) -> list[str]:
    """The rsync command: SOURCE (a file or a folder, no trailing '/') copied into DEST."""
    keep = [] if times == "keep-times" else ["--no-times"]
    return [
        "rsync", "-a", "--no-owner", "--no-group", f"--chmod={CHMOD}", *keep,
        "--info=progress2", "--no-inc-recursive", "--", source, dest.rstrip("/") + "/",
    ]  # fmt: skip


def progress_line(done: int, total: int) -> str:
    """The Python copy's progress line (`staging.parse_progress` reads it)."""
    percent = 100 if total == 0 else min(100, done * 100 // total)
    return f"progress {done} {total} {percent}%"


def _walk(source: Path) -> Iterator[Path]:
    """SOURCE and everything under it, parents first; symlinks are not followed."""
    yield source
    if source.is_dir() and not source.is_symlink():
        for root, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                yield Path(root, name)


def _shared_mode(mode: int, is_dir: bool) -> int:
    """What `--chmod=Dg+s,ug+rwX,o-rwx` makes of a mode."""
    mode = stat.S_IMODE(mode) & ~0o7007 | 0o660
    if is_dir or mode & 0o111:
        mode |= 0o110
    return mode | (stat.S_ISGID if is_dir else 0)


def python_copy(times: str, source: str, dest: str, out=sys.stdout) -> int:
    """Copy SOURCE into DEST without rsync, printing progress lines; returns the bytes copied."""
    src = Path(source)
    os.makedirs(dest, exist_ok=True)
    entries = list(_walk(src))
    total = sum(p.lstat().st_size for p in entries if p.is_file() and not p.is_symlink())
    done, last = 0, 0.0
    print(progress_line(0, total), file=out, flush=True)
    for path in entries:
        target = Path(dest, src.name, path.relative_to(src))
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            target.unlink(missing_ok=True)
            target.symlink_to(os.readlink(path))
            continue
        if stat.S_ISDIR(info.st_mode):
            target.mkdir(exist_ok=True)
        elif stat.S_ISREG(info.st_mode):
            with path.open("rb") as reader, target.open("wb") as writer:
                while chunk := reader.read(CHUNK):
                    writer.write(chunk)
                    done += len(chunk)
                    if time.monotonic() - last >= EVERY_S:
                        last = time.monotonic()
                        print(progress_line(done, total), file=out, flush=True)
        else:
            print(f"skipped (not a file or folder): {path}", file=out, flush=True)
            continue
        os.chmod(target, _shared_mode(info.st_mode, stat.S_ISDIR(info.st_mode)))
    if times == "keep-times":  # children first: writing into a folder changes its time
        for path in reversed(entries):
            if not path.is_symlink() and path.exists():
                info = path.lstat()
                target = Path(dest, src.name, path.relative_to(src))
                os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    print(progress_line(done, total), file=out, flush=True)
    return done


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] not in TIMES:
        print(f"usage: {argv[0]} {'|'.join(TIMES)} SOURCE DEST", file=sys.stderr)
        return 2
    times, source, dest = argv[1:]
    os.umask(0o007)  # what the copy creates is the project's, not the world's
    print(f"staging {source} into {dest}", flush=True)
    os.makedirs(dest, exist_ok=True)  # a new subfolder; the project folder's setgid passes on
    rsync = shutil.which("rsync")
    if rsync:
        sys.stdout.flush()
        # The job becomes rsync (its exit code is the job's): argv, no shell.
        os.execv(rsync, rsync_argv(times, source, dest))  # noqa: S606
    python_copy(times, source, dest)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
