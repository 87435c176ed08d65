"""The widgets' public API: `from aifactory_widgets import X`, then `X()` in a session.

Every entry point a notebook or a dashboard uses is a name of the package; each is built with
no arguments and then talks to the factory service with the session's own token (here, an
address where nothing answers, so every widget shows the failure instead of raising).
Importing the package loads none of the widgets, so a notebook pays only for what it shows.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import ipywidgets as w
import pytest

import aifactory_widgets
from aifactory_widgets import FactoryClient, FactoryError
from tests.unit.test_ticket_context import Scripted

ROOT = Path(__file__).resolve().parents[2]
NOBODY = "http://127.0.0.1:9/services/factory/"  # the discard port: refused at once
SERVICE_WIDGETS = (
    "ProposalForm", "MyApplications", "MyProjects", "QuotaView", "ClusterView", "ProposalDesk",
    "ReviewDesk", "TicketDesk", "UsageDesk", "WorkshopDesk", "GuideBrowser", "Advisor",
    "HelpButton",
)  # fmt: skip
USED = ROOT / "notebooks", ROOT / "dashboards"
IMPORT = re.compile(
    r"from\s+aifactory_widgets(?P<module>\.[\w.]+)?\s+import\s+(?P<names>\w+(?:,\s*\w+)*)"
)


def test_every_public_name_is_a_class_of_the_module_it_is_said_to_live_in():
    for name in aifactory_widgets.__all__:
        value = getattr(aifactory_widgets, name)
        assert inspect.isclass(value) and value.__name__ == name
        module = importlib.import_module(value.__module__)
        assert getattr(module, name) is value


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchWidget"):
        aifactory_widgets.NoSuchWidget  # noqa: B018


def test_importing_the_package_loads_no_widget_and_no_dask():
    heavy = ("aifactory_widgets", "aifactory_hub", "ipywidgets", "dask", "matplotlib")
    code = f"import sys, aifactory_widgets; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy}))"  # noqa: E501
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['aifactory_widgets']"


def test_notebooks_and_dashboards_use_only_the_public_names():
    for folder in USED:
        for path in folder.rglob("*.ipynb"):
            cells = json.loads(path.read_text())["cells"]
            for cell in cells:
                source = "".join(cell["source"])
                for node in ast.walk(ast.parse(source)) if cell["cell_type"] == "code" else ():
                    if isinstance(node, ast.ImportFrom) and node.module:
                        assert not node.module.startswith("aifactory_widgets."), path
                        if node.module == "aifactory_widgets":
                            names = {a.name for a in node.names}
                            assert names <= set(aifactory_widgets.__all__), path


def test_the_guides_and_the_readme_show_only_the_public_names():
    guides = Path(aifactory_widgets.__file__).parent / "guides"
    texts = {p: p.read_text() for p in [*guides.glob("*.md"), ROOT / "README.md"]}
    imports = [
        (path.name, match["module"], match["names"])
        for path, text in texts.items()
        for match in IMPORT.finditer(text)
    ]
    assert len(imports) >= 10  # the guides show the widgets they are about
    for where, module, names in imports:
        assert module is None, (where, module)
        assert {n.strip() for n in names.split(",")} <= set(aifactory_widgets.__all__), where


@pytest.mark.parametrize("name", SERVICE_WIDGETS)
def test_built_with_no_arguments_a_widget_asks_the_service_with_the_sessions_token(
    name, monkeypatch
):
    monkeypatch.setenv("AIFACTORY_FACTORY_URL", NOBODY)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "the-sessions-token")
    widget = getattr(aifactory_widgets, name)()
    assert isinstance(widget, w.Widget)
    assert isinstance(widget.client, FactoryClient)
    assert (widget.client.url, widget.client.token) == (NOBODY, "the-sessions-token")


def test_ask_an_expert_uses_the_sessions_token_too(monkeypatch):
    monkeypatch.setenv("AIFACTORY_FACTORY_URL", NOBODY)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "the-sessions-token")
    ask = aifactory_widgets.AskAnExpert(runner=Scripted())
    assert (ask.client.url, ask.client.token) == (NOBODY, "the-sessions-token")
    assert "did not answer" in ask.message.value  # its tickets could not be read


def test_outside_the_hub_the_widgets_say_so_or_refuse(monkeypatch):
    monkeypatch.delenv("AIFACTORY_FACTORY_URL", raising=False)
    with pytest.raises(FactoryError, match="not running under AI Factory Hub"):
        aifactory_widgets.QuotaView()
    guides = aifactory_widgets.GuideBrowser()
    assert guides.client is None and guides.guides  # the guides still read
    assert guides.message.value.startswith("Without this centre's facts: not running under")
    advisor = aifactory_widgets.Advisor()
    assert advisor.message.value.startswith("Not under AI Factory Hub")
    (why,) = aifactory_widgets.AskAnExpert().children
    assert why.value.startswith("Asking an expert needs AI Factory Hub: not running under")
    assert aifactory_widgets.HelpButton().raise_button.disabled
