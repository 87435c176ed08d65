"""`python -m aifactory_hub.ops.localcluster start|stop|status [--site FILE]`.

Exit status: 0 when the command did what it says (for `status`: every daemon is up),
1 when a daemon is down or failed to start/stop, 2 for bad arguments (argparse).
"""

from __future__ import annotations

import argparse
import logging
import sys

from aifactory_hub.ops import localcluster
from aifactory_hub.site import SiteError, load_site
from aifactory_hub.slurm import SlurmError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aifactory_hub.ops.localcluster",
        description="Run the single-node Slurm cluster of the local AI factory.",
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--site", metavar="FILE", help="site file (default: $AIFACTORY_SITE "
                        "or the bundled demo site)")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        site = load_site(args.site)
        if args.command == "stop":
            print("\n".join(localcluster.stop()) or "nothing to stop: no daemon of ours runs")
            return 0
        if args.command == "start":
            states = localcluster.start(site)
        else:
            states = localcluster.status(site)
    except (SiteError, localcluster.LocalClusterError, SlurmError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for state in states:
        print(state.line())
    return 0 if all(s.up for s in states) else 1


if __name__ == "__main__":
    sys.exit(main())
