"""Real stack: the demo catalogue that `up` made (the `demo_accounts` fixture runs apply_site)
is read from a real session, and the filesystem enforces who may read a project-only item.

carol (ai-beta) starts a session; in its kernel, on a compute node, as carol, the catalogue
widget asks the service with the session's token and shows only what ai-beta may use; the
csv snippet the service wrote for stocks-monthly runs and counts the file's rows; the
stocks-trend model (ai-alpha only) cannot be opened. As processes of the users: alice (in
ai-alpha's group) reads the model file and carol is refused by the kernel.
"""

from __future__ import annotations

import grp
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifactory_hub.site import Site
from tests.session_kernel import SessionKernel
from tests.stack import session_jobs, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub]

READ_IN_SESSION = """
import json
from aifactory_widgets import DataCatalogue, FactoryClient
widget = DataCatalogue()
items = {i["name"]: i for i in FactoryClient.from_env().get("api/catalogue")}
scope = {}
exec(items["stocks-monthly"]["snippet"], scope)
try:
    open(MODEL_PATH, "rb").read(1)
    model = "read"
except PermissionError:
    model = "PermissionError"
print(json.dumps({"offered": [name for _, name in widget.pick.options], "rows": len(scope["rows"]),
                  "columns": list(scope["rows"][0]), "model": model}))
"""


def data_rows(path: Path) -> int:
    """The table's data rows, counted here without the snippet: lines that are not comments
    or empty, less the header."""
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return len(lines) - 1


def as_user(user: str, *argv: str) -> subprocess.CompletedProcess:
    """`argv` run as `user` (their groups too), no shell."""
    return subprocess.run(["runuser", "-u", user, "--", *argv], capture_output=True,
                          timeout=60, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def catalogue(demo_accounts, demo_site: Site) -> dict[str, Path]:
    """The demo items' paths, once apply_site (up) has made them."""
    paths = {item.name: Path(item.path) for item in demo_site.catalogue}
    for path in paths.values():
        assert path.is_file(), f"{path}: apply_site did not make it"
    return paths


@pytest.fixture(scope="module")
def carol_kernel(hub, catalogue) -> Iterator[SessionKernel]:
    resp = hub.api("POST", "/users/carol/server", "carol", json={"project": "ai-beta"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("carol")
    assert len(session_jobs("carol")) == 1
    kernel = SessionKernel(hub.url, "carol", hub.token("carol"))
    try:
        yield kernel
    finally:
        kernel.shutdown()
        hub.stop("carol")
        wait_no_jobs("carol")


def test_up_made_the_files_with_the_modes_the_catalogue_calls_for(catalogue):
    table, model = catalogue["stocks-monthly"], catalogue["stocks-trend"]
    assert stat.S_IMODE(table.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE(table.stat().st_mode) == 0o644 and table.stat().st_uid == 0
    assert stat.S_IMODE(model.stat().st_mode) == 0o640 and model.stat().st_uid == 0
    assert grp.getgrgid(model.stat().st_gid).gr_name == "ai-alpha"
    assert data_rows(table) == 524  # matplotlib's Stocks.csv: monthly, 1990 onwards


def test_a_session_reads_the_dataset_with_the_catalogues_snippet(carol_kernel, catalogue):
    code = READ_IN_SESSION.replace("MODEL_PATH", repr(str(catalogue["stocks-trend"])))
    seen = json.loads(carol_kernel.execute(code, timeout=120).stdout.strip().splitlines()[-1])
    assert seen["offered"] == ["stocks-monthly"]  # ai-beta may not use stocks-trend
    assert seen["rows"] == data_rows(catalogue["stocks-monthly"])
    assert seen["columns"][:3] == ["Date", "IBM", "AAPL"]
    assert seen["model"] == "PermissionError"  # the filesystem agrees, on the compute node


@pytest.mark.hardening(
    "attack",
    "carol (not in ai-alpha) reads the ai-alpha-only catalogue model by its path",
    "refused by the filesystem (root:ai-alpha 0640); alice, in ai-alpha, reads it",
)
def test_only_the_projects_members_can_read_a_project_only_item(catalogue):
    model = catalogue["stocks-trend"]
    assert "carol" not in grp.getgrnam("ai-alpha").gr_mem
    refused = as_user("carol", "cat", str(model))
    assert refused.returncode != 0 and b"Permission denied" in refused.stderr
    assert refused.stdout == b""
    read = as_user("alice", "cat", str(model))
    assert read.returncode == 0, read.stderr
    assert read.stdout == model.read_bytes()
    # the open dataset is readable by anyone with an account, carol included
    table = as_user("carol", "cat", str(catalogue["stocks-monthly"]))
    assert table.returncode == 0 and len(table.stdout) == os.path.getsize(
        catalogue["stocks-monthly"]
    )
