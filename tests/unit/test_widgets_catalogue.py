"""The catalogue widget, headless, against a fake factory service answering `GET catalogue`;
and the proposal desks' view of the catalogue items a proposal names."""

from __future__ import annotations

import ipywidgets as w
import pytest

import aifactory_widgets
from aifactory_widgets import DataCatalogue, FactoryClient, FactoryError
from aifactory_widgets.access.proposal_view import catalogue_rows, proposal_html
from aifactory_widgets.data import catalogue as view
from tests.unit.test_widgets_apply import PROPOSAL, XSS, FakeClient

SNIPPET = "import csv\n\npath = '/srv/aifactory/catalogue/stocks-monthly.csv'\n"
STOCKS = {
    "name": "stocks-monthly", "kind": "dataset", "format": "csv",
    "path": "/srv/aifactory/catalogue/stocks-monthly.csv", "size_mb": 0.07,
    "licence": "Yahoo Finance terms", "licence_url": "https://legal.yahoo.com/terms",
    "commercial_use": False, "description": f"Monthly prices {XSS}", "snippet": SNIPPET,
}  # fmt: skip
TREND = {
    **STOCKS, "name": "stocks-trend", "kind": "model", "format": "torch", "size_mb": 0.002,
    "path": "/srv/aifactory/catalogue/stocks-trend.pt", "licence": "CC0-1.0",
    "licence_url": "javascript:alert(1)", "commercial_use": True, "description": "A model",
    "snippet": "import torch\n",
}  # fmt: skip


def service(**answers) -> FakeClient:
    found = {("GET", "api/catalogue"): [STOCKS, TREND]}
    for key, answer in answers.items():
        method, path = key.split(" ", 1)
        found[(method, path)] = answer
    return FakeClient(found)


def test_it_lists_the_items_and_shows_the_first_with_its_path_and_snippet():
    widget = DataCatalogue(service())
    assert widget.client.calls[0] == ("GET", "api/catalogue", None)
    assert "stocks-monthly" in widget.table.value and "stocks-trend" in widget.table.value
    assert "70 kB" in widget.table.value and "2 kB" in widget.table.value
    assert "projects" not in widget.table.value  # a researcher's answer has no such column
    assert widget.message.value == "2 items."
    assert widget.pick.value == "stocks-monthly"
    assert widget.path.value == STOCKS["path"]
    assert isinstance(widget.snippet, w.Textarea) and widget.snippet.value == SNIPPET
    assert "does not allow commercial use" in widget.commercial.value
    assert widget.licence.value == (
        '<b>Licence:</b> <a href="https://legal.yahoo.com/terms" target="_blank" '
        'rel="noopener noreferrer">Yahoo Finance terms</a>'
    )


def test_picking_another_item_shows_it_and_a_bad_link_is_not_a_link():
    widget = DataCatalogue(service())
    widget.pick.value = "stocks-trend"
    assert widget.path.value == TREND["path"] and widget.snippet.value == "import torch\n"
    assert widget.commercial.value == "Commercial use is allowed by its licence."
    assert "href" not in widget.licence.value and "javascript" not in widget.licence.value


def test_user_text_is_never_markup():
    widget = DataCatalogue(service(**{"GET api/catalogue": [{**STOCKS, "name": XSS}]}))
    assert XSS not in widget.table.value and XSS not in widget.title.value
    assert isinstance(widget.description, w.Label)  # text, never markup
    assert widget.description.value == STOCKS["description"]


def test_the_search_asks_the_service_with_the_query_encoded():
    client = service(**{"GET api/catalogue?q=stocks%20%26%20model": [TREND]})
    widget = DataCatalogue(client)
    widget.query.value = " stocks & model "  # Enter (or leaving the box) searches
    assert client.calls[-1] == ("GET", "api/catalogue?q=stocks%20%26%20model", None)
    assert widget.pick.options == (("stocks-trend", "stocks-trend"),)
    assert widget.message.value == "1 item found."


def test_nothing_found_hides_the_details():
    client = service(**{"GET api/catalogue?q=nothing": []})
    widget = DataCatalogue(client)
    widget.query.value = "nothing"
    widget.search_button.click()
    assert "no item matches" in widget.table.value
    assert widget.details.layout.display == "none"


def test_staff_see_who_may_use_each_item():
    staff = [{**STOCKS, "projects": ["*"]}, {**TREND, "projects": ["ai-alpha"]}]
    widget = DataCatalogue(service(**{"GET api/catalogue": staff}))
    assert "<th>projects</th>" in widget.table.value and "ai-alpha" in widget.table.value


def test_a_refusal_is_said_not_raised():
    client = service(**{"GET api/catalogue": FactoryError(0, "the service did not answer")})
    widget = DataCatalogue(client)
    assert widget.message.value == "Could not read the catalogue: the service did not answer"


@pytest.mark.parametrize(
    ("size", "text"), [(0.068, "68 kB"), (0.002, "2 kB"), (12.5, "12.5 MB"), (2048, "2.05 GB")]
)
def test_sizes(size, text):
    assert view.size_text(size) == text


def test_it_is_a_public_widget_that_uses_the_sessions_token(monkeypatch):
    monkeypatch.setenv("AIFACTORY_FACTORY_URL", "http://127.0.0.1:9/services/factory/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "the-sessions-token")
    assert "DataCatalogue" in aifactory_widgets.__all__
    widget = DataCatalogue()
    assert isinstance(widget.client, FactoryClient)
    assert widget.client.token == "the-sessions-token"
    assert widget.message.value.startswith("Could not read the catalogue:")


def test_the_desks_show_the_named_items_with_their_licences():
    assert catalogue_rows(PROPOSAL) == [
        ("stocks-monthly", "Yahoo terms (https://example.org/terms)", "no")
    ]
    gone = {"catalogue_items": [{"name": "old", "known": False}]}
    assert catalogue_rows(gone) == [("old", "no longer in the catalogue", "")]
    assert catalogue_rows({"catalogue": ["bare"]}) == [("bare", "", "")]
    shown = proposal_html({**PROPOSAL, "catalogue_items": [{**PROPOSAL["catalogue_items"][0],
                                                            "licence": XSS}]})  # fmt: skip
    assert "<h4>Catalogue items</h4>" in shown and XSS not in shown
    assert "none named" in proposal_html({**PROPOSAL, "catalogue_items": []})
