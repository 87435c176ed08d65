"""Run the staff console (started by JupyterHub as a managed service, as its own user)."""

from __future__ import annotations

import os
import sys

from aifactory_hub.console.app import ConsoleApp, console_config
from aifactory_hub.site import paths


def main() -> None:
    # The hub passes a site file's [paths] dashboards in the environment (the console reads no
    # site file); otherwise they are the checkout's or the installed package's.
    try:
        root = paths.dashboards()
    except paths.MissingData as exc:
        sys.exit(f"aifactory console: {exc}")
    if not root.is_dir():
        sys.exit(f"aifactory console: no dashboards folder {root}")
    app = ConsoleApp(config=console_config(dict(os.environ), root))
    app.initialize([])
    app.start()


if __name__ == "__main__":
    main()
