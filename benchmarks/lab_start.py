"""Start to a usable JupyterLab, with the factory's JupyterLab extension and without it.

Not a timed test: a harness that reports (issue [lab]). It starts the project's own hub on
127.0.0.1:19500 with its own state (never the demo hub on :8000 or the test hub on :18000),
configured by benchmarks/lab_jupyterhub_config.py: the same spawner and site, with one switch
that gives a session a Jupyter config disabling the extension (both its JupyterLab part and
its server part). Both sides are the same user, the same request, the same JupyterLab from the
same venv; the sides alternate (with, without, without, with, ...), and each run uses a fresh
browser context (no HTTP cache carried over), logged in before the clock starts.

For each session, from one clock:

- `ready_s`: from the POST that starts the server until the hub's API says it is ready
  (Slurm's queueing, the batch script, the server's start with or without the server part).
- `usable_s`: from the same POST until real Chromium, which opened /user/<u>/lab as soon as
  the server was ready, shows JupyterLab's launcher: the moment a person can open something.
- `cards_s` (with the extension only): until the launcher's "AI Factory" section has its
  cards, i.e. the extension has loaded, asked its server part, and drawn them.

Then the session is stopped and its Slurm job gone before the next. Only the harness's own
jobs are cancelled. Results: benchmarks/results-lab-start.json (`--out`), and a Markdown table.

    flock /tmp/aifactory-realstack.lock /opt/aifactory/venv/bin/python \
        benchmarks/lab_start.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from benchlib import ROOT, live, run_metadata, stats, wait_gone, wait_ready

from aifactory_hub.ops import cli, localcluster
from aifactory_hub.ops.accounts import apply_site
from aifactory_hub.site import DEMO_SITE, load_site
from tests.browser.conftest import ARGS, CHROMIUM
from tests.stack import HubClient, demo_site_on_port, session_job_ids

PORT = 19500
STATE = Path("/var/lib/aifactory/bench-lab")
PASSWORDS = Path("/var/lib/aifactory/demo-passwords")
CONFIG = Path(__file__).with_name("lab_jupyterhub_config.py")
SERVER_EXTENSION = "aifactory_lab"
PHASES = ("ready_s", "usable_s", "cards_s")
PHASE_NAMES = {
    "ready_s": "Start to server ready (hub API)",
    "usable_s": "Start to JupyterLab's launcher shown (Chromium)",
    "cards_s": "Start to the AI Factory cards shown",
}
LAUNCHER = ".jp-Launcher"
CARDS = ".jp-LauncherCard[data-category='AI Factory']"  # the extension's own category


def lab_package() -> str:
    """The JupyterLab extension's package name, from its own package.json."""
    package = ROOT / "extensions" / "aifactory_lab" / "js" / "package.json"
    return json.loads(package.read_text())["name"]


def write_nolab_config(folder: Path) -> None:
    """A Jupyter config folder that turns the factory's extension off, and nothing else."""
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    disabled = {"disabledExtensions": {lab_package(): True}}
    (folder / "labconfig" / "page_config.json").write_text(json.dumps(disabled))
    server = {"ServerApp": {"jpserver_extensions": {SERVER_EXTENSION: False}}}
    (folder / "jupyter_server_config.json").write_text(json.dumps(server))
    os.chmod(folder, 0o755)  # noqa: S103 - the session runs as the user and reads it
    for path in folder.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def order(repeats: int) -> list[str]:
    """with, without, without, with, ...: each side `repeats` times, alternating first."""
    pairs = [("with", "without") if r % 2 == 0 else ("without", "with") for r in range(repeats)]
    return [side for pair in pairs for side in pair]


def one_session(client: HubClient, pw, state: dict, args, side: str, jobs: set[str]) -> dict:
    user = args.user
    options = {"project": args.project, "cpus": 1, "memory_gb": 1}
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    try:
        context = browser.new_context(storage_state=state, viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        before = session_job_ids(user)
        t0 = time.monotonic()
        resp = client.api("POST", f"/users/{user}/server", user, json=options)
        if resp.status_code not in (201, 202):
            raise RuntimeError(f"spawn ({side}): {resp.status_code} {resp.text[:300]}")
        try:
            wait_ready(client, user, args.timeout)
            ready = time.monotonic()
            tab.goto(f"{client.url}/user/{user}/lab", timeout=args.timeout * 1000)
            tab.wait_for_selector(LAUNCHER, timeout=args.timeout * 1000)
            usable = time.monotonic()
            row = {
                "side": side,
                "job": ",".join(sorted(session_job_ids(user) - before)),
                "ready_s": round(ready - t0, 2),
                "usable_s": round(usable - t0, 2),
            }
            cards = tab.locator(CARDS)
            if side == "with":
                cards.first.wait_for(timeout=args.timeout * 1000)
                row["cards_s"] = round(time.monotonic() - t0, 2)
                row["cards"] = cards.count()
            elif cards.count():
                raise RuntimeError("the extension showed its cards on the side without it")
            # After the clock: the server part is on or off with the lab part.
            answer = requests.get(
                f"{client.url}/user/{user}/aifactory/cards",
                headers={"Authorization": f"token {client.token(user)}"},
                timeout=30,
            ).status_code
            if answer != (200 if side == "with" else 404):
                raise RuntimeError(f"{side}: the server part answered {answer}")
            row["server_part"] = answer
            return row
        finally:
            jobs.update(session_job_ids(user) - before)
            client.stop(user, timeout=120)
    finally:
        browser.close()


def summarise(runs: list[dict]) -> dict:
    out: dict = {}
    for side in ("with", "without"):
        mine = [r for r in runs if r["side"] == side]
        out[side] = {p: stats([r[p] for r in mine]) for p in PHASES if mine and p in mine[0]}
    for phase in ("ready_s", "usable_s"):
        if phase in out["with"] and phase in out["without"]:
            diff = out["with"][phase]["median"] - out["without"][phase]["median"]
            out["with"][phase]["median_minus_without"] = round(diff, 2)
    return out


def table(summary: dict) -> str:
    rows = ["| phase | extension | n | min s | median s | max s | median with - without s |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for phase in PHASES:
        for side in ("with", "without"):
            s = summary[side].get(phase)
            if not s:
                continue
            delta = s.get("median_minus_without")
            delta_text = "-" if delta is None else f"{delta:+.2f}"
            rows.append(f"| {PHASE_NAMES[phase]} | {side} | {s['n']} | {s['min']} | "
                        f"{s['median']} | {s['max']} | {delta_text} |")  # fmt: skip
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="sessions per side")
    parser.add_argument("--user", default="carol", help="a demo researcher")
    parser.add_argument("--project", default="ai-beta", help="one of the user's projects")
    parser.add_argument("--timeout", type=float, default=300.0, help="per step, seconds")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-lab-start.json")))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    demo = load_site(DEMO_SITE)
    localcluster.start(demo)
    passwords = apply_site(demo, PASSWORDS)
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True, mode=0o755)
    nolab, flag = STATE / "nolab", STATE / "nolab.on"
    write_nolab_config(nolab)
    site_file = STATE / "site.toml"
    site_file.write_text(demo_site_on_port(PORT, STATE / "hub"))
    site = load_site(site_file)
    os.environ["AIFACTORY_BENCH_NOLAB_FLAG"] = str(flag)
    os.environ["AIFACTORY_BENCH_NOLAB_DIR"] = str(nolab)
    meta = run_metadata()
    jobs: set[str] = set()
    runs: list[dict] = []
    cli.start_hub(site, str(site_file), config_file=CONFIG)
    try:
        client = HubClient(site, passwords)
        client.token(args.user)
        with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            login = browser.new_page()
            login.goto(f"{client.url}/hub/login")
            login.fill("#username_input", args.user)
            login.fill("#password_input", passwords[args.user])
            login.click("#login_submit")
            login.wait_for_load_state()
            state_file = Path(tmp) / "state.json"
            login.context.storage_state(path=str(state_file))
            browser.close()
            plan = order(args.repeats)
            for n, side in enumerate(plan, 1):
                flag.unlink(missing_ok=True)
                if side == "without":
                    flag.touch()
                print(f"{n}/{len(plan)}: {side}", file=sys.stderr)
                row = one_session(client, pw, str(state_file), args, side, jobs)
                runs.append(row)
                print(f"  {json.dumps(row)}", file=sys.stderr)
                wait_gone(jobs, 60)
    finally:
        cli.stop_hub(site)
        left = live(jobs)
        if left:
            subprocess.run(["scancel", *sorted(left)], check=False, timeout=30)
    summary = summarise(runs)
    result = {
        **meta,
        "command": " ".join(["benchmarks/lab_start.py", *sys.argv[1:]]),
        "user": args.user,
        "project": args.project,
        "session": {"cpus": 1, "memory_gb": 1, "partition": "the project's first"},
        "order": order(args.repeats),
        "runs": runs,
        "summary": summary,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
