"""Every character the pages draw has a font on this machine, installed by the project's own
install step; and matplotlib finds its default font without falling back.

This reads the machine's fontconfig (`fc-list`) and dpkg: it checks what `hub/bin/aifactory
install` left on this machine, not pure code. It sits with the unit tests because it is fast
and needs no Slurm or hub; without fontconfig it fails and says why.

The characters are collected from what a page shows: the widgets' source and guides, the hub's
page templates, the staff dashboards and the researchers' notebooks. ASCII is left out (every
font has it); so is what a page never draws as text (a notebook's base64 output)."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
import warnings
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOWN = (
    ROOT / "extensions" / "aifactory_widgets",
    ROOT / "hub" / "aifactory_hub" / "hubside" / "templates",
    ROOT / "dashboards",
    ROOT / "notebooks",
)
TEXT = {".py", ".md", ".html", ".ipynb", ".css", ".js", ".txt", ".json"}
_BASE64 = re.compile(r"[A-Za-z0-9+/=]{200,}")


def shown_characters() -> dict[str, Path]:
    """Each non-ASCII character in the shown sources, with one file it is in."""
    found: dict[str, Path] = {}
    for folder in SHOWN:
        for path in sorted(folder.rglob("*")):
            if path.suffix not in TEXT or not path.is_file():
                continue
            text = _BASE64.sub("", path.read_text(errors="replace"))
            for char in text:
                if ord(char) > 127 and unicodedata.category(char)[0] != "C":
                    found.setdefault(char, path.relative_to(ROOT))
    return found


@cache
def install_step_packages() -> frozenset[str]:
    """The Debian packages `hub/bin/aifactory install` installs (its APT_PACKAGES array)."""
    script = (ROOT / "hub" / "bin" / "aifactory").read_text()
    match = re.search(r"^APT_PACKAGES=\(([^)]*)\)", script, re.MULTILINE)
    assert match, "hub/bin/aifactory has no APT_PACKAGES=(...) array"
    return frozenset(match.group(1).split())


def fc_list(*args: str) -> list[str]:
    if shutil.which("fc-list") is None:
        pytest.fail("fontconfig's fc-list is missing: run `hub/bin/aifactory install`")
    out = subprocess.run(["fc-list", *args], capture_output=True, text=True, check=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


@cache
def package_of(font_file: str) -> str:
    """The Debian package that installed a font file ("" if none did)."""
    out = subprocess.run(["dpkg-query", "-S", font_file], capture_output=True, text=True)
    return out.stdout.split(":", 1)[0] if out.returncode == 0 else ""


def test_the_pages_use_characters_beyond_ascii():
    # the walk finds what it is for: the workshop's raised hand and the typographic ellipsis
    assert {"\u270b", "\u2026"} <= set(shown_characters())


def test_every_character_the_pages_show_has_a_font_from_the_install_step():
    packages = install_step_packages()
    uncovered = []
    for char, where in sorted(shown_characters().items()):
        files = fc_list(f":charset={ord(char):x}", "file")
        owners = {package_of(f.rstrip(":")) for f in files}
        if not owners & packages:
            name = unicodedata.name(char, "?")
            uncovered.append(f"U+{ord(char):04X} {name} ({where}): fonts {sorted(owners)}")
    assert uncovered == [], "no font from APT_PACKAGES draws:\n" + "\n".join(uncovered)


def test_matplotlib_finds_its_default_font_without_falling_back():
    import matplotlib
    from matplotlib import font_manager

    assert matplotlib.rcParams["font.sans-serif"][0] == "DejaVu Sans"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "findfont: Font family ... not found" is a warning
        path = font_manager.findfont("DejaVu Sans", fallback_to_default=False)
    assert Path(path).name == "DejaVuSans.ttf"


def test_the_quota_plot_draws_without_a_font_warning():
    from aifactory_widgets.usage.quota import plot_png
    from tests.unit.test_widgets_quota import PROJECT

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # findfont fallbacks and "Glyph ... missing" alike
        png = plot_png(PROJECT)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
