"""Slurm: the one runner (`runner`) and, beside it, Slurm's text: argv builders and parsers.

Only `runner` starts processes; everything else in this package is pure.
"""

from aifactory_hub.slurm.runner import (
    DEFAULT_TIMEOUT,
    CommandResult,
    ControllerUnreachable,
    RunAs,
    SlurmError,
    arun,
    classify,
    parse_oneliner,
    run,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "CommandResult",
    "ControllerUnreachable",
    "RunAs",
    "SlurmError",
    "arun",
    "classify",
    "parse_oneliner",
    "run",
]
