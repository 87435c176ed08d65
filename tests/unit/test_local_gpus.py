"""Real GPUs for the local cluster: `nvidia-smi -L` output (recorded) -> GRES type and device."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifactory_hub.ops.localcluster import gpus

# Recorded from machines with these GPUs (UUIDs shortened); the MIG line is how an
# H100 in MIG mode lists its instances under the GPU.
H100_NODE = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5f3c1a2b-0000-1111-2222-333344445555)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-6a7b8c9d-0000-1111-2222-333344445555)
  MIG 1g.10gb     Device  0: (UUID: MIG-0a1b2c3d-0000-1111-2222-333344445555)
"""
MIXED = """\
GPU 1: Tesla V100-SXM2-16GB (UUID: GPU-aaaa)
GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-bbbb)
GPU 2: NVIDIA GeForce RTX 4090 (UUID: GPU-cccc)
GPU 3: NVIDIA H200 (UUID: GPU-dddd)
GPU 4: NVIDIA L40S (UUID: GPU-eeee)
"""


def test_gpus_are_read_in_index_order_and_mig_lines_are_not_gpus():
    found = gpus.parse_gpu_list(H100_NODE)
    assert [(g.index, g.name, g.gres_type) for g in found] == [
        (0, "NVIDIA H100 80GB HBM3", "h100"),
        (1, "NVIDIA H100 80GB HBM3", "h100"),
    ]
    assert [g.device for g in found] == [Path("/dev/nvidia0"), Path("/dev/nvidia1")]


def test_gres_types_from_model_names():
    assert [(g.index, g.gres_type) for g in gpus.parse_gpu_list(MIXED)] == [
        (0, "a100"),
        (1, "v100"),
        (2, "rtx4090"),
        (3, "h200"),
        (4, "l40s"),
    ]


@pytest.mark.parametrize(
    "text",
    ["", "No devices were found", "NVIDIA-SMI has failed because it couldn't communicate",
     "GPU x: NVIDIA H100 (UUID: GPU-1)", "GPU 0: NVIDIA H100 (UUID: GPU-1); rm -rf /"],
)  # fmt: skip
def test_anything_else_is_no_gpu(text):
    assert gpus.parse_gpu_list(text) == []


def test_a_type_is_always_a_slurm_gres_type():
    for name in ["", "NVIDIA", "Ünïcødé GPU 9000 ☃", "A" * 100 + "1"]:
        assert gpus.gres_type(name).isalnum() and len(gpus.gres_type(name)) <= 32


def test_no_nvidia_smi_means_no_gpus(monkeypatch):
    monkeypatch.setattr(gpus.shutil, "which", lambda name: None)
    assert gpus.detect() == []
