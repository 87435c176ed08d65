"""`aifactory` command: bring the local AI factory up or down, say what is down, run the tests.

hub/bin/aifactory installs the system parts first and then calls this module.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from aifactory_hub.hubside.batch import JOB_NAME
from aifactory_hub.ops import localcluster
from aifactory_hub.ops.accounts import apply_site
from aifactory_hub.ops.localcluster.daemons import is_alive
from aifactory_hub.site import SITE_ENV, Site, SiteError, load_site, paths
from aifactory_hub.slurm.jobs import scancel_named_argv

PASSWORDS = Path("/var/lib/aifactory/demo-passwords")


def _say(text: str) -> None:
    print(f"aifactory: {text}", file=sys.stderr, flush=True)


def _hub_pidfile(site: Site) -> Path:
    return Path(site.hub.state_dir) / "hub.pid"


def hub_log(site: Site) -> Path:
    return Path(site.hub.state_dir) / "jupyterhub.log"


def hub_pid(site: Site) -> int | None:
    try:
        pid = int(_hub_pidfile(site).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"jupyterhub" in cmdline else None


def hub_answers(site: Site, timeout: float = 5.0) -> bool:
    url = site.hub.bind_url.rstrip("/") + "/hub/api/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own hub URL
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


HUB_CONFIG = Path(__file__).parents[1] / "jupyterhub_config.py"


def start_hub(
    site: Site, site_file: str, timeout: float = 120.0, config_file: Path = HUB_CONFIG
) -> int:
    """Start JupyterHub in the background (idempotent); return its pid once it answers."""
    pid = hub_pid(site)
    if pid and hub_answers(site):
        return pid
    state = Path(site.hub.state_dir)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = dict(os.environ, **{SITE_ENV: site_file} if site_file else {})
    log = open(hub_log(site), "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config_file)],
        cwd=state,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    _hub_pidfile(site).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the hub exited with {proc.returncode}; see {hub_log(site)}")
        if hub_answers(site, timeout=2):
            return proc.pid
        time.sleep(0.5)
    raise RuntimeError(f"the hub did not answer within {timeout:.0f} s; see {hub_log(site)}")


def stop_hub(site: Site) -> bool:
    pid = hub_pid(site)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(300):
        if exited(pid):
            break
        time.sleep(0.1)
    _hub_pidfile(site).unlink(missing_ok=True)
    return True


def exited(pid: int) -> bool:
    """True once `pid` has ended (reaping it if it is our own child, so no zombie remains)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    return not is_alive(pid)


def passwords() -> dict[str, str]:
    if not PASSWORDS.exists():
        return {}
    pairs = (line.split(" ", 1) for line in PASSWORDS.read_text().splitlines() if " " in line)
    return {user: pw for user, pw in pairs}


def print_logins(site: Site) -> None:
    pw = passwords()
    print(f"\nAI Factory Hub is up: open {site.hub.bind_url}/hub/login")
    print(f"Staff console (support, reviewers, trainers): {site.hub.bind_url}/services/console/\n")
    print(f"{'user':<8} {'password':<22} {'roles':<12} projects")
    for user in site.users:
        projects = ", ".join(p.account for p in site.projects_of(user.name)) or "-"
        print(f"{user.name:<8} {pw.get(user.name, '?'):<22} {','.join(user.roles):<12} {projects}")
    print(f"\nPasswords are kept in {PASSWORDS} (root only). Stop with: hub/bin/aifactory down\n")


def bring_up_cluster(site: Site) -> None:
    if site.site.local_cluster:
        _say("starting the local Slurm cluster (munge, MariaDB, slurmdbd, slurmctld, slurmd)")
        localcluster.start(site)
        _say("creating demo users and Slurm accounts")
        apply_site(site, PASSWORDS)
    else:
        _say("site has its own Slurm cluster: nothing to start here")


def seed_demo(site: Site) -> None:
    """Fill the local demo factory through its own API (ops.demo); a failed step is reported
    and `up` goes on: the hub and the logins matter more than the demo's contents."""
    if not site.site.local_cluster:
        return  # a real site's factory gets no demo requests, projects or jobs
    from aifactory_hub.ops import demo

    _say("making the demo (calls, requests, projects, jobs, a ticket, a workshop) through the API")
    print("\n".join(demo.seed(site, passwords()).lines()))


def cmd_up(args: argparse.Namespace, site: Site) -> int:
    bring_up_cluster(site)
    _say("starting JupyterHub")
    start_hub(site, args.site or "")
    seed_demo(site)
    print_logins(site)
    return 0


def cmd_down(args: argparse.Namespace, site: Site) -> int:
    if stop_hub(site):
        _say("hub stopped")
    if site.site.local_cluster:
        # Sessions are Slurm jobs: end them before the daemons so nothing is left running.
        subprocess.run(scancel_named_argv(JOB_NAME), capture_output=True, check=False)
        for line in localcluster.stop():
            _say(line)
    return 0


def cmd_status(args: argparse.Namespace, site: Site) -> int:
    down = 0
    if site.site.local_cluster:
        for daemon in localcluster.status(site):
            print(daemon)
            down += not daemon.up
        print(f"{'jobs':<12} {localcluster.confinement_line()}")
    pid = hub_pid(site)
    answers = hub_answers(site)
    state = "up" if answers else "down"
    why = "" if answers else (" (process running but not answering)" if pid else " (not running)")
    print(f"jupyterhub   {state}{why} {site.hub.bind_url}")
    return 1 if down or not answers else 0


def cmd_test(args: argparse.Namespace, site: Site) -> int:
    # The session fixtures start the local cluster and apply the demo site (idempotently),
    # so a direct `pytest` run and this command bring up the same thing, once.
    root = paths.checkout()
    if root is None:
        raise RuntimeError("the test suite is in a development checkout (pip install -e .)")
    env = dict(os.environ)
    env.setdefault("AIFACTORY_ARTIFACTS", str(root / "test-artifacts"))
    argv = [sys.executable, "-m", "pytest", *args.pytest_args]
    _say("running the test suite: " + " ".join(argv[1:]))
    return subprocess.call(argv, cwd=root, env=env)


def cmd_sudoers(args: argparse.Namespace, site: Site) -> int:
    """Print (or, with --install, validate and write) the sudo rules of a non-root hub."""
    from aifactory_hub.ops import sudoers

    try:
        text = sudoers.render(args.hub_user)
        if not args.install:
            sudoers.validate(text)
            print(text, end="")
            return 0
        path = sudoers.install(text, Path(args.file))
    except sudoers.SudoersError as exc:
        _say(f"error: {exc}")
        return 1
    _say(f"wrote {path}: {args.hub_user} may run sbatch and scancel as members of the group")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aifactory", description=__doc__)
    parser.add_argument("--site", help="site file (default: $AIFACTORY_SITE or the local demo)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the local AI factory and print where to log in")
    sub.add_parser("down", help="stop the hub and the local Slurm cluster")
    sub.add_parser("status", help="say which part is down (exit 1 if any)")
    test = sub.add_parser("test", help="run the whole test suite (all tiers)")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    rules = sub.add_parser("sudoers", help="sudo rules for a hub that does not run as root")
    rules.add_argument("--hub-user", required=True, help="the hub's service account")
    rules.add_argument("--install", action="store_true", help="validate and write --file")
    rules.add_argument("--file", default="/etc/sudoers.d/aifactory-hub", help="where to write")
    args = parser.parse_args(argv)
    try:
        site = load_site(args.site)
    except SiteError as exc:
        _say(str(exc))
        return 2
    if args.site:
        os.environ[SITE_ENV] = str(Path(args.site).resolve())
        args.site = os.environ[SITE_ENV]
    handler = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "test": cmd_test,
               "sudoers": cmd_sudoers}  # fmt: skip
    try:
        return handler[args.command](args, site)
    except RuntimeError as exc:
        _say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
