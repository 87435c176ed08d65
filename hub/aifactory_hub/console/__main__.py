"""Run the staff console (started by JupyterHub as a managed service, as its own user)."""

from __future__ import annotations

import os

from aifactory_hub.console.app import ConsoleApp, console_config
from aifactory_hub.console.dashboards import DASHBOARDS_DIR


def main() -> None:
    app = ConsoleApp(config=console_config(dict(os.environ), DASHBOARDS_DIR))
    app.initialize([])
    app.start()


if __name__ == "__main__":
    main()
