"""Run a hub-managed service so that it ends with the hub.

JupyterHub starts managed services in their own session, so a hub that is SIGKILLed (or
crashes) leaves them running: the restarted hub then starts a second copy, which cannot bind
the port and is restarted for ever, while the orphan keeps serving. Every service the hub
starts for the factory therefore runs as
`python -m aifactory_hub.hubside.hubchild MODULE ARGS...`: a
daemon thread notices when the parent process is gone and ends the service with SIGTERM.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time


def exit_with_parent(every: float = 1.0) -> threading.Thread:
    """Send this process SIGTERM as soon as its parent has exited (it is re-parented)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="exit-with-hub", daemon=True)
    thread.start()
    return thread


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m aifactory_hub.hubside.hubchild MODULE [ARGS...]")
    exit_with_parent()
    sys.argv = argv
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
