"""The guide browser: search and filter the centre's guides, read one with this centre's facts.

The facts come from the factory service (`GET api/site`, the session's own token). Guides are
the centre's own Markdown, rendered with raw HTML escaped; each code block gets a Copy button
(plain JavaScript in the widget's HTML: ipywidgets' HTML view sets innerHTML, so the button
works in JupyterLab and in Voila alike) and its text stays in `code_blocks` for tests.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w

from aifactory_widgets.guides.facts import site_facts as facts_of
from aifactory_widgets.guides.library import (
    AUDIENCES,
    LEVELS,
    Guide,
    GuideError,
    all_tags,
    fill,
    load_guides,
    search,
    segments,
)
from aifactory_widgets.ui.client import FactoryClient, FactoryError

STYLE = """<style>
.af-guide{font-size:14px;line-height:1.5;max-width:58rem}
.af-guide table{border-collapse:collapse;margin:.4rem 0}
.af-guide th,.af-guide td{border:1px solid #dde;padding:3px 8px;text-align:left}
.af-guide th{background:#f3f4f8}
.af-code{position:relative;margin:.3rem 0 .6rem;max-width:58rem}
.af-code pre{background:#f6f8fa;border:1px solid #dde;border-radius:4px;padding:8px 10px;
 overflow-x:auto;font-size:13px;line-height:1.4;margin:0}
.af-code button{position:absolute;top:4px;right:4px;font-size:12px;cursor:pointer}
</style>"""
# Copies the block's code; in an insecure context (plain HTTP, not localhost) the clipboard
# API is missing, so it selects the text and uses execCommand instead.
COPY_JS = (
    "(function(b){var c=b.parentElement.querySelector('code');var t=c.innerText;"
    "var done=function(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy'},1500)};"
    "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t).then(done)}"
    "else{var r=document.createRange();r.selectNodeContents(c);var s=window.getSelection();"
    "s.removeAllRanges();s.addRange(r);document.execCommand('copy');done()}})(this)"
)
ANY = ""


def code_html(code: str, language: str = "") -> str:
    """A code block with its Copy button; the code is escaped text."""
    cls = f' class="language-{html.escape(language)}"' if language else ""
    return (
        f'<div class="af-code"><button title="Copy to the clipboard" onclick="{COPY_JS}">'
        f"Copy</button><pre><code{cls}>{html.escape(code)}</code></pre></div>"
    )


class GuideBrowser(w.VBox):
    """Search box and filters, the matching guides, and the chosen guide rendered.

    The facts are `site` (the JSON of `GET api/site`) when given, else the service's, asked
    with `client` or the session's own token. Outside the hub the guides still read, with this
    centre's facts shown as [?name]."""

    def __init__(
        self,
        client: FactoryClient | None = None,
        site: Mapping[str, Any] | None = None,
        guides: Sequence[Guide] | None = None,
        query: str = "",
    ):
        self.message = w.Label()
        if client is None and site is None:
            try:
                client = FactoryClient.from_env()
            except FactoryError as exc:
                self.message.value = f"Without this centre's facts: {exc}"
        self.client = client
        self.guides = list(guides) if guides is not None else load_guides()
        self.facts = self._facts(site)
        self.texts = {g.slug: self._text(g) for g in self.guides}
        self.query = w.Text(
            value=query, placeholder="Search: words in titles, tags and text", description="Search"
        )
        self.audience = w.Dropdown(description="For", options=_choices("everyone", AUDIENCES))
        self.level = w.Dropdown(description="Level", options=_choices("any level", LEVELS))
        self.tag = w.Dropdown(description="Tag", options=_choices("any tag", all_tags(self.guides)))
        self.results = w.Select(options=[], rows=8, layout=w.Layout(width="760px"))
        self.count = w.Label()
        self.title = w.HTML()
        self.meta = w.Label()
        self.summary = w.HTML()
        self.body = w.VBox()
        self.code_blocks: list[str] = []
        self.shown: str | None = None
        for widget in (self.query, self.audience, self.level, self.tag):
            widget.observe(lambda _: self.update(), "value")
        self.results.observe(lambda _: self.show(self.results.value), "value")
        filters = w.HBox([self.audience, self.level, self.tag])
        super().__init__(
            [
                w.HTML(STYLE),
                self.message,
                self.query,
                filters,
                self.count,
                self.results,
                self.title,
                self.meta,
                self.summary,
                self.body,
            ]
        )
        self.update()

    def _facts(self, site: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if site is None and self.client is not None:
            try:
                site = self.client.get("api/site")
            except FactoryError as exc:
                self.message.value = f"Could not read this centre's facts ({exc}): shown as [?]."
        return facts_of(site) if site else None

    def _text(self, guide: Guide) -> str:
        try:
            return fill(guide, self.facts or {}, strict=self.facts is not None)
        except GuideError as exc:
            self.message.value = str(exc)
            return fill(guide, self.facts or {}, strict=False)

    def matching(self) -> list[Guide]:
        pairs = [(g, self.texts[g.slug]) for g in self.guides]
        return search(
            pairs, self.query.value, self.audience.value, self.level.value, self.tag.value
        )

    def update(self) -> None:
        found = self.matching()
        self.count.value = f"{len(found)} of {len(self.guides)} guides"
        options = [(f"{g.title} ({g.level})", g.slug) for g in found]
        keep = self.results.value
        self.results.options = options
        slugs = [slug for _, slug in options]
        self.results.value = keep if keep in slugs else (slugs[0] if slugs else None)
        self.show(self.results.value)

    def show(self, slug: str | None) -> None:
        """Render one guide: prose as HTML, code blocks with Copy buttons."""
        guide = next((g for g in self.guides if g.slug == slug), None)
        self.shown = guide.slug if guide else None
        if guide is None:
            self.title.value = self.meta.value = self.summary.value = ""
            self.body.children = ()
            self.code_blocks = []
            return
        self.title.value = f"<h2>{html.escape(guide.title)}</h2>"
        self.meta.value = (
            f"For {', '.join(guide.audience)}; {guide.level}; tags: {', '.join(guide.tags)}"
        )
        self.summary.value = f"<i>{html.escape(guide.summary)}</i>"
        parts = segments(self.texts[guide.slug])
        self.code_blocks = [p.text for p in parts if p.kind == "code"]
        self.body.children = [
            w.HTML(f'<div class="af-guide">{p.text}</div>')
            if p.kind == "html"
            else w.HTML(code_html(p.text, p.language))
            for p in parts
        ]


def _choices(anything: str, values: Sequence[str]) -> list[tuple[str, str]]:
    return [(anything, ANY), *((v, v) for v in values)]
