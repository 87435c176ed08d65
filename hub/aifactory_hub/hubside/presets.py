"""Spawn by URL and saved presets: a link that fills in (or starts) a session, and the named
choices a user keeps.

A link is `/hub/spawn?project=..&partition=..&environment=..&cpus=..` (JupyterHub also accepts
each name with an `opt-` prefix, which the links we make use). The values go through the same
validation as the form: a foreign project or an unknown environment is refused with HTTP 400
naming the field, and nothing is submitted. Without `autostart=1` the link only fills in the
form, so the user sees what they will get; `preset=<name>` starts from a saved preset (other
values in the link override it).

Presets live in the spawner's state (JupyterHub's database), as options already normalised by
`SessionRequest.to_options`; they are validated again whenever they are used, so a preset that
the site no longer allows is refused like any other request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from aifactory_hub.site.sessions import OptionError, form_to_options, spawn_query

MAX_PRESETS = 20
PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}$")
# Form fields that are not session options: what to save, what to forget.
SAVE_FIELD, FORGET_FIELD = "preset_name", "forget_preset"
# Query fields that are not session options.
AUTOSTART, PRESET = "autostart", "preset"


class Prefill(Exception):
    """Raised by options_from_query to show the form filled in instead of spawning.

    JupyterHub then renders the options form; with both messages None it shows no error."""

    jupyterhub_message = None
    jupyterhub_html_message = None


class QuietPrefill(logging.Filter):
    """Drops JupyterHub's "Failed to spawn ... with query arguments" record (with its
    traceback) when the 'failure' was a link that only fills in the form."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, Prefill)


def check_name(name: str) -> str:
    name = name.strip()
    if not PRESET_NAME.match(name):
        raise OptionError(
            SAVE_FIELD, "a preset name is 1-40 letters, digits, spaces, '.', '_' or '-'"
        )
    return name


def split_form(formdata: Mapping[str, Sequence[str]]) -> tuple[dict[str, str], str, list[str]]:
    """(session options, name to save under or "", names to forget) from the spawn form."""
    data = dict(formdata)
    forget = [str(v) for v in data.pop(FORGET_FIELD, [])]
    save = data.pop(SAVE_FIELD, [""])
    if len(save) != 1:
        raise OptionError(SAVE_FIELD, "expected exactly one value")
    name = check_name(save[0]) if save[0].strip() else ""
    return form_to_options(data), name, forget


def updated(
    presets: Mapping[str, dict[str, Any]], save: str, options: dict[str, Any], forget: list[str]
) -> dict[str, dict[str, Any]]:
    """The presets after a Start: `forget` removed, `options` saved as `save` (if given)."""
    result = {k: v for k, v in presets.items() if k not in forget}
    if save:
        if save not in result and len(result) >= MAX_PRESETS:
            raise OptionError(SAVE_FIELD, f"at most {MAX_PRESETS} presets: forget one first")
        result[save] = dict(options)
    return result


def query_options(
    query: Mapping[str, Sequence[str]], presets: Mapping[str, dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """(raw session options, start at once?) from a spawn link's query."""
    data = dict(query)
    autostart = data.pop(AUTOSTART, ["0"])
    if autostart not in (["0"], ["1"]):
        raise OptionError(AUTOSTART, "must be 1 (start now) or 0 (fill in the form)")
    preset = data.pop(PRESET, None)
    raw: dict[str, Any] = {}
    if preset is not None:
        if len(preset) != 1 or preset[0] not in presets:
            shown = preset[0][:40] if len(preset) == 1 else "?"
            known = ", ".join(presets) or "none saved"
            raise OptionError(PRESET, f"no preset {shown!r} (yours: {known})")
        raw.update(presets[preset[0]])
    raw.update(form_to_options(data))
    return raw, autostart == ["1"]


def link(options: Mapping[str, Any], *, autostart: bool = False) -> str:
    """The query string (with '?') of a spawn link for `options`."""
    start = [f"opt-{AUTOSTART}=1"] if autostart else []
    return "?" + "&".join(filter(None, [spawn_query(options, prefix="opt-"), *start]))


def preset_link(name: str, *, autostart: bool = False) -> str:
    """The query string (with '?') of a link that fills in (or starts) preset `name`."""
    pairs = [(f"opt-{PRESET}", name)] + ([(f"opt-{AUTOSTART}", "1")] if autostart else [])
    return "?" + urlencode(pairs)
