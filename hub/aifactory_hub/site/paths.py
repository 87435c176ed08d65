"""Where the factory's shipped data lives: the staff console's dashboards, and the notebooks
(starter notebooks at the top, one folder of workshop materials each).

A folder is found in this order, the first that applies wins:

1. the site file's `[paths]` table: a centre that keeps its own dashboards or materials names an
   absolute folder. Processes that read no site file (the console runs as an unprivileged user,
   a session as its participant) get it from the hub in $AIFACTORY_DASHBOARDS and
   $AIFACTORY_NOTEBOOKS (`environment`);
2. the development checkout the package is imported from (`pip install -e .`, as
   hub/bin/aifactory installs it): its top-level dashboards/ and notebooks/, so an edit shows at
   once. A checkout is recognised explicitly: the package folder is `<root>/hub/aifactory_hub`
   and `<root>/pyproject.toml` names this distribution;
3. the installed distribution: the wheel carries both folders as data files, which pip puts in
   `<prefix>/share/aifactory-hub/`, and the distribution's own file list (RECORD) says where that
   prefix is, whatever the install scheme (a venv, `--user`, the system).

Why data files, as voila keeps its templates in `share/jupyter/voila`, and not package data:
the design card fixes dashboards/ and notebooks/ at the top of the repository, outside the import
package, and setuptools takes package data only from inside a package's folder. Mapping the two
folders into the package would mean listing every subpackage by hand in pyproject.toml
(`packages` is either found or listed, not both) or keeping symlinks in the tree, and an
editable install would then need a finder for them. Data files keep the folders where they are,
the checkout serves them as they are edited, and the wheel ships them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path, PurePosixPath

from aifactory_hub.site.schema import PathSettings

DISTRIBUTION = "aifactory-hub"
SHARE = ("share", "aifactory-hub")  # under the install prefix; pyproject.toml's data-files
DASHBOARDS_ENV = "AIFACTORY_DASHBOARDS"
NOTEBOOKS_ENV = "AIFACTORY_NOTEBOOKS"
_PACKAGE = Path(__file__).resolve().parents[1]  # .../aifactory_hub, this module's package


class MissingData(FileNotFoundError):
    """Neither the site file, a development checkout nor the installed distribution gives the
    folder (e.g. the package was copied without its data files)."""


def checkout(package: Path = _PACKAGE) -> Path | None:
    """The development checkout `package` is imported from, or None for an installed package.

    Only one place is looked at, two folders above the package, and it counts only if its
    pyproject.toml names this distribution: an installed package's parent folders are never
    taken for a checkout."""
    root = package.parents[1]
    if package != root / "hub" / package.name:
        return None
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    name = project.get("project", {}).get("name")
    return root if name == DISTRIBUTION else None


def installed_share(distribution: str | metadata.Distribution = DISTRIBUTION) -> Path | None:
    """`<prefix>/share/aifactory-hub` of the installed distribution (by name, or one already
    found), from its RECORD, or None when it is not installed or has no data files there."""
    if isinstance(distribution, metadata.Distribution):
        dist = distribution
    else:
        try:
            dist = metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            return None
    for file in dist.files or ():
        parts = file.parts
        for i in range(len(parts) - 1):
            if parts[i : i + 2] == SHARE:
                return Path(dist.locate_file(PurePosixPath(*parts[: i + 2]))).resolve()
    return None


def _folder(name: str, override: str, env: str, environ: Mapping[str, str]) -> Path:
    chosen = override or environ.get(env, "")
    if chosen:
        return Path(chosen)
    root = checkout()
    if root is not None and (root / name).is_dir():
        return root / name
    share = installed_share()
    if share is not None and (share / name).is_dir():
        return share / name
    raise MissingData(
        f"no {name} folder: not in a development checkout, and {DISTRIBUTION} is installed "
        f"without its data files ({'/'.join(SHARE)}/{name}); set [paths] {name} in the site file"
    )


def dashboards(
    settings: PathSettings | None = None, environ: Mapping[str, str] = os.environ
) -> Path:
    """The folder of the console's dashboards (one notebook each)."""
    return _folder("dashboards", settings.dashboards if settings else "", DASHBOARDS_ENV, environ)


def notebooks(
    settings: PathSettings | None = None, environ: Mapping[str, str] = os.environ
) -> Path:
    """The folder of starter notebooks and, one folder each, workshop materials."""
    return _folder("notebooks", settings.notebooks if settings else "", NOTEBOOKS_ENV, environ)


def environment(settings: PathSettings) -> dict[str, str]:
    """What the hub passes to processes that read no site file: only the folders the site file
    names. The others each find for themselves, since a session's environment on a compute node
    may be installed elsewhere than the hub's."""
    env = {}
    if settings.dashboards:
        env[DASHBOARDS_ENV] = settings.dashboards
    if settings.notebooks:
        env[NOTEBOOKS_ENV] = settings.notebooks
    return env
