"""[data]: each project's folders (a POSIX group, a project folder and a scratch folder),
their measured size, the scratch purge, the shared catalogue and staging copies.

Where a project's data lives is one rule, here: `<project_root>/<account>` and
`<scratch_root>/<account>` (the site's `[storage]`), group-owned by the project's POSIX group,
which has the account's name.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from aifactory_hub.site.storage import StorageSettings

FOLDERS = ("project", "scratch")


def folder(storage: StorageSettings, which: str, account: str) -> PurePosixPath:
    """The project (`which="project"`) or scratch folder of `account`."""
    if which not in FOLDERS:
        raise ValueError(f"folder: {which!r} is not one of {FOLDERS}")
    root = storage.project_root if which == "project" else storage.scratch_root
    return PurePosixPath(root) / account


def env_name(which: str) -> str:
    """The session variable naming a folder: $PROJECT_DIR, $SCRATCH_DIR."""
    return f"{which.upper()}_DIR"


def project_dir(storage: StorageSettings, account: str) -> PurePosixPath:
    return folder(storage, "project", account)


def scratch_dir(storage: StorageSettings, account: str) -> PurePosixPath:
    return folder(storage, "scratch", account)
