"""Render the local cluster's Slurm configuration from the site file.

Pure functions only: the site, this machine's short host name and the paths go in, file text
comes out. Nothing here touches the disk, so every line can be checked in a unit test;
`daemons` writes the text and starts the daemons.

The local cluster is several nodes on one machine: each partition gets `nodes` nodes of its
own (cpu1, cpu2, gpu1, ...), each a slurmd of its own (`slurmd -N NAME`, Slurm's
multiple-slurmd mode) on its own port, under one slurmctld. Each node has its own loopback
address (127.0.1.N, in /etc/hosts under its name): sessions listen there and the hub reaches
them by node name, as on a real cluster. Loopback addresses rather than a network namespace per
node: every daemon and session stays reachable from this machine only, and the hub, the proxy
and the factory service need no second address for jobs to reach them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aifactory_hub.ops.localcluster.confine import Confinement
from aifactory_hub.ops.localcluster.gpus import Gpu
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
    def cgroup_conf(self) -> Path:
        return self.conf_dir / "cgroup.conf"

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

    def slurmd_pid_file(self, node: str) -> Path:
        # One folder for every node's slurmd (they all run as root); "%n" for slurm.conf,
        # which expands one %n per path.
        return self.run_dir / "slurmd" / f"slurmd-{node}.pid"

    def slurmd_log_file(self, node: str) -> Path:
        return self.slurm_log_dir / f"slurmd-{node}.log"

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


NODE_NET = "127.0.1"  # node N of the cluster listens on 127.0.1.N
# Node N's slurmd listens on port 17000 + N: clear of slurmctld's 6817 and of slurmdbd's 6819,
# which 22.05 binds on every address whatever DbdAddr says.
FIRST_SLURMD_PORT = 17001


@dataclass(frozen=True)
class LocalNode:
    """One node of the local cluster, as slurm.conf declares it."""

    name: str
    address: str
    port: int
    partition: Partition

    @property
    def gpus(self) -> int:
        return self.partition.gpus_per_node


def local_nodes(site: Site) -> list[LocalNode]:
    """Every node of the local cluster, partition by partition (disjoint: a node is in one)."""
    nodes = []
    for part in site.partitions:
        for i in range(1, part.nodes + 1):
            n = len(nodes) + 1
            address = f"{NODE_NET}.{n}"
            nodes.append(LocalNode(f"{part.name}{i}", address, FIRST_SLURMD_PORT + n - 1, part))
    return nodes


# Simulated GPUs are character devices with a major number Linux keeps for local use (60-63,
# 120-127, 240-254; the dynamic ones are taken from 254 down), one minor per GPU: distinct
# numbers, so the devices cgroup can give a job its own GPUs only, and no driver behind them.
FAKE_GPU_MAJOR = 120


def fake_gpu_numbers(site: Site, paths: Paths) -> dict[Path, int]:
    """Each simulated GPU's device file and its device number (major FAKE_GPU_MAJOR, minor
    counting over the whole cluster)."""
    files = [path for devices in gpu_devices(site, paths).values() for path in devices]
    return {path: os.makedev(FAKE_GPU_MAJOR, minor) for minor, path in enumerate(files)}


def gpu_devices(site: Site, paths: Paths, real: Sequence[Gpu] = ()) -> dict[str, list[Path]]:
    """Each GPU node's device files: the machine's real GPUs (`nvidia-smi -L`), dealt to the
    GPU nodes in order, `gpus_per_node` each; with none, fake character devices that stand in
    for them (gpu1-0 .. gpu1-3, ...). Raises ValueError when the real ones do not match the
    site file (`real_gpu_problem` says why)."""
    gpu_nodes = [node for node in local_nodes(site) if node.gpus]
    if not real:
        return {
            node.name: [paths.fake_gpu_dir / f"{node.name}-{i}" for i in range(node.gpus)]
            for node in gpu_nodes
        }
    problem = real_gpu_problem(site, real)
    if problem:
        raise ValueError(problem)
    dealt, devices = 0, {}
    for node in gpu_nodes:
        devices[node.name] = [gpu.device for gpu in real[dealt : dealt + node.gpus]]
        dealt += node.gpus
    return devices


def real_gpu_problem(site: Site, real: Sequence[Gpu]) -> str | None:
    """Why this machine's GPUs cannot be the site's GPU nodes' (None when they can): a
    local GPU node declares real GPUs only, of the type its partition names."""
    gpu_nodes = [node for node in local_nodes(site) if node.gpus]
    wanted = sum(node.gpus for node in gpu_nodes)
    found = ", ".join(sorted({f"{gpu.name} (GRES type {gpu.gres_type})" for gpu in real}))
    if wanted > len(real):
        return (
            f"the site's GPU nodes declare {wanted} GPUs, this machine has {len(real)}: "
            f"{found}; lower the GPU partitions' nodes or gpus_per_node in the site file"
        )
    types = {gpu.gres_type for gpu in real}
    for part in {node.partition.name: node.partition for node in gpu_nodes}.values():
        if part.gpu_type not in types:
            return (
                f"partition {part.name} names GPU type {part.gpu_type!r}, this machine has "
                f"{found}: set gpu_type to one of {sorted(types)} in the site file"
            )
    return None


HOSTS_BEGIN = "# aifactory local cluster: begin (rewritten by `aifactory up`)"
HOSTS_END = "# aifactory local cluster: end"


def render_hosts(site: Site, current: str) -> str:
    """/etc/hosts with the local nodes' names (between our two marker lines, replacing any
    earlier block of ours), so the hub, jobs and torchrun find a node by its name."""
    lines = current.splitlines()
    if HOSTS_BEGIN in lines and HOSTS_END in lines[lines.index(HOSTS_BEGIN) :]:
        start = lines.index(HOSTS_BEGIN)
        end = lines.index(HOSTS_END, start)
        lines = lines[:start] + lines[end + 1 :]
    block = [f"{node.address}\t{node.name}" for node in local_nodes(site)]
    return "\n".join([*lines, HOSTS_BEGIN, *block, HOSTS_END]) + "\n"


def max_time_minutes(hours: float) -> int:
    """Slurm's MaxTime in whole minutes; rounded up so a limit is never tighter than asked."""
    return max(1, math.ceil(round(hours * 60, 6)))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _partition_lines(part: Partition, nodes: list[LocalNode], is_default: bool) -> list[str]:
    lines = [f"# {part.name}: {_one_line(part.description)}"] if part.description else []
    names = ",".join(node.name for node in nodes if node.partition is part)
    # LLN: each job goes to the least loaded node, so sessions, Dask workers and training
    # ranks spread over the nodes (packing would put everything on the first node here).
    lines.append(
        f"PartitionName={part.name} Nodes={names} Default={'YES' if is_default else 'NO'}"
        f" MaxTime={max_time_minutes(part.max_walltime_hours)} LLN=YES State=UP"
    )
    return lines


def _node_line(node: LocalNode, hostname: str) -> str:
    part = node.partition
    gres = f" Gres=gpu:{part.gpu_type}:{node.gpus}" if node.gpus else ""
    # Slurm's own traffic to a node goes to 127.0.0.1 and the node's port: with NoInAddrAny a
    # slurmd binds to what this machine's host name resolves to, whatever NodeAddr says
    # (22.05, multiple-slurmd). Jobs and sessions use the node's own address (its name in
    # /etc/hosts), which is what the hub, srun's tasks, torchrun and Dask connect to.
    return (
        f"NodeName={node.name} NodeHostname={hostname} NodeAddr=127.0.0.1"
        f" Port={node.port} CPUs={part.cpus_per_node}"
        f" RealMemory={part.memory_gb_per_node * 1024}{gres} State=UNKNOWN"
    )


UNCONFINED = Confinement(False, "jobs NOT confined")


GROUP_UPDATE_S = 5


def render_slurm_conf(
    site: Site,
    hostname: str,
    paths: Paths = DEFAULT_PATHS,
    real_gpus: bool = False,
    confine: Confinement = UNCONFINED,
) -> str:
    """slurm.conf: slurmctld on this machine (`hostname`), and every local node; jobs confined
    by cgroups when `confine` says the machine allows it (see `confine.confinement`)."""
    nodes = local_nodes(site)
    if real_gpus:
        gpus = ["# GPUs on this cluster are the machine's own (nvidia-smi -L; see gres.conf)."]
    else:
        gpus = [
            "# GPUs on this cluster are SIMULATED: a GPU node's gpu GRES are fake character "
            "devices",
            f"# ({paths.fake_gpu_dir}/NODE-N, char major {FAKE_GPU_MAJOR}); jobs get no real GPU.",
        ]
    # Jobs that do not say --mem get the site's default session memory per CPU; without
    # this, CR_Core_Memory would give a job the whole node's memory and serialise everything.
    def_mem_per_cpu = max(1, site.defaults.memory_gb * 1024 // site.defaults.cpus)
    lines = [
        HEADER,
        *gpus,
        f"ClusterName={site.site.cluster}",
        f"SlurmctldHost={hostname}(127.0.0.1)",
        f"SlurmUser={SLURM_USER}",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "SlurmctldPort=6817",
        # Each node has its own address and port (NodeName lines below); %n is the node name.
        # Bind to those addresses only: nothing here should be reachable from outside.
        "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",
        f"StateSaveLocation={paths.ctld_state}",
        f"SlurmdSpoolDir={paths.slurmd_spool}/%n",
        f"SlurmctldPidFile={paths.pid_file('slurmctld')}",
        f"SlurmdPidFile={paths.slurmd_pid_file('%n')}",
        f"SlurmctldLogFile={paths.log_file('slurmctld')}",
        f"SlurmdLogFile={paths.slurmd_log_file('%n')}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        f"# {confine.detail} (cgroup.conf)",
        f"ProctrackType={confine.proctrack}",
        f"TaskPlugin={confine.task_plugin}",
        "SwitchType=switch/none",
        "MpiDefault=none",
        "MailProg=/bin/true",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        f"DefMemPerCPU={def_mem_per_cpu}",
        # The nodes claim more CPUs/memory than the machine has: trust slurm.conf, not the probe.
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
        # slow kill must not drain a node ("Kill task failed", seen in the benchmark).
        "UnkillableStepTimeout=300",
        "ReturnToService=2",
        "MessageTimeout=10",
        # Slurm caches each user's groups for GroupUpdateTime (default 600 s): a member added
        # to or removed from a project's group would wait ten minutes for their jobs to see it.
        f"GroupUpdateTime={GROUP_UPDATE_S}",
        *(_node_line(node, hostname) for node in nodes),
    ]
    default = site.default_partition.name
    for part in site.partitions:
        lines += _partition_lines(part, nodes, part.name == default)
    return "\n".join(lines) + "\n"


def render_gres_conf(site: Site, paths: Paths = DEFAULT_PATHS, real: Sequence[Gpu] = ()) -> str:
    """gres.conf: one line per GPU of each GPU node, its device file (see `gpu_devices`)."""
    if real:
        lines = [HEADER, "# Real GPUs of this machine (nvidia-smi -L), dealt to the GPU nodes."]
    else:
        lines = [
            HEADER,
            f"# Simulated GPUs: the File= devices are char {FAKE_GPU_MAJOR}:N, a major no driver",
            "# owns: a job opening its own gets ENXIO, one it was not given EPERM (cgroup).",
        ]
    lines.append("AutoDetect=off")
    types = {node.name: node.partition.gpu_type for node in local_nodes(site)}
    for node, devices in gpu_devices(site, paths, real).items():
        for device in devices:
            lines.append(f"NodeName={node} Name=gpu Type={types[node]} File={device}")
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
