"""The README says what the code is: its site-file reference is the generator's output, every
site-file field has a description to generate it from, and its layout tree ("How it is built")
names folders and modules that exist, every package folder among them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aifactory_hub.site import Site, reference

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LAYOUT_START, LAYOUT_END = "<!-- layout:start -->", "<!-- layout:end -->"
# The layout tree: an entry is a path, indented two spaces per level below the folder it is
# in, then two or more spaces and what it is; a description wrapped onto the next lines is
# indented 8 spaces or more. A folder ends with "/".
ENTRY = re.compile(r"^(?P<indent>(?:  ){0,3})(?P<path>\S+)(?: {2,}\S.*)?$")
PACKAGE_ROOTS = ("hub/aifactory_hub", "extensions/aifactory_widgets", "extensions/aifactory_lab")


def test_the_site_file_reference_is_generated_from_the_schema():
    in_readme = reference.block_of(README.read_text(encoding="utf-8"))
    assert in_readme == reference.markdown(), (
        f"README.md's site-file reference differs from the schema's: run `{reference.COMMAND}`"
    )


def test_every_site_file_field_has_a_description():
    undescribed = []
    for table in reference.tables(Site):
        if not table.description:
            undescribed.append(table.header)
        undescribed += [
            f"{table.header}.{name}"
            for name, info in table.model.model_fields.items()
            if not info.description
        ]
    assert undescribed == []


def test_a_reference_block_is_replaced_whole():
    text = f"intro\n{reference.START}\nold table\n{reference.END}\noutro\n"
    new = reference.replace_block(text, "new table\n")
    assert new == f"intro\n{reference.START}\nnew table\n{reference.END}\noutro\n"
    assert reference.block_of(new) == "new table\n"
    with pytest.raises(ValueError, match="site-reference:start"):
        reference.replace_block("no markers here", "x")


def layout_entries(text: str) -> list[tuple[str, bool]]:
    """(path relative to the repository, is a folder) of every entry of the layout block."""
    _head, start, rest = text.partition(LAYOUT_START)
    block, end, _tail = rest.partition(LAYOUT_END)
    assert start and end, f"README.md has no {LAYOUT_START} ... {LAYOUT_END} block"
    lines = [line for line in block.strip().splitlines() if not line.startswith("```")]
    entries: list[tuple[str, bool]] = []
    parents: list[str] = []  # the folder entry at each depth
    for line in lines:
        if not line.strip() or line.startswith(" " * 8):
            continue  # a wrapped description
        match = ENTRY.match(line)
        assert match, f"not a layout entry: {line!r}"
        depth = len(match["indent"]) // 2
        assert depth <= len(parents), f"indented under no folder: {line!r}"
        del parents[depth:]
        name = match["path"]
        path = "/".join([*parents[-1:], name.rstrip("/")])
        entries.append((path, name.endswith("/")))
        if name.endswith("/"):
            parents.append(path)
        else:
            parents.append(f"{path} (a file)")  # what is indented under it is wrong
    return entries


def test_the_layout_tree_names_what_exists_and_every_package():
    entries = layout_entries(README.read_text(encoding="utf-8"))
    missing = [
        path + ("/" if folder else "")
        for path, folder in entries
        if not ((ROOT / path).is_dir() if folder else (ROOT / path).is_file())
    ]
    assert missing == [], "README.md's layout names what does not exist"
    listed = {path for path, folder in entries if folder}
    packages = sorted(
        str(init.parent.relative_to(ROOT))
        for top in PACKAGE_ROOTS
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    )
    assert [p + "/" for p in packages if p not in listed] == [], (
        "README.md's layout leaves out these package folders"
    )


def test_the_layout_reader_follows_folders(tmp_path: Path):
    text = (
        f"{LAYOUT_START}\n```\nhub/aifactory_hub/   the hub\n  site/              the site\n"
        "    paths.py         where data is,\n                     wrapped\n"
        "hub/bin/aifactory    bootstrap\n```\n"
        f"{LAYOUT_END}\n"
    )
    assert layout_entries(text) == [
        ("hub/aifactory_hub", True),
        ("hub/aifactory_hub/site", True),
        ("hub/aifactory_hub/site/paths.py", False),
        ("hub/bin/aifactory", False),
    ]
