"""Slurm's node and controller commands and what they print: `scontrol show node`, `scontrol
ping`, `scontrol update nodename=... state=resume`."""

from __future__ import annotations

# A node in one of these (base) states can run jobs, unless a flag says it must not.
_USABLE = frozenset({"IDLE", "MIXED", "ALLOCATED", "COMPLETING"})
# Taken out of service, by Slurm or an admin: `resume_node_argv` puts it back.
_OUT_OF_SERVICE = frozenset({"DOWN", "DRAIN", "DRAINED", "DRAINING", "FAIL"})


def show_nodes_argv(node: str | None = None) -> list[str]:
    """Every node (or the one called `node`), one line each (see `parse_oneliner`)."""
    return ["scontrol", "--oneliner", "show", "node", *([node] if node else [])]


def parse_oneliner(line: str) -> dict[str, str]:
    """Key=Value pairs of one `scontrol --oneliner show node` line; Reason=..., which may hold
    spaces, comes last there (not in job lines, where other fields follow it)."""
    head, sep, reason = line.strip().partition(" Reason=")
    fields = dict(w.split("=", 1) for w in head.split() if "=" in w)
    if sep:
        fields["Reason"] = reason.split(" [")[0]
    return fields


def _words(state: str) -> set[str]:
    # "IDLE*" and "IDLE+NOT_RESPONDING" both say slurmd does not answer.
    return set(state.replace("*", "+NOT_RESPONDING").split("+"))


def node_usable(state: str) -> bool:
    """Whether a node in `state` (scontrol's State=, e.g. "MIXED+DRAIN", "IDLE*") can run
    jobs: a usable base state, not out of service (down, drained or draining, failing) and
    its slurmd answering."""
    words = _words(state)
    return bool(_USABLE & words) and not _OUT_OF_SERVICE & words and "NOT_RESPONDING" not in words


def node_out_of_service(state: str) -> bool:
    """Whether a node in `state` is down, drained or failing: `resume_node_argv` may bring it
    back (a node that only does not respond needs its slurmd instead)."""
    return bool(_OUT_OF_SERVICE & _words(state))


def ping_argv() -> list[str]:
    """Ask whether slurmctld answers."""
    return ["scontrol", "ping"]


def controller_answers(stdout: str) -> bool:
    """Whether `ping_argv`'s output says the controller is up ("Slurmctld(primary) at vm is UP")."""
    return " is UP" in stdout


def resume_node_argv(node: str) -> list[str]:
    """Put a down or drained node back into service."""
    return ["scontrol", "update", f"nodename={node}", "state=resume"]
