from aifactory_hub.slurm.capacity import parse_node_list, partitions_of


def parse_nodes(text: str):
    """Capacity per partition from `scontrol show node`'s output, as the spawner gets it."""
    return partitions_of(parse_node_list(text))


NODE = (
    "NodeName=vm Arch=x86_64 CoresPerSocket=1 CPUAlloc=3 CPUTot=32 Gres=gpu:sim:4 "
    "NodeAddr=127.0.0.1 Partitions=cpu,gpu State={state} "
    "CfgTRES=cpu=32,mem=64G,billing=32,gres/gpu=4 AllocTRES=cpu=3,mem=6G,gres/gpu=1\n"
)


def test_capacity_per_partition():
    cap = parse_nodes(NODE.format(state="MIXED"))
    assert set(cap) == {"cpu", "gpu"}
    gpu = cap["gpu"]
    assert (gpu.cpus_total, gpu.cpus_free, gpu.gpus_total, gpu.gpus_free) == (32, 29, 4, 3)


def test_down_node_offers_nothing():
    cap = parse_nodes(NODE.format(state="DOWN+NOT_RESPONDING"))
    assert cap["cpu"].nodes == 1 and cap["cpu"].nodes_up == 0 and cap["cpu"].cpus_total == 0


def test_garbage_is_ignored():
    assert parse_nodes("garbage\n= = =\n") == {}


def test_a_node_that_does_not_answer_or_fails_offers_nothing():
    # The same test of a node's state as the local cluster's own check (slurm.nodes).
    for state in ("IDLE+NOT_RESPONDING", "MIXED*", "IDLE+FAIL", "MIXED+DRAIN"):
        cap = parse_nodes(NODE.format(state=state))
        assert cap["gpu"].nodes == 1 and cap["gpu"].nodes_up == 0 and cap["gpu"].gpus_total == 0


TWO_NODES = (
    "NodeName=cpu1 CPUAlloc=2 CPUTot=32 Partitions=cpu State=MIXED "
    "CfgTRES=cpu=32,mem=64G AllocTRES=cpu=2,mem=4G\n"
    "NodeName=cpu2 CPUAlloc=0 CPUTot=32 Partitions=cpu State=IDLE+DRAIN "
    "CfgTRES=cpu=32,mem=64G AllocTRES= Reason=disk swap on Tuesday [ada@2026-12-05T12:00:00]\n"
)


def test_each_node_with_its_state_and_the_reason_it_is_out_of_service():
    cpu1, cpu2 = parse_node_list(TWO_NODES)
    assert (cpu1.name, cpu1.partitions, cpu1.usable, cpu1.reason) == ("cpu1", ("cpu",), True, "")
    assert (cpu1.cpus_alloc, cpu1.cpus_total, cpu1.gpus_total) == (2, 32, 0)
    assert (cpu2.state, cpu2.usable) == ("IDLE+DRAIN", False)
    assert cpu2.reason == "disk swap on Tuesday"


def test_a_drained_node_is_left_out_of_the_partitions_capacity():
    (cpu,) = parse_nodes(TWO_NODES).values()
    assert (cpu.nodes, cpu.nodes_up, cpu.cpus_total, cpu.cpus_free) == (2, 1, 32, 30)
