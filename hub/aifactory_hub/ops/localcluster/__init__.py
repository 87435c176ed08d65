"""The local "supercomputer": a Slurm 22.05 cluster of several nodes on this machine.

`start` brings up munge, MariaDB, slurmdbd, slurmctld and then one slurmd per node (each waits
until the previous one answers), `stop` takes down exactly what `start` started, `status`
says which daemon or node is up or down and why. All three are idempotent. How the nodes are
laid out (names, addresses, ports) is `conf.local_nodes`.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import secrets
import socket
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aifactory_hub.ops import accounts
from aifactory_hub.ops.localcluster import daemons as d
from aifactory_hub.ops.localcluster import gpus
from aifactory_hub.ops.localcluster.conf import (
    DEFAULT_PATHS,
    HEADER,
    Paths,
    db_password_from,
    fake_gpu_numbers,
    local_nodes,
    real_gpu_problem,
    render_gres_conf,
    render_hosts,
    render_slurm_conf,
    render_slurmdbd_conf,
)
from aifactory_hub.ops.localcluster.confine import MOUNTS, confinement, render_cgroup_conf
from aifactory_hub.site import Site, load_site

__all__ = [
    "DEFAULT_PATHS", "DaemonStatus", "LocalClusterError", "Paths",
    "confinement_line", "short_hostname", "start", "status", "stop",
]  # fmt: skip

log = logging.getLogger(__name__)
LocalClusterError = d.LocalClusterError


@dataclass(frozen=True)
class DaemonStatus:
    name: str
    up: bool
    pid: int | None
    detail: str  # why it is down, or what runs it

    def line(self) -> str:
        """One status line, e.g. "slurmd     up    pid 8757"."""
        return f"{self.name:<12} {'up' if self.up else 'DOWN':<5} {self.detail}"

    __str__ = line


HOSTS = Path("/etc/hosts")


def short_hostname() -> str:
    """This machine's short host name: slurmctld's host, and every node's NodeHostname."""
    return socket.gethostname().split(".")[0]


def start(site: Site | None = None, paths: Paths = DEFAULT_PATHS) -> list[DaemonStatus]:
    """Bring the whole cluster up; a no-op when it already runs with the same config.

    Changed config files are rewritten and only the daemons that read them are restarted.
    Raises LocalClusterError naming the daemon (with its log tail) if one does not come up.
    """
    site = site or load_site()
    _prepare_dirs(paths)
    with _exclusive(paths):
        _start(site, paths)
    return status(site, paths)


def _start(site: Site, paths: Paths) -> None:
    host = short_hostname()
    nodes = [node.name for node in local_nodes(site)]
    real = gpus.detect()
    if real and (problem := real_gpu_problem(site, real)):
        raise LocalClusterError(f"this machine's GPUs and the site file disagree: {problem}")
    _ensure_fake_gpus(site, paths, real)
    _write(HOSTS, render_hosts(site, HOSTS.read_text() if HOSTS.exists() else ""))
    password = _db_password(paths)
    dbd_changed = _write(paths.slurmdbd_conf, render_slurmdbd_conf(site, host, password, paths),
                         mode=0o600, owner="slurm")  # fmt: skip
    # sacctmgr reads slurm.conf to find slurmdbd, so write it before slurmdbd is queried.
    confine = confinement(MOUNTS.read_text())
    ctl_changed = _write(
        paths.slurm_conf, render_slurm_conf(site, host, paths, bool(real), confine)
    )
    ctl_changed |= _write(paths.gres_conf, render_gres_conf(site, paths, real))
    cgroup_conf = render_cgroup_conf(HEADER, confine)
    if cgroup_conf is None:
        ctl_changed |= paths.cgroup_conf.exists()
        paths.cgroup_conf.unlink(missing_ok=True)
    else:
        ctl_changed |= _write(paths.cgroup_conf, cgroup_conf)

    if d.running_pid(d.MUNGED, paths) is None and d.munge_works() is not None:
        _started(d.MUNGED, paths, d.start_munged)
    if d.running_pid(d.MARIADB, paths) is None and d.mariadb_works() is not None:
        _started(d.MARIADB, paths, d.start_mariadb)
    d.ensure_database(password)
    _restart_if(dbd_changed, d.SLURMDBD, paths)
    if d.running_pid(d.SLURMDBD, paths) is None:
        _started(d.SLURMDBD, paths, d.start_slurmdbd)
    accounts.ensure_cluster(site)
    # Node or partition changes need both slurmctld and every slurmd to restart in 22.05
    # (`scontrol reconfigure` cannot add or resize nodes); running jobs survive this. A node
    # the site no longer has loses its slurmd.
    for daemon in d.slurmds_started(paths):
        _restart_if(ctl_changed or daemon.node not in nodes, daemon, paths)
    _restart_if(ctl_changed, d.SLURMCTLD, paths)
    if d.running_pid(d.SLURMCTLD, paths) is None:
        _started(d.SLURMCTLD, paths, d.start_slurmctld)
    for node in nodes:
        _dir(paths.slurmd_spool / node)
        daemon = d.slurmd(node)
        if d.running_pid(daemon, paths) is None:
            _started(daemon, paths, lambda p, node=node: d.start_slurmd(p, node))
        else:
            d.wait_for(daemon, paths, lambda node=node: d.node_problem(node, resume=True), 60)


def stop(paths: Paths = DEFAULT_PATHS) -> list[str]:
    """Stop the daemons `start` started (found by our pid files), in reverse order.

    Daemons this package did not start (e.g. a system munged) are left alone. Returns one
    line per daemon stopped, e.g. "slurmd: stopped (pid 8757)".
    """
    stopped = []
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(paths):
        for daemon in [*reversed(d.slurmds_started(paths)), *reversed(d.SERVICES)]:
            pid = d.running_pid(daemon, paths)
            if pid is None:
                continue
            log.info("%s: stopping pid %d", daemon.name, pid)
            if daemon is d.MARIADB:
                d.stop_mariadb(pid, paths)
            else:
                d.terminate(daemon, pid, paths)
            stopped.append(f"{daemon.name}: stopped (pid {pid})")
    return stopped


def status(site: Site | None = None, paths: Paths = DEFAULT_PATHS) -> list[DaemonStatus]:
    """One entry per daemon, in start order, then one per node (its slurmd, and whether
    slurmctld lets it run jobs): up or down, and why."""
    site = site or load_site()
    checks: dict[d.Daemon, Callable[[], str | None]] = {
        d.MUNGED: d.munge_works,
        d.MARIADB: d.mariadb_works,
        d.SLURMDBD: d.accounting_up,
        d.SLURMCTLD: d.controller_up,
    }
    every_node = functools.cache(d.node_states)  # one scontrol call for all the nodes
    for node in local_nodes(site):
        checks[d.slurmd(node.name)] = lambda name=node.name: d.node_problem(name, states=every_node)
    result = []
    for daemon, check in checks.items():
        pid = d.running_pid(daemon, paths)
        # munge and MariaDB may be system services someone else started: ask them directly.
        # A Slurm daemon without our pid file cannot be ours, so do not wait on a probe.
        shared = daemon in (d.MUNGED, d.MARIADB)
        problem = check() if pid is not None or shared else None
        if pid is None and (not shared or problem is not None):
            problem = f"not running (no live process in {daemon.pid_file(paths)})"
        if problem is not None:
            result.append(DaemonStatus(daemon.name, False, pid, problem))
        else:
            detail = f"pid {pid}" if pid else "running, not started by aifactory (left alone)"
            result.append(DaemonStatus(daemon.name, True, pid, detail))
    return result


def confinement_line(paths: Paths = DEFAULT_PATHS) -> str:
    """How this cluster confines jobs, for `aifactory status` (see `confine`)."""
    confine = confinement(MOUNTS.read_text())
    if confine.cgroup_v1 and not paths.cgroup_conf.exists():
        return "jobs NOT confined yet: no cgroup.conf (`up` writes one: this machine allows it)"
    return confine.detail


@contextmanager
def _exclusive(paths: Paths) -> Iterator[None]:
    """One start/stop at a time (e.g. `aifactory up` while a test session starts the cluster):
    two concurrent starts would both see a daemon missing and launch it twice."""
    with open(paths.run_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _started(daemon: d.Daemon, paths: Paths, start_fn: Callable[[Paths], None]) -> None:
    log.info("%s: starting", daemon.name)
    start_fn(paths)
    log.info("%s: up (pid %s)", daemon.name, d.running_pid(daemon, paths))


def _restart_if(changed: bool, daemon: d.Daemon, paths: Paths) -> None:
    pid = d.running_pid(daemon, paths)
    if changed and pid is not None:
        log.info("%s: config changed, restarting", daemon.name)
        d.terminate(daemon, pid, paths)


def _db_password(paths: Paths) -> str:
    """Keep the password already in slurmdbd.conf; make one on first start."""
    try:
        existing = db_password_from(paths.slurmdbd_conf.read_text())
    except OSError:
        existing = None
    return existing or secrets.token_urlsafe(24)


def _write(path: Path, text: str, mode: int = 0o644, owner: str = "root") -> bool:
    """Write `text` if it differs (atomically); fix owner and mode. True if content changed."""
    try:
        changed = path.read_text() != text
    except OSError:
        changed = True
    if changed:
        tmp = path.with_name(f".{path.name}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
        log.info("wrote %s", path)
    _own(path, owner, mode)
    return changed


def _own(path: Path, owner: str, mode: int) -> None:
    uid, gid = d._ids(owner)
    os.chown(path, uid, gid)
    path.chmod(mode)


def _dir(path: Path, owner: str = "root", mode: int = 0o755) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _own(path, owner, mode)


def _prepare_dirs(paths: Paths) -> None:
    """Directories and log files, each owned by the user that must write it after setuid."""
    for path in (paths.conf_dir, paths.state_dir, paths.log_dir, paths.run_dir):
        _dir(path)
    _dir(paths.slurm_log_dir, "slurm")
    _dir(paths.ctld_state, "slurm", 0o700)
    _dir(paths.slurmd_spool, "root", 0o755)
    _dir(paths.slurmd_pid_file("x").parent, "root")
    _dir(paths.fake_gpu_dir)
    _dir(Path("/run/munge"), "munge")  # munged's socket lives here
    _dir(d.MYSQL_SOCKET_DIR, "mysql")  # the MariaDB socket lives here
    for daemon in d.SERVICES:
        _dir(daemon.pid_file(paths).parent, daemon.user)
        logfile = daemon.log_file(paths)
        logfile.touch(exist_ok=True)
        _own(logfile, daemon.user, 0o640)


def _ensure_fake_gpus(site: Site, paths: Paths, real: list[gpus.Gpu]) -> None:
    """One character device per simulated GPU (`conf.fake_gpu_numbers`); remove extras (all
    of them when the machine's real GPUs are used)."""
    wanted = {} if real else fake_gpu_numbers(site, paths)
    for path, number in wanted.items():
        try:
            info = path.lstat()
            ok = stat.S_ISCHR(info.st_mode) and info.st_rdev == number
        except FileNotFoundError:
            ok = False
        if not ok:
            path.unlink(missing_ok=True)
            os.mknod(path, 0o666 | stat.S_IFCHR, number)
        path.chmod(0o666)
    for path in paths.fake_gpu_dir.iterdir():
        if path not in wanted:
            path.unlink()
