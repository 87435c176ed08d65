"""The catalogue, pure: who may use which item, the search, the snippets (run here on small
files of each format), the answers' shape and a proposal's refusal; and `ops.catalogue`'s
decisions: who may read a file, the training windows, the model it saves."""

from __future__ import annotations

import ast
import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest

from aifactory_hub.data import catalogue as cat
from aifactory_hub.ops import catalogue as ops
from aifactory_hub.site import DEMO_SITE, load_site
from aifactory_hub.site.storage import CatalogueItem

SITE = load_site(DEMO_SITE)


def item(name: str = "thing", **changes) -> CatalogueItem:
    fields = {"name": name, "kind": "dataset", "path": f"/srv/cat/{name}", "format": "files",
              "size_mb": 1, "licence": "CC-BY-4.0"}  # fmt: skip
    return CatalogueItem(**{**fields, **changes})


EVERYONE = item("open-data", description="Weather of Europe, hourly")
ALPHA = item("alpha-model", kind="model", projects=["ai-alpha"], licence="Apache-2.0")
TWO = item("shared", projects=["ai-alpha", "ai-beta"], licence="CC-BY-NC-4.0")
ITEMS = (EVERYONE, ALPHA, TWO)


def run_snippet(code: str) -> str:
    """What the snippet prints, run in a fresh namespace (it is code a researcher pastes)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})  # noqa: S102 - the snippet under test
    return out.getvalue()


@pytest.mark.parametrize(
    ("accounts", "names"),
    [
        ([], ["open-data"]),
        (["ai-beta"], ["open-data", "shared"]),
        (["ai-alpha"], ["open-data", "alpha-model", "shared"]),
        (["ai-beta", "prj-9"], ["open-data", "shared"]),
    ],
)
def test_a_user_may_use_the_items_open_to_one_of_their_projects(accounts, names):
    assert [i.name for i in cat.usable(ITEMS, accounts)] == names


def test_the_demo_site_opens_the_model_to_ai_alpha_only():
    assert [i.name for i in cat.usable(SITE.catalogue, ["ai-beta"])] == ["stocks-monthly"]
    assert [i.name for i in cat.usable(SITE.catalogue, ["ai-alpha"])] == [
        "stocks-monthly", "stocks-trend",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["open-data", "alpha-model", "shared"]),
        ("   ", ["open-data", "alpha-model", "shared"]),
        ("MODEL", ["alpha-model"]),  # kind, any case
        ("europe", ["open-data"]),  # description
        ("apache", ["alpha-model"]),  # licence
        ("shar", ["shared"]),  # part of a name
        ("cc-by", ["open-data", "shared"]),
        ("cc-by nc", ["shared"]),  # every word must match
        ("weather model", []),
    ],
)
def test_the_search_matches_every_word_in_name_description_licence_or_kind(query, names):
    assert [i.name for i in cat.search(ITEMS, query)] == names


@pytest.mark.parametrize("fmt", ["csv", "npz", "torch", "huggingface", "files"])
def test_a_snippet_embeds_the_path_as_one_string_literal_and_nothing_else(fmt):
    nasty = "/srv/cat/it's \"odd\"\n__import__('os').system('id')#"
    code = cat.snippet(item(format=fmt, path=nasty, description="'); import os; os.system('x"))
    tree = ast.parse(code)
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert nasty in strings  # the path is a literal, whole
    assert "system" not in {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "os.system('x" not in code  # the description is never in the code


def test_the_csv_snippet_reads_every_row_and_skips_comment_lines(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("# Data source: somewhere\nDate,A,B\n2020-01-01,1,2\n2020-02-01,,3\n")
    out = run_snippet(cat.snippet(item(format="csv", path=str(table))))
    assert out.strip() == "2 rows; columns: ['Date', 'A', 'B']"


def test_the_npz_snippet_loads_the_arrays(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x=np.zeros((3, 2)), y=np.arange(4))
    out = run_snippet(cat.snippet(item(format="npz", path=str(path))))
    assert out.strip() == "{'x': (3, 2), 'y': (4,)}"


def test_the_torch_snippet_loads_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "m.pt"
    torch.save(torch.nn.Linear(6, 1).state_dict(), path)
    code = cat.snippet(item(format="torch", path=str(path)))
    assert "weights_only=True" in code
    assert run_snippet(code).strip() == "{'weight': (1, 6), 'bias': (1,)}"


def test_the_files_snippet_lists_a_folder(tmp_path):
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    out = run_snippet(cat.snippet(item(format="files", path=str(tmp_path))))
    assert out.split() == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]


def test_the_huggingface_snippet_uses_load_from_disk():
    code = cat.snippet(item(format="huggingface", path="/srv/cat/ds"))
    assert "from datasets import load_from_disk" in code
    assert "load_from_disk(path)" in code and "path = '/srv/cat/ds'" in code


def test_an_item_as_answered_and_staff_see_who_may_use_it():
    shown = cat.item_json(ALPHA)
    assert set(shown) == {"name", "kind", "format", "path", "size_mb", "licence",
                          "licence_url", "commercial_use", "description", "snippet"}  # fmt: skip
    assert shown["snippet"] == cat.snippet(ALPHA)
    staff = cat.item_json(ALPHA, staff=True)
    assert staff["projects"] == ["ai-alpha"] and staff["every_project"] is False
    assert cat.item_json(EVERYONE, staff=True)["every_project"] is True


def test_a_proposal_shows_the_licences_of_the_items_it_names():
    shown = cat.licences(ITEMS, ["shared", "gone"])
    assert shown == [
        {"name": "shared", "licence": "CC-BY-NC-4.0", "licence_url": "", "commercial_use": True,
         "known": True},
        {"name": "gone", "licence": "", "licence_url": "", "commercial_use": None,
         "known": False},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("accounts", "names", "refused"),
    [
        ([], [], None),
        ([], ["open-data"], None),
        (["ai-alpha"], ["open-data", "alpha-model"], None),
        (["ai-beta"], ["open-data", "alpha-model"], "alpha-model"),  # not one of theirs
        (["ai-beta"], ["nope"], "nope"),  # unknown
    ],
)
def test_a_proposal_may_name_only_items_the_applicant_may_use(accounts, names, refused):
    why = cat.refusal(ITEMS, accounts, names)
    if refused is None:
        assert why is None
    else:
        assert why == f"{refused!r} is not an item of the catalogue you may use"


# --- ops.catalogue: who may read each file, and the demo model ---------------------------------


@pytest.mark.parametrize(
    ("it", "groups", "access"),
    [
        (EVERYONE, set(), ops.Access(None, 0o644)),
        (ALPHA, {"ai-alpha"}, ops.Access("ai-alpha", 0o640)),
        (ALPHA, set(), ops.Access(None, 0o600)),  # the group is not there yet: root only
        (TWO, {"ai-alpha", "ai-beta"}, ops.Access("ai-alpha", 0o640, ("ai-beta",))),
        (TWO, {"ai-alpha"}, ops.Access(None, 0o600)),
    ],
)
def test_a_file_is_readable_by_the_projects_its_item_is_open_to(it, groups, access):
    assert ops.access_of(it, lambda name: name in groups) == access


def test_the_training_windows_are_runs_of_seven_log_prices_per_column(tmp_path):
    table = tmp_path / "s.csv"
    rows = [f"2000-{m:02d}-01,{2**m},{'' if m < 5 else m}" for m in range(1, 13)]
    table.write_text("# source\nDate,A,B\n" + "\n".join(rows) + "\n2000-12-05,,\n")
    windows = ops.log_price_windows(table)
    # A has 12 months (6 windows), B 8 (from May: 2 windows); empty cells are skipped
    assert len(windows) == 6 + 2
    assert windows[0] == pytest.approx([m * np.log(2) for m in range(1, 8)])
    assert windows[-1] == pytest.approx([np.log(m) for m in range(6, 13)])


def test_the_demo_size_in_the_site_file_is_the_sample_tables():
    from matplotlib import cbook

    sample = Path(cbook.get_sample_data(ops.SAMPLE, asfileobj=False))
    listed = SITE.catalogue_item(ops.DATASET)
    assert listed is not None and listed.format == "csv"
    assert round(sample.stat().st_size / 1e6, 2) == listed.size_mb


@pytest.mark.skipif(os.geteuid() != 0, reason="files are given to root")
def test_the_model_is_trained_in_a_child_python_once_and_loads_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    from matplotlib import cbook

    sample = Path(cbook.get_sample_data(ops.SAMPLE, asfileobj=False))
    model = item("trend", kind="model", format="torch", path=str(tmp_path / "m" / "n" / "t.pt"))
    old = os.umask(0o077)  # a strict umask still gives folders everyone can enter
    try:
        assert ops.make_model(model, sample) is True
    finally:
        os.umask(old)
    path = Path(model.path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert oct(path.parent.stat().st_mode & 0o777) == oct(0o755)
    assert oct(path.parent.parent.stat().st_mode & 0o777) == oct(0o755)
    assert not list(path.parent.glob(".*"))  # no partial file left
    state = torch.load(path, weights_only=True)
    assert {k: tuple(v.shape) for k, v in state.items()} == {"weight": (1, 6), "bias": (1,)}
    # it learned a drift from "next month is this month" (monthly log prices mostly rise)
    assert state["weight"][0, -1].item() == pytest.approx(1.0, abs=0.05)
    assert 0 < state["bias"].item() < 0.1
    mtime = path.stat().st_mtime_ns
    assert ops.make_model(model, sample) is False  # a second `up` keeps it
    assert path.stat().st_mtime_ns == mtime
    listed = SITE.catalogue_item(ops.MODEL)
    assert listed is not None and round(path.stat().st_size / 1e6, 3) == listed.size_mb


def test_a_failure_to_make_the_demo_catalogue_is_logged_and_up_goes_on(monkeypatch, caplog):
    def fail(site):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ops, "make_demo_catalogue", fail)
    with caplog.at_level("ERROR", logger=ops.__name__):
        assert ops.ensure_demo_catalogue(SITE) == []
    (record,) = caplog.records
    assert "the demo catalogue (stocks-monthly, stocks-trend) could not be made" in record.message
    assert "No space left on device" in caplog.text  # the cause, with its traceback


def test_a_site_without_the_demo_items_gets_nothing(tmp_path):
    bare = SITE.model_copy(update={"catalogue": [item("other", path=str(tmp_path / "o"))]})
    assert ops.make_demo_catalogue(bare) == []
    assert not (tmp_path / "o").exists()
