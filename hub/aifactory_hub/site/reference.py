"""The site file's reference, generated from its schema: one Markdown table per TOML table,
each key with its type and bounds, default and description, as `schema` declares them.

    python -m aifactory_hub.site.reference                    # print it
    python -m aifactory_hub.site.reference --readme README.md # replace the README's copy

The README holds the output between two marker comments; tests/unit/test_readme.py fails when
they differ, so a field is described once, in the schema, and nowhere by hand.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from aifactory_hub.site.names import SLURM_NAME_PATTERN, USERNAME_PATTERN
from aifactory_hub.site.schema import ABSOLUTE_PATTERN, URL_PATTERN, Site

START = "<!-- site-reference:start -->"
END = "<!-- site-reference:end -->"
COMMAND = "python -m aifactory_hub.site.reference --readme README.md"

# Patterns said in words; any other is shown as the regular expression itself.
PATTERNS = {
    USERNAME_PATTERN: "a user name",
    SLURM_NAME_PATTERN: "a Slurm name",
    URL_PATTERN: "an http(s) URL without a path",
    ABSOLUTE_PATTERN: "an absolute path, or empty",
    r"^/": "an absolute path",
    r"^https://": "an https URL",
    r"^https?://": "an http(s) URL",
}
_SCALARS = {bool: "true/false", int: "integer", float: "number", str: "text"}
_ONE = {"characters": "character", "entries": "entry"}


@dataclass(frozen=True)
class Table:
    """One TOML table of the site file: its header, what it is, and its keys."""

    header: str  # `[hub]`, `[auth.oauth]`, `[[partitions]]`
    description: str
    how: str  # required / optional / how many
    model: type[BaseModel]
    left_out: BaseModel | None  # what the table is when the file leaves it out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """(the model a field holds, "" for one, "list" for a list of them, "dict" for a table
    of them by name), or (None, "")."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        model, _ = _model_in(args[0])
        return model, "list" if model is not None else ""
    if origin is dict and len(args) == 2:
        model, _ = _model_in(args[1])
        return model, "dict" if model is not None else ""
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            model, many = _model_in(arg)
            if model is not None:
                return model, many
    return None, ""


def _constraints(metadata: list[Any], unit: str = "characters") -> list[str]:
    """Bounds and pattern in words; `unit` is what a length counts (characters, entries)."""
    words: list[str] = []
    low = next((f"at least {_toml(m.ge)}" for m in metadata if isinstance(m, Ge)), "")
    low = low or next((f"above {_toml(m.gt)}" for m in metadata if isinstance(m, Gt)), "")
    high = next((f"at most {_toml(m.le)}" for m in metadata if isinstance(m, Le)), "")
    high = high or next((f"below {_toml(m.lt)}" for m in metadata if isinstance(m, Lt)), "")
    if low.startswith("at least") and high.startswith("at most"):
        words.append(f"{low.removeprefix('at least ')} to {high.removeprefix('at most ')}")
    else:
        words += [w for w in (low, high) if w]
    shortest = next((m.min_length for m in metadata if isinstance(m, MinLen)), None)
    longest = next((m.max_length for m in metadata if isinstance(m, MaxLen)), None)
    if shortest is not None and longest is not None:
        words.append(f"{shortest} to {longest} {unit}")
    elif shortest is not None:
        words.append(f"at least {shortest} {_ONE[unit] if shortest == 1 else unit}")
    elif longest is not None:
        words.append(f"at most {longest} {unit}")
    for m in metadata:
        pattern = getattr(m, "pattern", None)
        if pattern:
            words.append(PATTERNS.get(pattern, f"matching `{pattern}`"))
    return words


def _kind(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{_toml(m.value)}`" for m in annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{_toml(a)}`" for a in args)
    if origin is typing.Annotated:  # a named grammar, e.g. Username
        infos = [info for info in args[1:] if isinstance(info, FieldInfo)]
        return ", ".join(_words(_kind(args[0]), [m for i in infos for m in i.metadata]))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _kind(list[args[0]])  # a TOML array either way
    if origin is dict and len(args) == 2:
        return f"table of {_kind(args[1]).removeprefix('one of ')} by {_kind(args[0])}"
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return " or ".join(_kind(a) for a in rest) + " (or left out)"
    if origin is list and args:
        inner = _kind(args[0])
        if inner.startswith(("a ", "an ")):  # "a user name" -> "list of user names"
            return f"list of {inner.split(' ', 1)[1]}s"
        return f"list of {inner.removeprefix('one of ')}"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _words(kind: str, metadata: list[Any]) -> list[str]:
    unit = "entries" if kind.startswith("list") else "characters"
    words = [kind, *_constraints(metadata, unit)]
    # A named grammar says the kind itself: "a Slurm name", not "text, a Slurm name".
    if kind == "text" and any(w.startswith(("a ", "an ")) for w in words[1:]):
        words = words[1:]
    return words


def _value(info: FieldInfo) -> str:
    return ", ".join(_words(_kind(info.annotation), info.metadata))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if value is None:
        return "(none)"
    return json.dumps(value, ensure_ascii=False)


def _default(info: FieldInfo) -> str:
    return "required" if info.is_required() else f"`{_toml(info.get_default())}`"


def tables(model: type[BaseModel] = Site, prefix: str = "") -> Iterator[Table]:
    """Every table of `model` (the whole site file by default), depth first, in field order."""
    for name, info in model.model_fields.items():
        sub, many = _model_in(info.annotation)
        if sub is None:
            continue
        path = f"{prefix}{name}"
        if many == "dict":
            header = f"`[{path}.<name>]`"
            default = None if info.is_required() else info.get_default()
            names = ", ".join(f"`{k}`" for k in default or {})
            how = f"any number; left out: {names}" if names else "any number"
            left_out = None
        elif many:
            header = f"`[[{path}]]`"
            shortest = next((m.min_length for m in info.metadata if isinstance(m, MinLen)), 0)
            how = f"at least {shortest}" if shortest else "any number"
            left_out = None
        else:
            header = f"`[{path}]`"
            default = None if info.is_required() else info.get_default()
            how = "required" if info.is_required() else "optional"
            left_out = default if isinstance(default, BaseModel) else None
        yield Table(header, info.description or "", how, sub, left_out)
        yield from tables(sub, f"{path}.")


def _rows(table: Table) -> list[str]:
    rows = ["| key | value | default | what it says |", "|---|---|---|---|"]
    for name, info in table.model.model_fields.items():
        if _model_in(info.annotation)[0] is not None:
            continue  # a table of its own
        cells = [f"`{name}`", _value(info), _default(info), info.description or ""]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows


def _left_out(table: Table) -> str:
    """What a table left out of the file is, when that is not just each key's default."""
    given = table.left_out
    if given is None or not any(f.is_required() for f in table.model.model_fields.values()):
        return ""
    keys = ", ".join(f"`{k} = {_toml(getattr(given, k))}`" for k in table.model.model_fields)
    return f" Left out, it is {keys}; written, it needs every key."


def markdown(model: type[BaseModel] = Site) -> str:
    """The reference as Markdown, to stand between START and END in the README."""
    lines = [
        f"<!-- generated by `{COMMAND}` from hub/aifactory_hub/site/schema.py; "
        "edit the descriptions there, not here -->",
        "",
        f"A *user name* matches `{USERNAME_PATTERN}` and a *Slurm name* (account, partition, "
        f"cluster) `{SLURM_NAME_PATTERN}` (hub/aifactory_hub/site/names.py). Unknown keys are "
        "refused.",
    ]
    for table in tables(model):
        if not any(_model_in(f.annotation)[0] is None for f in table.model.model_fields.values()):
            continue  # only tables of tables (none yet): their own tables follow
        lines += ["", f"**{table.header}** ({table.how}): {table.description}.{_left_out(table)}"]
        lines += ["", *_rows(table)]
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str) -> str:
    """`text` with what stands between START and END replaced by `block`."""
    head, start, rest = text.partition(START)
    _old, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"no {START} ... {END} block")
    return f"{head}{START}\n{block}{END}{tail}"


def block_of(text: str) -> str:
    """What stands between START and END in `text` (the README's copy of the reference)."""
    _head, start, rest = text.partition(START)
    block, end, _tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"no {START} ... {END} block")
    return block.removeprefix("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aifactory_hub.site.reference")
    parser.add_argument("--readme", type=Path, help="rewrite this file's reference block")
    args = parser.parse_args(argv)
    text = markdown()
    if args.readme is None:
        sys.stdout.write(text)
        return 0
    args.readme.write_text(replace_block(args.readme.read_text(encoding="utf-8"), text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
