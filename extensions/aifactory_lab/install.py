"""Put the extension's Jupyter configuration under an install prefix: `python -m
aifactory_lab.install [PREFIX]` (default: this Python's, sys.prefix).

A wheel installs the same files as data files (pyproject.toml); an editable install
(`pip install -e`, as hub/bin/aifactory installs the factory) gets no data files, so the
install step runs this. The files, under `<prefix>/`:

- etc/jupyter/jupyter_server_config.d/aifactory_lab.json: enables the server extension;
- share/jupyter/lab/settings/overrides.d/aifactory_lab.json: JupyterLab's news and update
  check off (an overrides.d file, so a site's own overrides.json stays the site's).

A file already there with the same text is left alone; one with other text is replaced.
"""

from __future__ import annotations

import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

FILES = (
    "etc/jupyter/jupyter_server_config.d/aifactory_lab.json",
    "share/jupyter/lab/settings/overrides.d/aifactory_lab.json",
)


def shipped(name: str) -> Traversable:
    """The shipped file `name` (one of FILES), from the package's jupyter-config/."""
    return resources.files("aifactory_lab").joinpath("jupyter-config", *name.split("/"))


def install(prefix: Path) -> list[Path]:
    """Write FILES under `prefix`; the paths written (those that changed)."""
    written = []
    for name in FILES:
        text = shipped(name).read_bytes()
        target = prefix / name
        if target.is_file() and target.read_bytes() == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".json.partial")
        partial.write_bytes(text)
        partial.replace(target)  # a reader never sees half a file
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    prefix = Path(args[0]) if args else Path(sys.prefix)
    for path in install(prefix):
        print(f"aifactory_lab: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
