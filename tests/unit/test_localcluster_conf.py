"""The local cluster's Slurm config files, rendered from the demo site, line by line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aifactory_hub.ops.localcluster import gpus
from aifactory_hub.ops.localcluster.conf import (
    FAKE_GPU_MAJOR,
    HEADER,
    Paths,
    db_password_from,
    fake_gpu_numbers,
    gpu_devices,
    local_nodes,
    max_time_minutes,
    real_gpu_problem,
    render_gres_conf,
    render_hosts,
    render_slurm_conf,
    render_slurmdbd_conf,
)
from aifactory_hub.ops.localcluster.confine import confinement, render_cgroup_conf
from aifactory_hub.site import Site, parse_site

PATHS = Paths(
    conf_dir=Path("/etc/slurm"),
    state_dir=Path("/var/lib/aifactory/slurm"),
    log_dir=Path("/var/log/aifactory"),
    run_dir=Path("/run/aifactory"),
)


# Like the demo site, spelled out here so that edits to the demo do not move these tests.
SITE = """
[site]
name = "test"
cluster = "aifactory"
local_cluster = true
[defaults]
cpus = 1
memory_gb = 2
walltime_hours = 1
[[partitions]]
name = "cpu"
description = "General CPU nodes"
default = true
nodes = 2
cpus_per_node = 32
memory_gb_per_node = 64
max_walltime_hours = 12
max_cpus = 8
max_memory_gb = 16
[[partitions]]
name = "gpu"
description = "GPU nodes for training\\n(simulated)"
nodes = 2
cpus_per_node = 32
memory_gb_per_node = 64
gpu_type = "sim"
gpus_per_node = 4
max_walltime_hours = 4
max_cpus = 16
max_memory_gb = 32
max_gpus = 2
min_gpus = 1
"""


@pytest.fixture(scope="module")
def site() -> Site:
    return parse_site(SITE)


@pytest.fixture(scope="module")
def slurm_conf(site: Site) -> list[str]:
    return render_slurm_conf(site, "vm", PATHS).splitlines()


def settings(lines: list[str]) -> dict[str, str]:
    """Key=value of each non-comment line that is not a node or partition definition."""
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {k: v for k, v in pairs if k not in ("NodeName", "PartitionName")}


def test_slurm_conf_starts_with_the_managed_header_and_says_gpus_are_simulated(slurm_conf):
    assert slurm_conf[0] == HEADER
    assert HEADER.startswith("# managed by aifactory")
    assert any(line.startswith("#") and "SIMULATED" in line for line in slurm_conf)


EXPECTED_SETTINGS = {
    "ClusterName": "aifactory",
    "SlurmctldHost": "vm(127.0.0.1)",
    "SlurmUser": "slurm",
    "AuthType": "auth/munge",
    "CommunicationParameters": "NoCtldInAddrAny,NoInAddrAny",
    "StateSaveLocation": "/var/lib/aifactory/slurm/ctld",
    "SlurmdSpoolDir": "/var/lib/aifactory/slurm/slurmd/%n",
    "SlurmctldPidFile": "/run/aifactory/slurmctld/slurmctld.pid",
    "SlurmdPidFile": "/run/aifactory/slurmd/slurmd-%n.pid",
    "SlurmctldLogFile": "/var/log/aifactory/slurm/slurmctld.log",
    "SlurmdLogFile": "/var/log/aifactory/slurm/slurmd-%n.log",
    "ProctrackType": "proctrack/linuxproc",
    "TaskPlugin": "task/none",
    "SelectType": "select/cons_tres",
    "SelectTypeParameters": "CR_Core_Memory",
    "DefMemPerCPU": "2048",
    "SlurmdParameters": "config_overrides",
    "GresTypes": "gpu",
    "AccountingStorageType": "accounting_storage/slurmdbd",
    "AccountingStorageHost": "127.0.0.1",
    "AccountingStoragePort": "6819",
    "AccountingStorageEnforce": "associations,limits,qos,safe",
    "AccountingStorageTRES": "gres/gpu",
    "JobAcctGatherType": "jobacct_gather/linux",
    "PriorityType": "priority/multifactor",
    "PriorityDecayHalfLife": "0",
    "PriorityUsageResetPeriod": "NONE",
    "PrivateData": "accounts,jobs,reservations,usage,users",
    "MinJobAge": "300",
    "KillWait": "5",
    "UnkillableStepTimeout": "300",
    "ReturnToService": "2",
    "MessageTimeout": "10",
    "GroupUpdateTime": "5",
}


@pytest.mark.parametrize(("key", "value"), sorted(EXPECTED_SETTINGS.items()))
def test_slurm_conf_setting(slurm_conf, key, value):
    assert settings(slurm_conf)[key] == value


def test_slurm_conf_sets_each_key_once(slurm_conf):
    keys = [line.split("=", 1)[0] for line in slurm_conf if "=" in line and line[0] != "#"]
    keys = [k for k in keys if k not in ("NodeName", "PartitionName")]
    assert len(keys) == len(set(keys))


def test_job_scripts_and_environments_are_not_stored(slurm_conf):
    # 22.05 rejects "AccountingStoreFlags=" (empty): leaving it unset stores nothing.
    assert "AccountingStoreFlags" not in settings(slurm_conf)
    assert "#AccountingStoreFlags=" in slurm_conf


def test_each_partition_has_nodes_of_its_own_each_with_its_address_and_port(slurm_conf):
    nodes = [line for line in slurm_conf if line.startswith("NodeName=")]
    assert nodes == [
        "NodeName=cpu1 NodeHostname=vm NodeAddr=127.0.0.1 Port=17001 CPUs=32 RealMemory=65536"
        " State=UNKNOWN",
        "NodeName=cpu2 NodeHostname=vm NodeAddr=127.0.0.1 Port=17002 CPUs=32 RealMemory=65536"
        " State=UNKNOWN",
        "NodeName=gpu1 NodeHostname=vm NodeAddr=127.0.0.1 Port=17003 CPUs=32 RealMemory=65536"
        " Gres=gpu:sim:4 State=UNKNOWN",
        "NodeName=gpu2 NodeHostname=vm NodeAddr=127.0.0.1 Port=17004 CPUs=32 RealMemory=65536"
        " Gres=gpu:sim:4 State=UNKNOWN",
    ]


def test_partitions_are_disjoint_with_max_time_in_minutes_and_one_default(slurm_conf):
    parts = [line for line in slurm_conf if line.startswith("PartitionName=")]
    assert parts == [
        "PartitionName=cpu Nodes=cpu1,cpu2 Default=YES MaxTime=720 LLN=YES State=UP",
        "PartitionName=gpu Nodes=gpu1,gpu2 Default=NO MaxTime=240 LLN=YES State=UP",
    ]
    # Each partition is preceded by its description as a comment.
    gpu = slurm_conf.index(parts[1])
    # ... on one line, even when the site's description has several.
    assert slurm_conf[gpu - 1] == "# gpu: GPU nodes for training (simulated)"


def test_node_names_addresses_and_ports_are_unique(site):
    bigger = [p.model_copy(update={"nodes": 8}) for p in site.partitions]
    nodes = local_nodes(site.model_copy(update={"partitions": bigger}))
    assert len(nodes) == 16
    for attribute in ("name", "address", "port"):
        assert len({getattr(n, attribute) for n in nodes}) == 16
    assert all(n.address.startswith("127.0.1.") for n in nodes)  # loopback only


def test_the_local_cluster_refuses_more_nodes_than_it_runs():
    with pytest.raises(ValueError, match="at most 8 nodes per partition"):
        parse_site(SITE.replace("nodes = 2", "nodes = 9", 1))


def test_without_a_default_partition_the_first_one_is_default(site):
    parts = [p.model_copy(update={"default": False}) for p in site.partitions]
    other = site.model_copy(update={"partitions": parts})
    lines = render_slurm_conf(other, "n", PATHS).splitlines()
    assert "PartitionName=cpu Nodes=cpu1,cpu2 Default=YES MaxTime=720 LLN=YES State=UP" in lines
    assert "PartitionName=gpu Nodes=gpu1,gpu2 Default=NO MaxTime=240 LLN=YES State=UP" in lines


def test_nodes_without_gpus_have_no_gres_and_an_empty_gres_conf(site):
    parts = [p.model_copy(update={"gpus_per_node": 0}) for p in site.partitions]
    other = site.model_copy(update={"partitions": parts})
    nodes = [x for x in render_slurm_conf(other, "n", PATHS).splitlines() if "NodeName" in x]
    assert len(nodes) == 4 and not any("Gres=" in node for node in nodes)
    gres = render_gres_conf(other, PATHS).splitlines()
    assert [line for line in gres if line.startswith("NodeName")] == []
    assert gpu_devices(other, PATHS) == {}


def test_hosts_names_every_node_and_replaces_only_its_own_block(site):
    before = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
    once = render_hosts(site, before)
    assert once.startswith(before)
    assert "127.0.1.1\tcpu1\n127.0.1.2\tcpu2\n127.0.1.3\tgpu1\n127.0.1.4\tgpu2\n" in once
    assert render_hosts(site, once) == once  # idempotent
    one = [p.model_copy(update={"nodes": 1}) for p in site.partitions]
    smaller = render_hosts(site.model_copy(update={"partitions": one}), once + "10.0.0.9\tnas\n")
    assert "cpu2" not in smaller and "127.0.1.2\tgpu1" in smaller
    assert smaller.startswith(before) and "10.0.0.9\tnas" in smaller


@pytest.mark.parametrize(
    ("hours", "minutes"), [(12, 720), (4, 240), (0.5, 30), (1 / 3, 20), (0.001, 1), (1.01, 61)]
)
def test_max_time_is_whole_minutes_rounded_up(hours, minutes):
    assert max_time_minutes(hours) == minutes


def test_gres_conf_has_one_fake_device_per_gpu_of_each_gpu_node(site):
    lines = render_gres_conf(site, PATHS).splitlines()
    assert lines[0] == HEADER
    assert "AutoDetect=off" in lines
    dev = "/var/lib/aifactory/slurm/fake-gpu"
    assert [line for line in lines if line.startswith("NodeName")] == [
        f"NodeName={node} Name=gpu Type=sim File={dev}/{node}-{i}"
        for node in ("gpu1", "gpu2")
        for i in range(4)
    ]
    assert gpu_devices(site, PATHS) == {
        node: [Path(f"{dev}/{node}-{i}") for i in range(4)] for node in ("gpu1", "gpu2")
    }


def test_each_simulated_gpu_has_its_own_device_number(site):
    # The devices cgroup tells devices apart by number: if every fake GPU were c 1:3 (as
    # /dev/null), a job could open every GPU, and a job without GPUs could not open /dev/null.
    numbers = fake_gpu_numbers(site, PATHS)
    assert len(numbers) == 8 and len(set(numbers.values())) == 8
    assert {os.major(n) for n in numbers.values()} == {FAKE_GPU_MAJOR}
    assert sorted(os.minor(n) for n in numbers.values()) == list(range(8))
    assert numbers[PATHS.fake_gpu_dir / "gpu2-0"] == os.makedev(FAKE_GPU_MAJOR, 4)


MOUNTS_V1 = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/devices cgroup rw,relatime,devices 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_cgroup_v1_controllers_mounted_read_write_confine_jobs(site):
    confine = confinement(MOUNTS_V1)
    assert confine.cgroup_v1 and "cores, RAM, swap and devices" in confine.detail
    lines = render_slurm_conf(site, "vm", PATHS, confine=confine).splitlines()
    assert settings(lines)["ProctrackType"] == "proctrack/cgroup"
    assert settings(lines)["TaskPlugin"] == "task/cgroup"
    cgroup = settings(render_cgroup_conf(HEADER, confine).splitlines())
    assert cgroup == {
        "CgroupPlugin": "cgroup/v1",
        "CgroupMountpoint": "/sys/fs/cgroup",
        "ConstrainCores": "yes",
        "ConstrainRAMSpace": "yes",
        "ConstrainSwapSpace": "yes",
        "ConstrainDevices": "yes",
    }
    # co-mounted controllers (cpu,cpuacct style) count too
    comounted = "cgroup /sys/fs/cgroup/x cgroup rw,cpuset,memory,devices,freezer 0 0\n"
    assert confinement(comounted).cgroup_v1


@pytest.mark.parametrize(
    ("mounts", "why"),
    [
        ("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n", "cpuset, memory, devices, freezer"),
        (MOUNTS_V1.replace("rw,relatime,freezer", "ro,relatime,freezer"), "freezer read-only"),
        (MOUNTS_V1.replace("rw,relatime,devices", "rw,relatime,blkio"), "devices not mounted"),
        ("", "not mounted"),
    ],
)
def test_without_the_v1_controllers_jobs_run_unconfined_and_it_says_why(site, mounts, why):
    confine = confinement(mounts)
    assert not confine.cgroup_v1 and "NOT confined" in confine.detail and why in confine.detail
    assert render_cgroup_conf(HEADER, confine) is None
    lines = render_slurm_conf(site, "vm", PATHS, confine=confine).splitlines()
    assert settings(lines)["ProctrackType"] == "proctrack/linuxproc"
    assert settings(lines)["TaskPlugin"] == "task/none"
    assert f"# {confine.detail} (cgroup.conf)" in lines


def test_slurmdbd_conf(site):
    lines = render_slurmdbd_conf(site, "node1", "s3cret-pw", PATHS).splitlines()
    assert lines[0] == HEADER
    assert settings(lines) == {
        "DbdAddr": "127.0.0.1",
        "DbdHost": "node1",
        "DbdPort": "6819",
        "SlurmUser": "slurm",
        "AuthType": "auth/munge",
        "PidFile": "/run/aifactory/slurmdbd/slurmdbd.pid",
        "LogFile": "/var/log/aifactory/slurm/slurmdbd.log",
        "DebugLevel": "info",
        "PrivateData": "accounts,jobs,reservations,usage,users",
        "StorageType": "accounting_storage/mysql",
        "StorageHost": "localhost",
        "StorageLoc": "slurm_acct_db",
        "StorageUser": "slurm",
        "StoragePass": "s3cret-pw",
    }
    # 22.05's slurmdbd ignores DbdAddr when it binds; the file must say so.
    assert any("listens on 0.0.0.0" in line for line in lines if line.startswith("#"))


def test_the_database_password_is_read_back_from_slurmdbd_conf(site):
    text = render_slurmdbd_conf(site, "node1", "abc_DEF-123", PATHS)
    assert db_password_from(text) == "abc_DEF-123"
    assert db_password_from("# nothing here\nStorageUser=slurm\n") is None
    assert db_password_from("StoragePass=\n") is None


def test_rendering_is_deterministic(site):
    # start() compares the rendered text with the file to decide whether to restart.
    assert render_slurm_conf(site, "a", PATHS) == render_slurm_conf(site, "a", PATHS)
    assert render_gres_conf(site, PATHS) == render_gres_conf(site, PATHS)


def test_pid_and_log_locations():
    assert PATHS.pid_file("munged") == Path("/run/aifactory/munged/munged.pid")
    assert PATHS.log_file("munged") == Path("/var/log/aifactory/munged.log")
    assert PATHS.log_file("mariadb") == Path("/var/log/aifactory/mariadb.log")
    assert PATHS.log_file("slurmd") == Path("/var/log/aifactory/slurm/slurmd.log")


def test_bad_cli_arguments_are_an_argparse_error(capsys):
    from aifactory_hub.ops.localcluster.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["restart"])
    assert exit_.value.code == 2
    assert "invalid choice: 'restart'" in capsys.readouterr().err


def test_node_state_and_reason_from_scontrol_one_line_output():
    from aifactory_hub.slurm.nodes import parse_oneliner as _fields

    line = (
        "NodeName=vm Arch=x86_64 State=IDLE+DRAIN ThreadsPerCore=1 Partitions=cpu,gpu "
        "Reason=Node unexpectedly rebooted [slurm@2026-11-26T21:45:31]"
    )
    fields = dict(_fields(line))
    assert fields["State"] == "IDLE+DRAIN"
    assert fields["Reason"] == "Node unexpectedly rebooted"
    assert "Reason" not in dict(_fields("NodeName=vm State=IDLE"))


# Recorded `nvidia-smi -L` of a machine with four H100s (UUIDs shortened).
FOUR_H100 = "".join(f"GPU {i}: NVIDIA H100 80GB HBM3 (UUID: GPU-{i}aaa-bbbb)\n" for i in range(4))


def h100_site(site: Site, gpus_per_node: int = 2, gpu_type: str = "h100") -> Site:
    parts = [
        p.model_copy(update={"gpu_type": gpu_type, "gpus_per_node": gpus_per_node, "max_gpus": 1})
        if p.gpus_per_node
        else p
        for p in site.partitions
    ]
    return site.model_copy(update={"partitions": parts})


def test_real_gpus_are_dealt_to_the_gpu_nodes_as_their_own_devices(site):
    real = gpus.parse_gpu_list(FOUR_H100)
    lines = render_gres_conf(h100_site(site), PATHS, real).splitlines()
    assert [line for line in lines if line.startswith("NodeName")] == [
        "NodeName=gpu1 Name=gpu Type=h100 File=/dev/nvidia0",
        "NodeName=gpu1 Name=gpu Type=h100 File=/dev/nvidia1",
        "NodeName=gpu2 Name=gpu Type=h100 File=/dev/nvidia2",
        "NodeName=gpu2 Name=gpu Type=h100 File=/dev/nvidia3",
    ]
    conf = render_slurm_conf(h100_site(site), "vm", PATHS, real_gpus=True)
    assert "SIMULATED" not in conf and "Gres=gpu:h100:2" in conf


def test_real_gpus_that_do_not_match_the_site_are_refused_with_what_to_change(site):
    real = gpus.parse_gpu_list(FOUR_H100)
    assert real_gpu_problem(h100_site(site), real) is None
    too_many = real_gpu_problem(h100_site(site, gpus_per_node=4), real)
    assert "declare 8 GPUs, this machine has 4" in too_many
    wrong_type = real_gpu_problem(h100_site(site, gpu_type="sim"), real)  # the demo's type
    assert "names GPU type 'sim'" in wrong_type and "set gpu_type to one of ['h100']" in wrong_type
    with pytest.raises(ValueError, match="declare 8 GPUs"):
        render_gres_conf(h100_site(site, gpus_per_node=4), PATHS, real)


def test_status_says_how_jobs_are_confined(tmp_path, monkeypatch):
    from aifactory_hub.ops import localcluster

    mounts = tmp_path / "mounts"
    monkeypatch.setattr(localcluster, "MOUNTS", mounts)
    paths = Paths(conf_dir=tmp_path)
    mounts.write_text(MOUNTS_V1)
    assert "NOT confined yet: no cgroup.conf" in localcluster.confinement_line(paths)
    paths.cgroup_conf.write_text("CgroupPlugin=cgroup/v1\n")
    assert localcluster.confinement_line(paths).startswith("jobs confined by cgroup v1")
    mounts.write_text("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
    assert "jobs NOT confined: cgroup v1 controller(s)" in localcluster.confinement_line(paths)
