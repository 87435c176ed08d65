"""A card's starter notebook, copied into the user's folder the first time the card is opened.

The copy is the user's from then on: opening the card again opens their copy, never a fresh
one over their edits. The file appears complete or not at all, and a second click racing the
first cannot replace it: the text goes to a temporary file, which is then hard-linked to the
final name (link fails if that name exists, whoever made it) and removed. On a filesystem
without hard links the final name is created with O_EXCL and written directly.
"""

from __future__ import annotations

import errno
import os
import secrets
from contextlib import suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from aifactory_lab.cards import Card

FOLDER = "AI Factory"  # under the server's contents root


@dataclass(frozen=True)
class Opened:
    """Where the card's notebook is, relative to the contents root, and whether it was made now."""

    path: str
    created: bool


def starter_text(card: Card) -> bytes:
    """The shipped starter notebook of `card` (package data, also in an editable install)."""
    return resources.files("aifactory_lab").joinpath("starters", card.starter).read_bytes()


def open_starter(root: Path, card: Card, text: bytes | None = None) -> Opened:
    """Copy `card`'s starter to `<root>/AI Factory/<id>.ipynb` unless that name exists."""
    relative = f"{FOLDER}/{card.starter}"
    folder = root / FOLDER
    target = folder / card.starter
    if os.path.lexists(target):
        return Opened(relative, created=False)
    folder.mkdir(exist_ok=True)
    data = starter_text(card) if text is None else text
    temporary = folder / f".{card.id}.{secrets.token_hex(8)}.tmp"
    try:
        _write_new(temporary, data)
        os.link(temporary, target, follow_symlinks=False)
    except FileExistsError:
        return Opened(relative, created=False)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        try:
            _write_new(target, data)
        except FileExistsError:
            return Opened(relative, created=False)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
    return Opened(relative, created=True)


_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)


def _write_new(path: Path, data: bytes) -> None:
    """Write a file that must not exist yet (O_EXCL: never through a name someone else made),
    0o666 less the umask, as an editor would create it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
