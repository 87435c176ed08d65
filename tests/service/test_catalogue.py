"""In-process: `GET catalogue` answers each caller the items their projects may use (the site
file's projects and the store's active ones; staff: every item, with who may use it), and a
proposal may name only such items: anything else is refused with 400 naming `catalogue` and
nothing is stored; the ethics check flags commercial work naming a non-commercial item."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from aifactory_hub.data import catalogue as cat
from aifactory_hub.site import DEMO_SITE, Site, load_site
from aifactory_hub.site.storage import CatalogueItem
from aifactory_hub.store import models as m
from tests.access import draft
from tests.service.world import PROJECT, ok

# The demo catalogue, and one item open only to the store's project of the example world.
INPROC = CatalogueItem(
    name="inproc-data", kind="dataset", path="/srv/cat/inproc.npz", format="npz", size_mb=1,
    licence="CC-BY-NC-4.0", commercial_use=False, description="granted projects' data",
    projects=[PROJECT],
)  # fmt: skip


@pytest.fixture(scope="module")
def site() -> Site:
    demo = load_site(DEMO_SITE)
    return demo.model_copy(update={"catalogue": [*demo.catalogue, INPROC]})


async def names(client, user: str, query: str = "") -> list[str]:
    path = "catalogue" + (f"?q={query}" if query else "")
    return [item["name"] for item in await ok(await client.call("GET", path, user))]


def proposals_count(store) -> int:
    with store() as db:
        return db.scalar(select(func.count()).select_from(m.Proposal))


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("alice", ["stocks-monthly", "stocks-trend"]),  # ai-alpha in the site file
        ("carol", ["stocks-monthly", "inproc-data"]),  # ai-beta; t-inproc in the store
        ("dave", ["stocks-monthly"]),  # no active project: only what every project may use
    ],
)
async def test_a_researcher_sees_the_items_their_projects_may_use(client, world, user, expected):
    assert await names(client, user) == expected


async def test_an_item_answers_with_licence_path_size_and_snippet(client, world, site):
    (stocks,) = [i for i in await ok(await client.call("GET", "catalogue", "dave"))]
    listed = site.catalogue_item("stocks-monthly")
    assert stocks == cat.item_json(listed)
    assert stocks["licence_url"].startswith("https://") and stocks["commercial_use"] is False
    assert stocks["path"] == "/srv/aifactory/catalogue/stocks-monthly.csv"
    assert stocks["size_mb"] == 0.07 and "import csv" in stocks["snippet"]
    assert "projects" not in stocks  # who else may use it is staff's to see


async def test_staff_see_every_item_and_who_may_use_it(client, world):
    items = await ok(await client.call("GET", "catalogue", "sam"))
    assert {i["name"]: i["projects"] for i in items} == {
        "stocks-monthly": ["*"], "stocks-trend": ["ai-alpha"], "inproc-data": [PROJECT],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [("model", ["stocks-trend"]), ("CC0", ["stocks-trend"]), ("STOCKS", ["stocks-monthly",
     "stocks-trend"]), ("nothing-like-it", []), ("granted", [])],
)  # fmt: skip
async def test_the_search_is_over_the_callers_items_only(client, world, query, expected):
    assert await names(client, "alice", query) == expected


async def test_a_search_too_long_is_refused_naming_q(client, world):
    answer = await client.call("GET", "catalogue?q=" + "x" * (cat.MAX_QUERY + 1), "alice")
    assert answer.status == 400 and answer.json()["field"] == "q"


# --- proposals name catalogue items ------------------------------------------------------------


async def test_a_proposal_names_items_the_applicant_may_use_and_shows_their_licences(client, world):
    body = draft(world["call"], "Trend models", "Alpha Robotics", 10,
                 catalogue=["stocks-trend", "stocks-monthly"])  # fmt: skip
    made = await ok(await client.call("POST", "proposals", "alice", body), 201)
    assert made["catalogue"] == ["stocks-trend", "stocks-monthly"]
    assert [(i["name"], i["licence"], i["commercial_use"]) for i in made["catalogue_items"]] == [
        ("stocks-trend", "CC0-1.0", True),
        ("stocks-monthly", "Yahoo Finance terms (via matplotlib's sample data)", False),
    ]
    shown = await ok(await client.call("GET", f"proposals/{made['id']}", "sam"))
    assert shown["catalogue"] == made["catalogue"]


@pytest.mark.parametrize(
    ("user", "items", "message"),
    [
        ("carol", ["stocks-trend"], "'stocks-trend' is not an item of the catalogue you may use"),
        ("alice", ["inproc-data"], "'inproc-data' is not an item of the catalogue you may use"),
        ("alice", ["no-such-item"], "'no-such-item' is not an item of the catalogue you may use"),
        ("alice", ["stocks-trend", "stocks-trend"], "Value error, names an item twice"),
        ("alice", ["Not A Name"], None),
        ("alice", [f"item-{i}" for i in range(21)], None),
    ],
)
async def test_a_draft_naming_an_item_the_applicant_may_not_use_is_refused_and_not_stored(
    client, world, store, user, items, message
):
    before = proposals_count(store)
    body = draft(world["call"], "Trend models", "Somewhere", 10, catalogue=items)
    answer = await client.call("POST", "proposals", user, body)
    assert answer.status == 400, answer.text
    assert answer.json()["field"].split(".")[0] == "catalogue"
    if message:
        assert answer.json()["message"] == message
    assert proposals_count(store) == before


async def test_an_edit_naming_a_forbidden_item_changes_nothing(client, world, store):
    body = draft(world["call"], "Dave's first title", "Dave Labs", 10)
    pid = (await ok(await client.call("POST", "proposals", "dave", body), 201))["id"]
    changed = {**body, "title": "Changed title", "catalogue": ["stocks-trend"]}  # not ai-alpha
    answer = await client.call("PUT", f"proposals/{pid}", "dave", changed)
    assert answer.status == 400 and answer.json()["field"] == "catalogue"
    with store() as db:
        kept = db.get(m.Proposal, pid)
        assert kept.title == "Dave's first title" and kept.catalogue == []
    changed["catalogue"] = ["stocks-monthly"]  # open to every project
    edited = await ok(await client.call("PUT", f"proposals/{pid}", "dave", changed))
    assert edited["catalogue"] == ["stocks-monthly"] and edited["title"] == "Changed title"


async def test_commercial_work_naming_a_non_commercial_item_cannot_be_submitted(client, world):
    body = draft(world["call"], "Trend models", "Alpha Robotics", 10, open_results=False,
                 catalogue=["stocks-monthly"])  # fmt: skip
    checked = await ok(await client.call("POST", "proposals/check", "alice", body))
    assert not checked["eligible"] and checked["ineligible_reason"] == ""
    (finding,) = [f for f in checked["findings"] if f["field"] == "catalogue"]
    assert finding["message"].startswith("stocks-monthly is licensed under Yahoo Finance terms")
    made = await ok(await client.call("POST", "proposals", "alice", body), 201)
    refused = await client.call("POST", f"proposals/{made['id']}/submit", "alice")
    assert refused.status == 400 and refused.json()["field"] == "catalogue"
    body["open_results"] = True  # published openly: not commercial work
    await ok(await client.call("PUT", f"proposals/{made['id']}", "alice", body))
    submitted = await ok(await client.call("POST", f"proposals/{made['id']}/submit", "alice"))
    assert submitted["status"] == "in_review"


async def test_a_draft_whose_item_is_no_longer_the_applicants_cannot_be_submitted(
    client, world, store
):
    body = draft(world["call"], "Granted data", "Gamma Labs", 10, catalogue=["inproc-data"])
    made = await ok(await client.call("POST", "proposals", "bob", body), 201)  # in t-inproc
    with store.begin() as db:
        project = db.scalars(select(m.Project).where(m.Project.account == PROJECT)).one()
        project.members = [mb for mb in project.members if mb.username != "bob"]
    refused = await client.call("POST", f"proposals/{made['id']}/submit", "bob")
    assert refused.status == 400, refused.text
    assert refused.json()["field"] == "catalogue"
    assert refused.json()["message"] == "'inproc-data' is not an item of the catalogue you may use"
    with store() as db:
        assert db.get(m.Proposal, made["id"]).status == "draft"
