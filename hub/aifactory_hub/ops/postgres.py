"""A local PostgreSQL server for the factory store, run without systemd.

`start` initialises a data directory once and starts a server as the `postgres` OS user,
listening on 127.0.0.1 only. Its unix socket lives in the data directory (mode 0700): only
`postgres` and root reach it, with peer authentication; everyone else needs the store
role's password over TCP. It then makes the store's role and database and returns their
URL. `stop` stops the server of one data directory, and nothing else. Both are idempotent:
a server already running on that directory is reused.

Used by the store's tests (a throw-away server) and by sites that want PostgreSQL on the
hub's machine (a persistent one). Commands go through `slurm.run`, the one command runner.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy.engine import URL

from aifactory_hub import slurm
from aifactory_hub.ops.localcluster.daemons import log_tail

PG_ROOT = Path("/usr/lib/postgresql")  # Debian: one <version>/bin per installed server
OS_USER = "postgres"
HOST = "127.0.0.1"

# Names and passwords are put into SQL and URLs, and pg_ctl hands -o options to a shell:
# only plain characters pass, so nothing needs quoting anywhere.
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PASSWORD = re.compile(r"^[A-Za-z0-9_.~-]{16,128}$")
_PATH = re.compile(r"^/[A-Za-z0-9_./-]+$")
_SETTING = re.compile(r"^[a-z_]+=[A-Za-z0-9_.]+$")


class PostgresError(RuntimeError):
    """The server could not be set up, started or stopped; the message says why."""


def bin_dir(root: Path = PG_ROOT) -> Path:
    """The bin directory of the newest installed server, e.g. /usr/lib/postgresql/15/bin."""
    found = []
    for child in root.iterdir() if root.is_dir() else ():
        # A client-only install has a bin directory too, but no server.
        if child.name.isdigit() and (child / "bin" / "postgres").is_file():
            found.append((int(child.name), child / "bin"))  # numeric: 9 < 15 < 16
    if not found:
        raise PostgresError(f"no PostgreSQL server under {root}: apt-get install postgresql")
    return max(found)[1]


def url(role: str, password: str, port: int, database: str) -> str:
    """The SQLAlchemy URL of `database` on the local server (psycopg 3, TCP, 127.0.0.1)."""
    address = URL.create("postgresql+psycopg", role, password, HOST, port, database)
    return address.render_as_string(hide_password=False)


def start(
    data_dir: Path,
    port: int = 5432,
    *,
    role: str,
    password: str,
    database: str,
    log_file: Path | None = None,
    settings: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> str:
    """Start (or reuse) the server of `data_dir` on 127.0.0.1:`port`, make sure `role` (with
    `password`) owns `database`, and return that database's URL.

    `settings` are extra server settings (e.g. {"fsync": "off"} for a throw-away server);
    `log_file` defaults to server.log in the data directory.
    """
    _check(_PATH, str(data_dir), "data directory")
    _check(_NAME, role, "role")
    _check(_NAME, database, "database")
    _check(_PASSWORD, password, "password (16-128 of A-Z a-z 0-9 _ . ~ -)")
    if not 1024 <= port <= 65535:
        raise ValueError(f"port {port} is not in 1024..65535")
    state = _status(data_dir)
    if state == "no data directory":
        _initdb(data_dir)
    if state != "running":
        _start(data_dir, port, log_file or data_dir / "server.log", settings or {}, timeout)
    elif (running := running_port(data_dir)) not in (None, port):
        raise PostgresError(f"{data_dir}: already running on port {running}, not {port}")
    ensure_role(data_dir, port, role, password)
    ensure_database(data_dir, port, database, owner=role)
    return url(role, password, port, database)


def stop(data_dir: Path, timeout: float = 60.0) -> None:
    """Stop the server of `data_dir` (fast shutdown: sessions are cut, data is safe)."""
    if _status(data_dir) != "running":
        return
    argv = [str(bin_dir() / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w"]
    try:
        _run([*argv, "-t", str(int(timeout))], timeout=timeout + 10)
    except slurm.SlurmError as exc:
        raise PostgresError(f"{data_dir}: could not stop the server: {exc}") from None


def is_running(data_dir: Path) -> bool:
    return _status(data_dir) == "running"


def running_port(data_dir: Path) -> int | None:
    """The port of the running server, from postmaster.pid (None if we cannot read it)."""
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


def ensure_role(data_dir: Path, port: int, role: str, password: str) -> None:
    """Create the login role if it is missing; (re)set its password. Not a superuser."""
    _check(_NAME, role, "role")
    if role == OS_USER:
        raise ValueError(f"the store's role must not be the superuser {OS_USER!r}")
    _check(_PASSWORD, password, "password")
    psql(
        data_dir,
        port,
        f"SELECT 'CREATE ROLE {role}' WHERE NOT EXISTS"  # noqa: S608 - checked against _NAME
        f" (SELECT FROM pg_roles WHERE rolname = '{role}')\\gexec\n"
        f"ALTER ROLE {role} LOGIN PASSWORD '{password}';\n",
    )


def ensure_database(data_dir: Path, port: int, database: str, owner: str) -> None:
    """Create `database` owned by `owner` if it is missing."""
    _check(_NAME, database, "database")
    _check(_NAME, owner, "owner")
    psql(
        data_dir,
        port,
        f"SELECT 'CREATE DATABASE {database} OWNER {owner}' WHERE NOT EXISTS"  # noqa: S608
        f" (SELECT FROM pg_database WHERE datname = '{database}')\\gexec\n",
    )


def psql(data_dir: Path, port: int, script: str, timeout: float = 30.0) -> str:
    """Run an SQL script as the `postgres` superuser over the data directory's socket; the
    script goes on stdin, so passwords never show in the process list."""
    argv = [
        str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres",
        "-U", OS_USER, "-h", str(data_dir), "-p", str(port),
    ]  # fmt: skip
    try:
        return _run(argv, input=script, timeout=timeout).stdout
    except slurm.SlurmError as exc:
        raise PostgresError(f"psql on {data_dir}: {exc}") from None


def _run(argv: Sequence[str], **kwargs) -> slurm.CommandResult:
    return slurm.run(argv, run_as=slurm.RunAs.lookup(OS_USER), **kwargs)


def _status(data_dir: Path) -> str:
    """What `pg_ctl status` says (exit 0, 3, else): running, stopped, no data directory."""
    result = _run([str(bin_dir() / "pg_ctl"), "status", "-D", str(data_dir)], check=False)
    return {0: "running", 3: "stopped"}.get(result.returncode, "no data directory")


def _initdb(data_dir: Path) -> None:
    if os.geteuid() == 0:  # else the parent must be writable by postgres: initdb makes it
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(data_dir, *_ids())
    argv = [
        str(bin_dir() / "initdb"), "-D", str(data_dir), "-U", OS_USER, "-E", "UTF8",
        "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=scram-sha-256",
        "--no-instructions",
    ]  # fmt: skip
    try:
        _run(argv, timeout=180)
    except slurm.SlurmError as exc:
        raise PostgresError(f"initdb {data_dir}: {exc}") from None


def _start(
    data_dir: Path, port: int, log_file: Path, settings: Mapping[str, str], timeout: float
) -> None:
    _check(_PATH, str(log_file), "log file")
    options = [f"listen_addresses={HOST}", f"unix_socket_directories={data_dir}"]
    options += [f"{key}={value}" for key, value in settings.items()]
    for option in options[2:]:
        _check(_SETTING, option, "setting")
    if os.geteuid() == 0 and not log_file.exists():
        log_file.touch(mode=0o600)
        os.chown(log_file, *_ids())
    argv = [
        str(bin_dir() / "pg_ctl"), "start", "-D", str(data_dir), "-l", str(log_file),
        "-w", "-t", str(int(timeout)),
        "-o", " ".join([f"-p {port}", *(f"-c {option}" for option in options)]),
    ]  # fmt: skip
    try:
        _run(argv, timeout=timeout + 10)
    except slurm.SlurmError as exc:
        raise PostgresError(
            f"{data_dir}: the server did not start: {exc}\n"
            f"--- last lines of {log_file} ---\n{log_tail(log_file)}"
        ) from None


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not pattern.fullmatch(value):  # fullmatch: '$' alone would let a final newline in
        raise ValueError(f"invalid {what}: {value!r}")


def _ids() -> tuple[int, int]:
    entry = slurm.RunAs.lookup(OS_USER)
    return entry.uid, entry.gid
