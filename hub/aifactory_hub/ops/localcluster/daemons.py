"""Start, probe and stop the local cluster's daemons without systemd.

Each daemon runs detached (its own session, output appended to its log file) so it outlives
the process that started it. "Running" means: the pid in our pid file is a live process
with the expected name. Every wait is bounded and fails with the daemon's name and the tail
of its log, because "timed out" alone never tells anyone what to fix.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aifactory_hub import slurm
from aifactory_hub.ops.localcluster.conf import DB_NAME, DB_USER, Paths
from aifactory_hub.slurm import capacity, nodes, sacctmgr

log = logging.getLogger(__name__)
MUNGE_KEY = Path("/etc/munge/munge.key")
MYSQL_SOCKET_DIR = Path("/run/mysqld")
MYSQL_DATADIR = Path("/var/lib/mysql")

# Daemons get a clean environment: nothing of the caller's (SLURM_CONF, PYTHONPATH, ...)
# should change how they run, and /usr/sbin must be on PATH even if the caller lacks it.
DAEMON_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

# Live Popen objects of daemons started by this process: keeps Python from warning that a
# child is "still running" and lets us notice a daemon that exits during its start-up wait.
_CHILDREN: dict[str, subprocess.Popen] = {}


class LocalClusterError(RuntimeError):
    """A daemon could not be started or stopped; the message names it and shows its log."""


@dataclass(frozen=True)
class Daemon:
    """A daemon we manage: its name, its process names in /proc, who owns its files, and for
    a node's slurmd, the node."""

    name: str
    comms: tuple[str, ...]
    user: str
    node: str = ""

    def pid_file(self, paths: Paths) -> Path:
        return paths.slurmd_pid_file(self.node) if self.node else paths.pid_file(self.name)

    def log_file(self, paths: Paths) -> Path:
        return paths.slurmd_log_file(self.node) if self.node else paths.log_file(self.name)


MUNGED = Daemon("munged", ("munged",), "munge")
MARIADB = Daemon("mariadb", ("mariadbd", "mysqld"), "mysql")
SLURMDBD = Daemon("slurmdbd", ("slurmdbd",), "slurm")
SLURMCTLD = Daemon("slurmctld", ("slurmctld",), "slurm")
SERVICES = (MUNGED, MARIADB, SLURMDBD, SLURMCTLD)  # start order; then a slurmd per node


def slurmd(node: str) -> Daemon:
    """The slurmd of local node `node` (`slurmd -N node`)."""
    return Daemon(f"slurmd {node}", ("slurmd",), "root", node)


def slurmds_started(paths: Paths) -> list[Daemon]:
    """The slurmd of every node that has a pid file of ours, whatever the site says now (a
    node the site no longer has must still be stopped)."""
    folder = paths.slurmd_pid_file("x").parent
    names = sorted(p.name[len("slurmd-") : -len(".pid")] for p in folder.glob("slurmd-*.pid"))
    # The one slurmd of the single-node cluster this one was before (slurmd/slurmd.pid).
    single = [SINGLE_NODE_SLURMD] if SINGLE_NODE_SLURMD.pid_file(paths).exists() else []
    return [*single, *(slurmd(name) for name in names)]


SINGLE_NODE_SLURMD = Daemon("slurmd", ("slurmd",), "root")


# --- processes -------------------------------------------------------------------------


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None if the file is missing or garbled."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def is_alive(pid: int, comms: Sequence[str] = ()) -> bool:
    """True if `pid` is a running (not zombie) process whose name starts with one of `comms`
    (any name when `comms` is empty).

    The name check keeps a stale pid file from making us trust, or kill, a recycled pid.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # /proc/PID/stat is "pid (comm) state ..."; comm may contain spaces, so split on ')'.
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat[stat.rindex(")") + 2 :].split()[0]
    named = not comms or any(comm.startswith(c[:15]) for c in comms)
    return state not in ("Z", "X") and named


def running_pid(daemon: Daemon, paths: Paths) -> int | None:
    """The pid of our running instance of `daemon`, or None."""
    pid = read_pid(daemon.pid_file(paths))
    return pid if pid is not None and is_alive(pid, daemon.comms) else None


def spawn(daemon: Daemon, argv: Sequence[str], paths: Paths) -> subprocess.Popen:
    """Start `argv` detached from us: new session, stdin closed, output appended to its log."""
    # A stale pid file from a crash would make a fresh daemon look dead (see wait_for).
    daemon.pid_file(paths).unlink(missing_ok=True)
    with open(daemon.log_file(paths), "ab") as logfile:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
            env=DAEMON_ENV,
            close_fds=True,
        )
    _CHILDREN[daemon.name] = proc
    return proc


def spawn_forking(daemon: Daemon, argv: Sequence[str], paths: Paths, timeout: float) -> None:
    """Start a daemon that forks into the background; wait for the starter to exit 0.

    Forking (rather than -D/--foreground) keeps the daemons from copying every log line
    to stderr, i.e. into our log file a second time; anything printed before the fork
    (config errors) still lands in the log.
    """
    proc = spawn(daemon, argv, paths)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise failure(daemon, paths, f"did not detach within {timeout:.0f}s") from None
    finally:
        _CHILDREN.pop(daemon.name, None)
    if code != 0:
        raise failure(daemon, paths, f"exited with code {code} while starting")


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def failure(daemon: Daemon, paths: Paths, what: str) -> LocalClusterError:
    logfile = daemon.log_file(paths)
    tail = log_tail(logfile)
    return LocalClusterError(f"{daemon.name}: {what}\n--- last lines of {logfile} ---\n{tail}")


def wait_for(
    daemon: Daemon,
    paths: Paths,
    ready: Callable[[], str | None],
    timeout: float,
    proc: subprocess.Popen | None = None,
) -> None:
    """Poll `ready` (None = ready, else the reason it is not) until it passes or time is up.

    If the daemon dies meanwhile (its pid file names a dead process, or the foreground
    process `proc` exited), fail at once instead of waiting out the timeout.
    """
    deadline = time.monotonic() + timeout
    reason = "not checked yet"
    while time.monotonic() < deadline:
        reason = ready()
        if reason is None:
            return
        if proc is not None and proc.poll() is not None:
            raise failure(daemon, paths, f"exited with code {proc.returncode} while starting")
        if daemon.pid_file(paths).exists() and running_pid(daemon, paths) is None:
            raise failure(daemon, paths, "died while starting")
        time.sleep(0.5)
    raise failure(daemon, paths, f"not ready after {timeout:.0f}s: {reason}")


def terminate(daemon: Daemon, pid: int, paths: Paths, timeout: float = 30.0) -> None:
    """SIGTERM `pid`, wait for it to exit; SIGKILL as a last resort (then still an error)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _gone(daemon, pid, timeout):
        return
    os.kill(pid, signal.SIGKILL)
    if not _gone(daemon, pid, 5.0):
        raise failure(daemon, paths, f"pid {pid} survived SIGTERM and SIGKILL")


def _gone(daemon: Daemon, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child = _CHILDREN.get(daemon.name)
        if child is not None and child.pid == pid:
            child.poll()  # reap our own child so it does not linger as a zombie
        if not is_alive(pid, daemon.comms):
            _CHILDREN.pop(daemon.name, None)
            return True
        time.sleep(0.2)
    return False


def probe(argv: Sequence[str], timeout: float = 15.0) -> str | None:
    """Run a check command; None if it succeeded, else the last line it printed."""
    try:
        slurm.run(argv, timeout=timeout)
    except slurm.SlurmError as exc:
        return str(exc)
    return None


# --- munge -----------------------------------------------------------------------------


def ensure_munge_key() -> None:
    """Create the munge key once; munged refuses to start without it."""
    if MUNGE_KEY.exists():
        return
    slurm.run(["/usr/sbin/mungekey", "--create", f"--keyfile={MUNGE_KEY}"])
    os.chown(MUNGE_KEY, *_ids("munge"))
    MUNGE_KEY.chmod(0o600)


def munge_works() -> str | None:
    return probe(["munge", "-n"], timeout=10)


def start_munged(paths: Paths, timeout: float = 20.0) -> None:
    ensure_munge_key()
    argv = [
        "/usr/sbin/runuser", "-u", "munge", "--", "/usr/sbin/munged",
        f"--pid-file={MUNGED.pid_file(paths)}", f"--log-file={MUNGED.log_file(paths)}",
    ]  # fmt: skip
    # munged forks by itself; runuser returns once the daemon is set up.
    spawn_forking(MUNGED, argv, paths, timeout)
    wait_for(MUNGED, paths, munge_works, timeout)


# --- MariaDB ---------------------------------------------------------------------------


def mariadb_works() -> str | None:
    return probe(["mysqladmin", "--connect-timeout=5", "ping"], timeout=10)


def start_mariadb(paths: Paths, timeout: float = 90.0) -> None:
    if not (MYSQL_DATADIR / "mysql").is_dir():
        slurm.run(["mariadb-install-db", "--user=mysql", f"--datadir={MYSQL_DATADIR}"], timeout=120)
    argv = [
        "/usr/bin/mysqld_safe", "--user=mysql",
        "--bind-address=127.0.0.1", "--skip-networking=0",
        # The Debian config logs to syslog, which this machine does not run.
        "--skip-syslog", f"--log-error={MARIADB.log_file(paths)}",
        f"--pid-file={MARIADB.pid_file(paths)}",
        # slurmdbd 22.05 logs "Database settings not recommended values" below these
        # (1 GiB buffer pool, 900 s lock wait); the pool's memory is only used as it fills.
        "--innodb-lock-wait-timeout=900", "--innodb-buffer-pool-size=1G",
    ]  # fmt: skip
    proc = spawn(MARIADB, argv, paths)
    wait_for(MARIADB, paths, mariadb_works, timeout, proc)


def ensure_database(password: str) -> None:
    """Create the accounting database and its user; (re)set the password. Idempotent."""
    sql = (
        f"CREATE DATABASE IF NOT EXISTS {DB_NAME};\n"
        f"CREATE USER IF NOT EXISTS '{DB_USER}'@'localhost' IDENTIFIED BY '{password}';\n"
        f"ALTER USER '{DB_USER}'@'localhost' IDENTIFIED BY '{password}';\n"
        f"GRANT ALL PRIVILEGES ON {DB_NAME}.* TO '{DB_USER}'@'localhost';\n"
    )
    # root logs in through the unix socket (unix_socket auth), so no root password exists.
    slurm.run(["mysql", "-u", "root"], input=sql)


def stop_mariadb(pid: int, paths: Paths, timeout: float = 60.0) -> None:
    """A clean shutdown via mysqladmin (mysqld_safe then exits too); SIGTERM if that fails."""
    safe = _CHILDREN.pop(MARIADB.name, None)  # mysqld_safe, if this process started it
    slurm.run(["mysqladmin", "shutdown"], timeout=timeout, check=False)
    if not _gone(MARIADB, pid, timeout):
        terminate(MARIADB, pid, paths)
    if safe is not None:
        try:
            safe.wait(10)  # reap it, or it lingers as a zombie in a long-lived caller
        except subprocess.TimeoutExpired:
            log.warning("mariadb: mysqld_safe (pid %d) has not exited yet", safe.pid)


# --- Slurm daemons ---------------------------------------------------------------------


def start_slurmdbd(paths: Paths, timeout: float = 60.0) -> None:
    spawn_forking(SLURMDBD, ["/usr/sbin/slurmdbd"], paths, timeout)
    wait_for(SLURMDBD, paths, accounting_up, timeout)


def accounting_up() -> str | None:
    """None if slurmdbd answers sacctmgr, else why not."""
    return probe(sacctmgr.clusters_query())


def start_slurmctld(paths: Paths, timeout: float = 60.0) -> None:
    spawn_forking(SLURMCTLD, ["/usr/sbin/slurmctld"], paths, timeout)
    wait_for(SLURMCTLD, paths, controller_up, timeout)


def controller_up() -> str | None:
    try:
        out = slurm.run(nodes.ping_argv(), timeout=15, check=False).stdout
    except slurm.SlurmError as exc:
        return str(exc)
    return (
        None if nodes.controller_answers(out) else (out.strip() or "scontrol ping printed nothing")
    )


def start_slurmd(paths: Paths, node: str, timeout: float = 60.0) -> None:
    daemon = slurmd(node)
    spawn_forking(daemon, ["/usr/sbin/slurmd", "-N", node], paths, timeout)
    wait_for(daemon, paths, lambda: node_problem(node, resume=True), timeout)


def node_states(node: str | None = None) -> dict[str, tuple[str, str]]:
    """{node: (State, Reason)} as slurmctld sees them, e.g. {"cpu1": ("IDLE", "")}: every
    node's in one `scontrol show node`, or only `node`'s."""
    out = slurm.run(nodes.show_nodes_argv(node), timeout=15).stdout
    return {info.name: (info.state, info.reason) for info in capacity.parse_node_list(out)}


def node_problem(
    node: str,
    resume: bool = False,
    states: Callable[[], dict[str, tuple[str, str]]] | None = None,
) -> str | None:
    """None if the node can run jobs, else why not. With `resume`, undrain a down node.
    `states` reads the nodes' states (default: ask slurmctld about this one node), so a caller
    checking every node can read them all with one call.

    After slurmd or slurmctld restarts, 22.05 may leave the node DOWN ("Node unexpectedly
    rebooted") or DRAINED; this machine has nothing else to do, so we put it back.
    """
    try:
        known = states() if states is not None else node_states(node)
    except slurm.SlurmError as exc:
        return str(exc)
    state, reason = known.get(node, ("UNKNOWN", "not known to slurmctld"))
    if nodes.node_usable(state):
        return None
    if resume and nodes.node_out_of_service(state):
        log.info("slurmd: node %s is %s (%s): resuming it", node, state, reason)
        slurm.run(nodes.resume_node_argv(node), check=False)
    return f"node {node} is {state}" + (f" ({reason})" if reason else "")


def _ids(user: str) -> tuple[int, int]:
    entry = slurm.RunAs.lookup(user)
    return entry.uid, entry.gid
