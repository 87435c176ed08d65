"""What the hub home tells a researcher whose running session ended without them stopping it.

Slurm ends sessions for reasons a person must hear in words: the node failed, the kernel used
more memory than the session asked for, the wall time ran out. The spawner keeps the notice in
its state (so a restarted hub still shows it) until the next start; templates/home.html shows
it above the Start button.
"""

from __future__ import annotations

from aifactory_hub.site.sessions import SessionRequest
from aifactory_hub.slurm import states


def ended_notice(job_id: str, state: str, node: str, request: SessionRequest | None) -> str:
    """One or two sentences: what ended the session (job `job_id` on `node`, which ended in
    Slurm's `state`), and what to do now."""
    word = states.job_state(state) or "gone"
    where = _where(job_id, node)
    if word == "NODE_FAIL":
        return (
            f"Your session ({where}) ended because its node failed. Start again: "
            "Slurm gives you a node that is up."
        )
    if word == "OUT_OF_MEMORY":
        return (
            f"Your session ({where}) was stopped: it used more memory than "
            f"{_asked(request)}. Start again with more memory, or load less data at once."
        )
    if word == "TIMEOUT":
        hours = f" of {request.walltime_minutes / 60:g} h" if request else ""
        return (
            f"Your session ({where}) reached its wall time{hours} and was ended by Slurm. "
            "Start again to go on; save often when close to the end."
        )
    if word == "PREEMPTED":
        return f"Your session ({where}) was preempted by Slurm for another job. Start again."
    return f"Your session ({where}) ended: Slurm says {word}. You can start again now."


def memory_notice(job_id: str, node: str, request: SessionRequest | None) -> str:
    """What to say when a process of a session the user stopped was killed by the job's
    memory limit while it ran (a notebook kernel, usually: JupyterLab said "kernel died")."""
    return (
        f"In your last session ({_where(job_id, node)}) a process used more memory than "
        f"{_asked(request)} and was "
        "killed (Slurm: OUT_OF_MEMORY); a notebook kernel that died was this. Start again "
        "with more memory, or load less data at once."
    )


def _where(job_id: str, node: str) -> str:
    return f"Slurm job {job_id}" + (f" on node {node}" if node else "")


def _asked(request: SessionRequest | None) -> str:
    return f"the {request.memory_gb} GB it asked for" if request else "what it asked for"
