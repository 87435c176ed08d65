"""Render the local cluster's Slurm configuration from the site file.

Pure functions only: the site, the node's short host name and the paths go in, file text
comes out. Nothing here touches the disk, so every line can be checked in a unit test;
`daemons` writes the text and starts the daemons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from aifactory_hub.site import Partition, Site

HEADER = "# managed by aifactory: rewritten by `python -m aifactory_hub.ops.localcluster start`."
DB_NAME = "slurm_acct_db"
DB_USER = "slurm"
SLURM_USER = "slurm"
DBD_PORT = 6819
# The same words in slurm.conf and slurmdbd.conf: users see only their own jobs, usage and
# associations (root and SlurmUser still see everything, which is what the hub runs as).
PRIVATE_DATA = "accounts,jobs,reservations,usage,users"


@dataclass(frozen=True)
class Paths:
    """Where the local cluster keeps its files (fixed defaults; tests may point elsewhere)."""

    conf_dir: Path = Path("/etc/slurm")
    state_dir: Path = Path("/var/lib/aifactory/slurm")
    log_dir: Path = Path("/var/log/aifactory")
    run_dir: Path = Path("/run/aifactory")

    @property
    def slurm_conf(self) -> Path:
        return self.conf_dir / "slurm.conf"

    @property
    def slurmdbd_conf(self) -> Path:
        return self.conf_dir / "slurmdbd.conf"

    @property
    def gres_conf(self) -> Path:
        return self.conf_dir / "gres.conf"

    @property
    def ctld_state(self) -> Path:
        return self.state_dir / "ctld"

    @property
    def slurmd_spool(self) -> Path:
        return self.state_dir / "slurmd"

    @property
    def fake_gpu_dir(self) -> Path:
        return self.state_dir / "fake-gpu"

    def pid_file(self, daemon: str) -> Path:
        # One directory per daemon, owned by the user the daemon runs as, so that it can
        # write (and on exit remove) its own pid file after dropping root.
        return self.run_dir / daemon / f"{daemon}.pid"

    @property
    def slurm_log_dir(self) -> Path:
        # Owned by slurm: slurmctld/slurmdbd chdir to their log's directory after dropping
        # root and log "chdir(...): Permission denied" if they cannot write there.
        return self.log_dir / "slurm"

    def log_file(self, daemon: str) -> Path:
        if daemon.startswith("slurm"):
            return self.slurm_log_dir / f"{daemon}.log"
        return self.log_dir / f"{daemon}.log"


DEFAULT_PATHS = Paths()


def fake_gpu_devices(site: Site, paths: Paths) -> list[Path]:
    """The character devices that stand in for the node's GPUs (gpu0 .. gpuN-1)."""
    return [paths.fake_gpu_dir / f"gpu{i}" for i in range(site.node.gpus)]


def max_time_minutes(hours: float) -> int:
    """Slurm's MaxTime in whole minutes; rounded up so a limit is never tighter than asked."""
    return max(1, math.ceil(round(hours * 60, 6)))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _partition_lines(part: Partition, hostname: str, is_default: bool) -> list[str]:
    lines = [f"# {part.name}: {_one_line(part.description)}"] if part.description else []
    # All partitions share the one node; a CPU partition simply never asks for GRES.
    lines.append(
        f"PartitionName={part.name} Nodes={hostname} Default={'YES' if is_default else 'NO'}"
        f" MaxTime={max_time_minutes(part.max_walltime_hours)} State=UP"
    )
    return lines


def render_slurm_conf(site: Site, hostname: str, paths: Paths = DEFAULT_PATHS) -> str:
    """slurm.conf for one node called `hostname` that runs slurmctld and slurmd."""
    node = site.node
    gres = f" Gres=gpu:{node.gpu_type}:{node.gpus}" if node.gpus else ""
    # Jobs that do not say --mem get the site's default session memory per CPU; without
    # this, CR_Core_Memory would give a job the whole node's memory and serialise everything.
    def_mem_per_cpu = max(1, site.defaults.memory_gb * 1024 // site.defaults.cpus)
    lines = [
        HEADER,
        "# GPUs on this cluster are SIMULATED: the node's gpu GRES are fake character devices",
        f"# ({paths.fake_gpu_dir}/gpuN, made with mknod c 1 3); jobs get no real GPU.",
        f"ClusterName={site.site.cluster}",
        f"SlurmctldHost={hostname}(127.0.0.1)",
        f"SlurmUser={SLURM_USER}",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "SlurmctldPort=6817",
        "SlurmdPort=6818",
        # Bind to 127.0.0.1 only: nothing on this machine should be reachable from outside.
        "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",
        f"StateSaveLocation={paths.ctld_state}",
        f"SlurmdSpoolDir={paths.slurmd_spool}",
        f"SlurmctldPidFile={paths.pid_file('slurmctld')}",
        f"SlurmdPidFile={paths.pid_file('slurmd')}",
        f"SlurmctldLogFile={paths.log_file('slurmctld')}",
        f"SlurmdLogFile={paths.log_file('slurmd')}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        # No systemd/cgroup delegation on this machine: track processes via /proc only.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SwitchType=switch/none",
        "MpiDefault=none",
        "MailProg=/bin/true",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        f"DefMemPerCPU={def_mem_per_cpu}",
        # The node claims more CPUs/memory than the machine has: trust slurm.conf, not the probe.
        "SlurmdParameters=config_overrides",
        "GresTypes=gpu",
        "AccountingStorageType=accounting_storage/slurmdbd",
        "AccountingStorageHost=127.0.0.1",
        f"AccountingStoragePort={DBD_PORT}",
        "AccountingStorageEnforce=associations,limits,qos,safe",
        "AccountingStorageTRES=gres/gpu",
        # AccountingStoreFlags is deliberately unset (= nothing): never store job scripts or
        # environments, they may hold secrets. 22.05 rejects an empty "AccountingStoreFlags=".
        "#AccountingStoreFlags=",
        "JobAcctGatherType=jobacct_gather/linux",
        "JobAcctGatherFrequency=30",
        # No decay and no reset: GPU-minute limits (GrpTRESMins) then behave like a quota.
        "PriorityType=priority/multifactor",
        "PriorityDecayHalfLife=0",
        "PriorityUsageResetPeriod=NONE",
        f"PrivateData={PRIVATE_DATA}",
        "MinJobAge=300",
        "KillWait=5",
        # Two cores ending dozens of sessions at once take longer than the default 60 s; a
        # slow kill must not drain the only node ("Kill task failed", seen in the benchmark).
        "UnkillableStepTimeout=300",
        "ReturnToService=2",
        "MessageTimeout=10",
        f"NodeName={hostname} NodeAddr=127.0.0.1 CPUs={node.cpus}"
        f" RealMemory={node.memory_gb * 1024}{gres} State=UNKNOWN",
    ]
    default = site.default_partition.name
    for part in site.partitions:
        lines += _partition_lines(part, hostname, part.name == default)
    return "\n".join(lines) + "\n"


def render_gres_conf(site: Site, hostname: str, paths: Paths = DEFAULT_PATHS) -> str:
    """gres.conf: one line per simulated GPU, each backed by a fake character device."""
    lines = [HEADER, "# Simulated GPUs: the File= devices are mknod c 1 3 (like /dev/null)."]
    lines.append("AutoDetect=off")
    for device in fake_gpu_devices(site, paths):
        lines.append(f"NodeName={hostname} Name=gpu Type={site.node.gpu_type} File={device}")
    return "\n".join(lines) + "\n"


def render_slurmdbd_conf(
    site: Site, hostname: str, db_password: str, paths: Paths = DEFAULT_PATHS
) -> str:
    """slurmdbd.conf (holds the database password: the caller writes it 0600, owner slurm)."""
    lines = [
        HEADER,
        # Said in the file itself, because it surprises people reading `ss -ltn`:
        "# Slurm 22.05's slurmdbd listens on 0.0.0.0 whatever DbdAddr says (DbdAddr only tells",
        f"# clients where to connect): firewall port {DBD_PORT} if this machine is reachable.",
        "DbdAddr=127.0.0.1",
        f"DbdHost={hostname}",
        f"DbdPort={DBD_PORT}",
        f"SlurmUser={SLURM_USER}",
        "AuthType=auth/munge",
        f"PidFile={paths.pid_file('slurmdbd')}",
        f"LogFile={paths.log_file('slurmdbd')}",
        "DebugLevel=info",
        f"PrivateData={PRIVATE_DATA}",
        "StorageType=accounting_storage/mysql",
        # "localhost" makes the MariaDB client use the unix socket, not TCP.
        "StorageHost=localhost",
        f"StorageLoc={DB_NAME}",
        f"StorageUser={DB_USER}",
        f"StoragePass={db_password}",
    ]
    return "\n".join(lines) + "\n"


def db_password_from(slurmdbd_conf_text: str) -> str | None:
    """The StoragePass of an existing slurmdbd.conf, so restarts keep the same password."""
    for line in slurmdbd_conf_text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip().lower() == "storagepass" and value.strip():
            return value.strip()
    return None
