"""Copy a workshop's materials into the participant's home at session start, never
overwriting a file the participant already has (their edits survive every restart).

Runs inside the session job, as the participant: `python -m aifactory_hub.workshops.materials
<folder>`; the folder name was validated when the workshop was made and is checked again here.
The folder is one of `aifactory_hub.site.paths.notebooks` (a site file's [paths] notebooks
reach the session in its environment).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from aifactory_hub.site import paths
from aifactory_hub.workshops.plan import _FOLDER


def copy_missing(source: Path, target: Path) -> list[Path]:
    """Copy every file of `source` that `target` lacks; return the files copied."""
    copied = []
    for path in sorted(source.rglob("*")):
        if path.is_symlink() or ".ipynb_checkpoints" in path.parts:
            continue
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        elif not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            copied.append(dest)
    return copied


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not re.match(_FOLDER, argv[0]):
        print("usage: materials <folder under notebooks/>", file=sys.stderr)
        return 2
    try:
        source = paths.notebooks() / argv[0]
    except paths.MissingData as exc:
        print(f"aifactory: no workshop materials: {exc}", file=sys.stderr)
        return 0  # a session starts without materials rather than not at all
    if not source.is_dir():
        print(f"aifactory: no workshop materials {source}", file=sys.stderr)
        return 0  # a session starts without materials rather than not at all
    copied = copy_missing(source, Path.home() / argv[0])
    print(f"aifactory: workshop materials: {len(copied)} new file(s) in ~/{argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
