"""The spawn form informs the choice: the partition table, the price line, the expected start
and the quota note are in the server's HTML (read here with html.parser, no JavaScript), and
the Slurm outputs they come from are parsed from lines this machine's Slurm printed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from aifactory_hub import slurm
from aifactory_hub.hubside import spawn_inputs
from aifactory_hub.hubside.partition_table import ProjectPrice, project_price
from aifactory_hub.hubside.spawn_form import render_form
from aifactory_hub.policy import Hours, project_quota
from aifactory_hub.site import load_site
from aifactory_hub.site.sessions import SessionRequest
from aifactory_hub.slurm import capacity, queue
from aifactory_hub.slurm.capacity import fits_now, node_types, parse_node_list, partitions_of
from aifactory_hub.slurm.queue import (
    ExpectedStart,
    PartitionQueue,
    parse_pending,
    parse_test_only,
    sbatch_test_only_argv,
)
from aifactory_hub.slurm.runner import CommandResult

# `scontrol --oneliner show node` on the local cluster (Slurm 22.05.8), two jobs of bob
# running on cpu1 (4 CPUs) and cpu2 (3 CPUs); trimmed of the fields nobody reads.
NODE_LINES = """\
NodeName=cpu1 Arch=x86_64 CoresPerSocket=1  CPUAlloc=4 CPUEfctv=4 CPUTot=4 CPULoad=0.45 AvailableFeatures=(null) ActiveFeatures=(null) Gres=(null) NodeAddr=127.0.0.1 NodeHostName=vm Port=17001 Version=22.05.8 RealMemory=5120 AllocMem=1024 FreeMem=21638 Sockets=4 Boards=1 State=ALLOCATED ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=cpu  BootTime=2026-12-05T11:25:33 SlurmdStartTime=2026-12-06T01:49:31 LastBusyTime=2026-12-06T01:50:14 CfgTRES=cpu=4,mem=5G,billing=4 AllocTRES=cpu=4,mem=1G CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s
NodeName=cpu2 Arch=x86_64 CoresPerSocket=1  CPUAlloc=3 CPUEfctv=4 CPUTot=4 CPULoad=0.45 AvailableFeatures=(null) ActiveFeatures=(null) Gres=(null) NodeAddr=127.0.0.1 NodeHostName=vm Port=17002 Version=22.05.8 RealMemory=5120 AllocMem=1024 FreeMem=21636 Sockets=4 Boards=1 State=MIXED ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=cpu  BootTime=2026-12-05T11:25:33 SlurmdStartTime=2026-12-06T01:49:31 LastBusyTime=2026-12-06T01:50:09 CfgTRES=cpu=4,mem=5G,billing=4 AllocTRES=cpu=3,mem=1G CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s
NodeName=gpu1 Arch=x86_64 CoresPerSocket=1  CPUAlloc=0 CPUEfctv=4 CPUTot=4 CPULoad=0.45 AvailableFeatures=(null) ActiveFeatures=(null) Gres=gpu:sim:4 NodeAddr=127.0.0.1 NodeHostName=vm Port=17003 Version=22.05.8 RealMemory=5120 AllocMem=0 FreeMem=21636 Sockets=4 Boards=1 State=IDLE ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=gpu  BootTime=2026-12-05T11:25:33 SlurmdStartTime=2026-12-06T01:49:31 LastBusyTime=2026-12-06T01:50:09 CfgTRES=cpu=4,mem=5G,billing=4,gres/gpu=4 AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s
NodeName=gpu2 Arch=x86_64 CoresPerSocket=1  CPUAlloc=0 CPUEfctv=4 CPUTot=4 CPULoad=0.45 AvailableFeatures=(null) ActiveFeatures=(null) Gres=gpu:sim:4 NodeAddr=127.0.0.1 NodeHostName=vm Port=17004 Version=22.05.8 RealMemory=5120 AllocMem=0 FreeMem=21635 Sockets=4 Boards=1 State=IDLE ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=gpu  BootTime=2026-12-05T11:25:33 SlurmdStartTime=2026-12-06T01:49:31 LastBusyTime=2026-12-06T01:49:31 CfgTRES=cpu=4,mem=5G,billing=4,gres/gpu=4 AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s
"""  # noqa: E501
# `squeue --noheader --states=PENDING --format=%P|%r`: two jobs alice holds, one waiting.
PENDING_LINES = "cpu|JobHeldUser\ncpu|JobHeldUser\ncpu,gpu|Resources\n"
# `sbatch --test-only ...` as bob while cpu1 and cpu2 were busy (stderr, as Slurm prints it).
TEST_ONLY_LINE = (
    "sbatch: Job 3584 to start at 2026-12-06T01:52:40 using 2 processors on nodes cpu1 in "
    "partition cpu\n"
)
# And what it printed for a request the partition can never run.
TEST_ONLY_REFUSED = "allocation failure: Requested node configuration is not available\n"
XSS = '<img src=x onerror="alert(1)">'


class Page(HTMLParser):
    """The parts of the form a person reads without JavaScript: text by element id, the
    table's rows, and whether any hostile tag came through as markup."""

    def __init__(self, html: str):
        super().__init__()
        self.text: dict[str, str] = {}
        self.classes: dict[str, str] = {}
        self.rows: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self._row: str | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "tr" and "data-partition" in a:
            self._row = a["data-partition"]
            self.rows[self._row] = []
        if tag == "td" and self._row is not None:
            self._cell = []
        if a.get("id"):
            self.text.setdefault(a["id"], "")
            self.classes[a["id"]] = a.get("class") or ""
        if tag not in ("input", "br", "img", "meta"):
            self._open.append((tag, a.get("id")))

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None and self._row is not None:
            self.rows[self._row].append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr":
            self._row = None
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        for _, ident in self._open:
            if ident and ident in self.text:
                self.text[ident] += data


@pytest.fixture(scope="module")
def site():
    return load_site()


def nodes():
    return parse_node_list(NODE_LINES)


def form(site, *, previous=None, expected=None, prices=None, quotas=None, node_list=...):
    node_list = nodes() if node_list is ... else node_list
    return render_form(
        site,
        site.projects_of("bob"),
        previous,
        partitions_of(node_list) if node_list is not None else {},
        quotas or {},
        nodes=node_list,
        queue=parse_pending(PENDING_LINES) if node_list is not None else None,
        prices=prices,
        expected=expected,
    )


def request(partition="cpu", cpus=2, memory_gb=2, gpus=0, account="ai-alpha"):
    return SessionRequest(account, partition, cpus, memory_gb, gpus, 60, "sim" if gpus else "")


# --- the parsers, on real output --------------------------------------------------------


def test_nodes_carry_memory_and_group_into_types():
    found = {n.name: n for n in nodes()}
    assert (found["cpu1"].memory_mb, found["cpu1"].memory_alloc_mb) == (5120, 1024)
    assert found["cpu2"].free == (1, 0, 4096)
    assert found["gpu1"].free == (4, 4, 5120)
    (cpu_type,) = node_types(nodes(), "cpu")
    assert (cpu_type.count, cpu_type.cpus, cpu_type.memory_mb, cpu_type.gpus) == (2, 4, 5120, 0)
    assert node_types(nodes(), "gpu")[0].gpus == 4
    assert node_types(nodes(), "nosuch") == []


def test_a_session_fits_only_on_one_node_with_everything_free():
    # cpu has 1 CPU free in total; 2 CPUs fit nowhere, 1 CPU with 4 GB fits on cpu2.
    assert not fits_now(nodes(), "cpu", 2, 1, 0)
    assert fits_now(nodes(), "cpu", 1, 4, 0)
    assert not fits_now(nodes(), "cpu", 1, 5, 0)  # 4 GB is all cpu2 has left
    assert fits_now(nodes(), "gpu", 2, 2, 2)
    assert not fits_now(nodes(), "gpu", 2, 2, 5)


def test_pending_jobs_count_per_partition_and_held_ones_are_told_apart():
    queue = parse_pending(PENDING_LINES)
    assert queue == {"cpu": PartitionQueue(3, 2), "gpu": PartitionQueue(1, 0)}
    assert parse_pending("") == {}
    assert parse_pending("garbage without a separator\n") == {}


def test_test_only_answers_are_parsed_and_a_refusal_gives_none():
    assert parse_test_only(TEST_ONLY_LINE) == ExpectedStart("2026-12-06T01:52:40", "cpu1", "cpu")
    assert parse_test_only(TEST_ONLY_REFUSED) is None
    assert parse_test_only("") is None


def test_test_only_argv_has_the_sessions_resources_and_refuses_odd_names():
    argv = sbatch_test_only_argv(
        account="ai-alpha", partition="gpu", cpus=2, memory_gb=3, gpus=1, gpu_type="sim",
        walltime_minutes=90,
    )  # fmt: skip
    assert argv[:2] == ["sbatch", "--test-only"]
    assert "--gres=gpu:sim:1" in argv and "--mem=3G" in argv and "--time=90" in argv
    assert argv[-1] == "--wrap=true" and "--output=/dev/null" in argv
    with pytest.raises(ValueError):
        sbatch_test_only_argv(
            account="a;rm -rf /", partition="cpu", cpus=1, memory_gb=1, gpus=0, gpu_type="",
            walltime_minutes=60,
        )  # fmt: skip


# --- the form, as HTML --------------------------------------------------------------------


def test_the_table_lists_the_users_partitions_with_slurms_numbers(site):
    page = Page(form(site))
    assert set(page.rows) == {"cpu", "gpu"}  # bob's projects may use both
    cpu, gpu = page.rows["cpu"], page.rows["gpu"]
    assert cpu[0].startswith("cpu - General CPU nodes")
    assert cpu[1] == "2 x 4 CPUs, 5 GB"
    assert cpu[2] == "none"
    assert (cpu[3], cpu[4], cpu[5]) == ("1 / 8", "-", "3 pending (2 held)")
    assert gpu[2] == "A100 80GB-like (simulated), 4 per node"
    assert (gpu[3], gpu[4], gpu[5]) == ("8 / 8", "8 / 8", "1 pending")
    assert "aif-slurm-unknown" not in page.text


def test_only_partitions_a_project_may_use_are_in_the_table(site):
    carol = [p for p in site.projects if p.partitions == ["cpu"]]
    assert carol, "the demo site has a cpu-only project"
    page = Page(render_form(site, carol[:1], None, partitions_of(nodes()), {}, nodes=nodes()))
    assert set(page.rows) == {"cpu"}


def test_slurm_silent_the_table_says_so_and_the_form_still_submits(site):
    page = Page(form(site, node_list=None))
    assert "Slurm is not answering" in page.text["aif-slurm-unknown"]
    assert page.rows["cpu"][1] == "2 x 4 CPUs, 5 GB (site file)"
    assert page.rows["cpu"][3:] == ["unknown", "unknown", "unknown"]
    assert page.text["aif-start"] == "Expected start unknown: Slurm is not answering."
    assert "input" in page.tags and "select" in page.tags


def test_price_line_for_charged_and_free_projects(site):
    prices = {
        "ai-alpha": project_price(site, "fast_lane", charged=True),
        "ai-beta": project_price(site, "playground", charged=False),
    }
    rates = site.access.rates
    page = Page(form(site, previous=request(gpus=0), prices=prices))
    expected = round(2 * rates.cpu_hour_eur, 2)
    assert page.text["aif-price"].startswith(f"Price: {expected:.2f} {rates.currency} per session")
    assert "2 CPU-h x" in page.text["aif-price"]
    beta = Page(form(site, previous=request(account="ai-beta"), prices=prices))
    assert beta.text["aif-price"] == "Price: free (Playground access)."
    # Every project's terms are in the page too, not only in the script's data.
    assert "ai-beta: free (Playground access)" in page.text["aif-price-terms"]


def test_price_of_a_gpu_session_counts_gpu_hours(site):
    prices = {"ai-alpha": ProjectPrice(True, "Fast Lane access, charged")}
    rates = site.access.rates
    page = Page(form(site, previous=request("gpu", cpus=2, gpus=2), prices=prices))
    amount = f"{2 * rates.gpu_hour_eur + 2 * rates.cpu_hour_eur:.2f}"
    assert page.text["aif-price"].startswith(f"Price: {amount} {rates.currency} per session hour")
    assert "2 GPU-h x" in page.text["aif-price"]


def test_a_site_project_is_free_and_an_unread_store_says_unknown(site):
    assert project_price(site, "site", charged=False) == ProjectPrice(False, "site project")
    page = Page(form(site, prices=None))
    assert page.text["aif-price"].startswith("Price: unknown")


def test_a_request_that_does_not_fit_shows_slurms_expected_start(site):
    expected = parse_test_only(TEST_ONLY_LINE)
    page = Page(form(site, previous=request(cpus=2), expected=expected))
    line = page.text["aif-start"]
    assert line.startswith("Not enough free CPUs, GPUs or memory on one node of cpu now")
    assert "Slurm expects it to start at 2026-12-06T01:52:40 on cpu1" in line
    assert "alert" in page.classes["aif-start"]


def test_a_failed_test_only_says_expected_start_unknown(site):
    page = Page(form(site, previous=request(cpus=2), expected="Slurm did not answer in time"))
    assert "Expected start unknown (Slurm did not answer in time)." in page.text["aif-start"]


def test_a_request_that_fits_says_so(site):
    page = Page(form(site, previous=request("gpu", gpus=1)))
    assert page.text["aif-start"] == "This request fits on a free node of gpu now."


def test_the_quota_note_is_in_the_html(site):
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    used = project_quota("ai-alpha", {"cpu": Hours(0, 10)}, [], now)
    page = Page(form(site, previous=request(), quotas={"ai-alpha": used}))
    assert "ai-alpha" in page.text["aif-quota"] and page.text["aif-quota"].strip()
    bare = Page(form(site, previous=request(account="ai-beta")))
    assert bare.text["aif-quota"] == "ai-beta: no recorded allocation (Slurm's own limits apply)."


@pytest.mark.hardening(
    "attack",
    "HTML in site-file descriptions, GPU labels and Slurm's reasons in the spawn form's table",
    "escaped: shown as text, no element made",
)
def test_hostile_descriptions_and_labels_are_escaped(site):
    cpu = site.partition("cpu").model_copy(update={"description": XSS})
    gpu = site.partition("gpu")
    sim = site.gpu_type("sim").model_copy(update={"label": XSS})
    hostile = site.model_copy(update={"partitions": [cpu, gpu], "gpu_types": [sim]})
    prices = {"ai-alpha": ProjectPrice(False, XSS), "ai-beta": ProjectPrice(True, XSS)}
    html = form(hostile, prices=prices, expected=XSS, previous=request(cpus=2))
    page = Page(html)
    assert "img" not in page.tags
    assert XSS in page.rows["cpu"][0] and XSS in page.rows["gpu"][2]
    assert XSS in page.text["aif-start"]
    assert "<\\/" not in XSS and "</script><img" not in html


# --- the reads (hubside/spawn_inputs.py), with Slurm scripted --------------------------


class ScriptedSlurm:
    """Answers each command by its first words, and records what was run."""

    def __init__(self, answers: dict[str, object]):
        self.answers = answers
        self.calls: list[tuple[list[str], object]] = []

    async def __call__(self, argv, *, run_as=None, timeout=30.0, **_):
        self.calls.append((list(argv), run_as))
        answer = self.answers[" ".join(argv[:2])]
        if isinstance(answer, Exception):
            raise answer
        return CommandResult(tuple(argv), 0, *answer)


@pytest.fixture
def scripted(monkeypatch):
    def install(answers):
        fake = ScriptedSlurm(answers)
        monkeypatch.setattr(slurm, "arun", fake)
        capacity.NODES.forget()
        queue.PENDING.forget()
        return fake

    return install


BOB = slurm.RunAs("bob", 1001, 1001, "/home/bob")
ANSWERS = {
    "scontrol --oneliner": (NODE_LINES, ""),
    "squeue --noheader": (PENDING_LINES, ""),
    "sbatch --test-only": ("", TEST_ONLY_LINE),
}


def gather(site, req):
    return asyncio.run(spawn_inputs.gather_form_inputs(site, "bob", ["ai-alpha"], req, BOB))


def test_one_node_read_and_one_queue_read_and_no_test_only_when_it_fits(site, scripted):
    fake = scripted(ANSWERS)
    got = gather(site, request("gpu", gpus=1))
    assert sorted(" ".join(argv[:2]) for argv, _ in fake.calls) == [
        "scontrol --oneliner",
        "squeue --noheader",
    ]
    assert got.capacity["cpu"].cpus_free == 1 and got.queue["cpu"].pending == 3
    assert got.expected is None


def test_test_only_runs_as_the_user_when_the_request_does_not_fit(site, scripted):
    fake = scripted(ANSWERS)
    got = gather(site, request(cpus=2))
    (argv, run_as) = next(c for c in fake.calls if c[0][:2] == ["sbatch", "--test-only"])
    assert run_as == BOB and "--cpus-per-task=2" in argv and "--account=ai-alpha" in argv
    assert got.expected == ExpectedStart("2026-12-06T01:52:40", "cpu1", "cpu")


def test_a_failing_test_only_leaves_the_start_unknown(site, scripted):
    refused = slurm.SlurmError(["sbatch"], 1, "", TEST_ONLY_REFUSED)
    scripted({**ANSWERS, "sbatch --test-only": refused})
    got = gather(site, request(cpus=2))
    assert got.expected == "allocation failure: Requested node configuration is not available"
    scripted(
        {**ANSWERS, "sbatch --test-only": slurm.ControllerUnreachable(["sbatch"], None, "", "")}
    )
    assert gather(site, request(cpus=2)).expected == "Slurm did not answer in time"


@pytest.mark.hardening(
    "fault",
    "slurmctld not answering while the spawn form gathers its table",
    "the table says so, no sbatch --test-only, the form is still rendered whole",
)
def test_slurm_unreachable_gives_unknowns_and_no_test_only(site, scripted):
    down = slurm.ControllerUnreachable(["scontrol"], None, "", "")
    fake = scripted({"scontrol --oneliner": down, "squeue --noheader": down})
    got = gather(site, request(cpus=2))
    assert (got.nodes, got.queue, got.capacity, got.expected) == (None, None, {}, None)
    assert len(fake.calls) == 2
    # what the spawner then renders from those inputs: the table says so, the form is whole
    page = Page(
        render_form(site, site.projects_of("bob"), request(cpus=2), got.capacity, {},
                    nodes=got.nodes, queue=got.queue, prices=got.prices, expected=got.expected)
    )  # fmt: skip
    assert "Slurm is not answering" in page.text["aif-slurm-unknown"]
    assert "input" in page.tags and "select" in page.tags
