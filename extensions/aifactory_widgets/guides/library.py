"""The centre's guides: Markdown files with front matter, site facts filled in, searchable.

A guide is `<slug>.md` in this package: YAML front matter (title, audience, level, tags,
summary) and a Markdown body in which `{{ gpu.name }}`-style placeholders stand for facts of
this centre. The facts come from the factory service's public site facts (`GET api/site`),
never from text typed into a guide, so a renamed partition or a new rate shows in every guide
at once. An unknown placeholder is an error (a guide must not show "{{ gpu.nmae }}" to a
researcher).

Rendering escapes raw HTML in the sources (mistune's `escape=True`) and keeps links to safe
schemes; code blocks are cut out so the browser can offer a copy button for each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import mistune
import yaml

# The guides are this package's data (pyproject.toml's package-data), installed beside it.
GUIDES_DIR = Path(str(resources.files(__package__)))
AUDIENCES = ("researcher", "staff", "trainer")
LEVELS = ("beginner", "intermediate", "advanced")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)\s*\}\}")
_FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_WORD = re.compile(r"[\w-]+", re.U)
_markdown = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])


class GuideError(ValueError):
    """A guide cannot be used; the message names the guide and what is wrong."""


@dataclass(frozen=True)
class Guide:
    slug: str
    title: str
    audience: tuple[str, ...]
    level: str
    tags: tuple[str, ...]
    summary: str
    source: str  # the Markdown body, placeholders not yet filled


@dataclass(frozen=True)
class Segment:
    """A piece of a rendered guide: prose (HTML) or a code block (its text, to copy)."""

    kind: str  # "html" or "code"
    text: str
    language: str = ""


def parse_guide(slug: str, text: str) -> Guide:
    """A guide from its file text: front matter between '---' lines, then Markdown."""
    if not text.startswith("---\n"):
        raise GuideError(f"{slug}: no front matter (start the file with a '---' line)")
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise GuideError(f"{slug}: the front matter does not end with a '---' line")
    try:
        meta = yaml.safe_load(head) or {}
    except yaml.YAMLError as exc:
        raise GuideError(f"{slug}: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise GuideError(f"{slug}: front matter must be a mapping")
    missing = [k for k in ("title", "audience", "level", "tags") if not meta.get(k)]
    if missing:
        raise GuideError(f"{slug}: front matter lacks {', '.join(missing)}")
    audience = _words(meta["audience"])
    level = str(meta["level"])
    if unknown := [a for a in audience if a not in AUDIENCES]:
        raise GuideError(f"{slug}: audience {unknown} is not one of {AUDIENCES}")
    if level not in LEVELS:
        raise GuideError(f"{slug}: level {level!r} is not one of {LEVELS}")
    return Guide(
        slug=slug,
        title=str(meta["title"]),
        audience=audience,
        level=level,
        tags=_words(meta["tags"]),
        summary=str(meta.get("summary", "")),
        source=body.strip() + "\n",
    )


def _words(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


def load_guides(directory: Path = GUIDES_DIR) -> list[Guide]:
    """Every guide in `directory`, in title order."""
    guides = [parse_guide(p.stem, p.read_text(encoding="utf-8")) for p in directory.glob("*.md")]
    return sorted(guides, key=lambda g: g.title.casefold())


def fill(guide: Guide, facts: Mapping[str, Any], strict: bool = True) -> str:
    """The guide's Markdown with every placeholder replaced by the site's fact. Not `strict`
    (the facts could not be read): an unknown fact shows as `[?name]` instead of failing."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        node: Any = facts
        for part in name.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if not strict:
                    return f"[?{name}]"
                raise GuideError(f"{guide.slug}: unknown site fact {{{{ {name} }}}}")
            node = node[part]
        if isinstance(node, Mapping):
            raise GuideError(f"{guide.slug}: {{{{ {name} }}}} is not a single fact")
        return str(node)

    text = _PLACEHOLDER.sub(value, guide.source)
    if "{{" in text:
        line = text[: text.index("{{")].count("\n") + 1
        raise GuideError(f"{guide.slug}: a malformed placeholder on line {line}")
    return text


def to_html(markdown: str) -> str:
    """Markdown to HTML; raw HTML in the source comes out as text."""
    return str(_markdown(markdown))


def segments(markdown: str) -> list[Segment]:
    """Prose as HTML and each fenced code block on its own, in order."""
    parts: list[Segment] = []
    at = 0
    for match in _FENCE.finditer(markdown):
        if prose := markdown[at : match.start()].strip():
            parts.append(Segment("html", to_html(prose)))
        parts.append(Segment("code", match.group(2).rstrip("\n"), match.group(1)))
        at = match.end()
    if prose := markdown[at:].strip():
        parts.append(Segment("html", to_html(prose)))
    return parts


def search(
    guides: Iterable[tuple[Guide, str]],
    query: str = "",
    audience: str = "",
    level: str = "",
    tag: str = "",
) -> list[Guide]:
    """The guides (each with its filled text) matching every word of `query` in the title,
    tags, summary or body, and the filters; best first: title hits, then tag hits, then how
    often the words occur."""
    wanted = [w.casefold() for w in _WORD.findall(query)]
    found: list[tuple[tuple[int, int, int], Guide]] = []
    for guide, text in guides:
        if audience and audience not in guide.audience:
            continue
        if (level and guide.level != level) or (tag and tag not in guide.tags):
            continue
        haystack = " ".join([guide.title, " ".join(guide.tags), guide.summary, text]).casefold()
        if not all(w in haystack for w in wanted):
            continue
        title, tags = guide.title.casefold(), " ".join(guide.tags).casefold()
        rank = (
            -sum(w in title for w in wanted),
            -sum(w in tags for w in wanted),
            -sum(haystack.count(w) for w in wanted),
        )
        found.append((rank, guide))
    return [g for _, g in sorted(found, key=lambda item: (item[0], item[1].title.casefold()))]


def all_tags(guides: Sequence[Guide]) -> list[str]:
    return sorted({t for g in guides for t in g.tags})
