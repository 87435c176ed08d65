"""Run a hub-managed service so that it ends with the hub.

JupyterHub starts managed services in their own session, so a hub that is SIGKILLed (or
crashes) leaves them running: the restarted hub then starts a second copy, which cannot bind
the port and is restarted for ever, while the orphan keeps serving. Every service the hub
starts for the factory therefore runs as
`python -m aifactory_hub.hubside.hubchild --parent HUB_PID MODULE ARGS...`: a daemon thread
notices when the hub is no longer its parent and ends the service with SIGTERM.

The hub writes its own pid into the command. Reading `os.getppid()` at start instead would
race: a hub that died before the child got that far leaves it re-parented already, its
"parent" would be init, and the service would never exit.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time


def exit_with_parent(parent: int, every: float = 1.0) -> threading.Thread:
    """Send this process SIGTERM as soon as `parent` is no longer its parent (it has exited
    and this process was re-parented), including when that happened before this call."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="exit-with-hub", daemon=True)
    thread.start()
    return thread


USAGE = "usage: python -m aifactory_hub.hubside.hubchild --parent PID MODULE [ARGS...]"


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] != "--parent" or not argv[1].isdigit():
        raise SystemExit(USAGE)
    exit_with_parent(int(argv[1]))
    sys.argv = argv[2:]
    runpy.run_module(argv[2], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
