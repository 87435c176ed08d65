"""What a batch script's #SBATCH lines can carry.

sbatch reads an #SBATCH line as options, not as shell words: it does not unquote, and it ends
an option at white space. A value that needs quoting therefore cannot be written there at all,
and is refused before a script is rendered (the session script, the training and sweep
scripts, a Dask cluster's workers).
"""

from __future__ import annotations

# sbatch takes these literally, where a reader (or a shell) expects quoting or expansion: a path
# holding one is refused rather than written to mean something else.
_UNSAFE = "\\\"'$`;"


def sbatch_path(path: str) -> str:
    """`path` if an #SBATCH line can carry it (--chdir, --output): absolute, no white space and
    no quote, backslash, '$', '`' or ';'; else ValueError."""
    if not path.startswith("/") or any(c.isspace() or c in _UNSAFE for c in path):
        raise ValueError(f"unsupported home directory path: {path!r}")
    return path
