"""Cancel a Dask cluster's worker jobs once the kernel that owns them is gone.

`python -m aifactory_widgets.jobs.dask.reaper USER NAME` waits on its stdin, a pipe whose other end
only the kernel holds. End-of-file means the kernel died, was restarted or shut down, or the
cluster was stopped: then it cancels USER's jobs named NAME (pending ones too, which no
scheduler can reach) and exits. SIGTERM, which Slurm sends when the session's job ends, does
the same.
"""

from __future__ import annotations

import signal
import sys

from aifactory_widgets.jobs.commands import SlurmError, SlurmRunner, cancel_named


def main(argv: list[str]) -> int:
    user, name = argv
    if not name.startswith("aif-dask-"):
        return 2  # only ever a launcher's cluster, never a user's other jobs

    def on_term(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        try:
            cancel_named(SlurmRunner(), user, name)
        except SlurmError:
            pass  # nothing left to cancel, or the controller is away: death-timeout remains
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
