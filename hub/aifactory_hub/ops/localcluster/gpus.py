"""Real GPUs on the machine, as `nvidia-smi -L` lists them, for the local cluster's gres.conf.

Where the machine has NVIDIA GPUs the local cluster declares them as real GRES (`File=` the
device node, `Type=` from the model name) instead of simulated devices, so a job given one GPU
can open only its own device and `torch.cuda.device_count()` in it equals what it asked for.
Parsing is pure and tested on recorded output; `detect` is the one place that runs the tool.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# `GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5f3c...)`; MIG devices are indented lines below
# their GPU ("  MIG 1g.10gb Device 0: (UUID: MIG-...)") and are not GPUs of their own here.
_LINE = re.compile(r"^GPU (?P<index>\d{1,3}): (?P<name>.+?) \(UUID: (?P<uuid>[A-Za-z0-9-]+)\)$")
_VENDOR_WORDS = {"nvidia", "tesla", "geforce", "quadro"}
DEVICE_DIR = Path("/dev")


@dataclass(frozen=True)
class Gpu:
    """One GPU: its index (the /dev/nvidiaN minor number on a standard install), model, UUID."""

    index: int
    name: str
    uuid: str

    @property
    def device(self) -> Path:
        return DEVICE_DIR / f"nvidia{self.index}"

    @property
    def gres_type(self) -> str:
        return gres_type(self.name)


def parse_gpu_list(text: str) -> list[Gpu]:
    """The GPUs of `nvidia-smi -L` output, in index order (other lines are ignored)."""
    gpus = [
        Gpu(int(m["index"]), m["name"].strip(), m["uuid"])
        for m in map(_LINE.match, text.splitlines())
        if m is not None
    ]
    return sorted(gpus, key=lambda gpu: gpu.index)


def gres_type(name: str) -> str:
    """A Slurm GRES type from a GPU's model name: the model words up to the first one with a
    digit, lower case, without the vendor's brand words or the form factor after a dash.

    "NVIDIA H100 80GB HBM3" -> "h100", "NVIDIA A100-SXM4-80GB" -> "a100",
    "NVIDIA GeForce RTX 4090" -> "rtx4090", "Tesla V100-SXM2-16GB" -> "v100".
    """
    words = [w for w in name.split() if w.lower() not in _VENDOR_WORDS]
    model = []
    for word in words:
        model.append(word.split("-")[0])
        if any(c.isdigit() for c in word):
            break
    text = re.sub(r"[^a-z0-9]", "", "".join(model).lower())[:32]
    return text or "gpu"


def detect(timeout: float = 15.0) -> list[Gpu]:
    """The machine's GPUs, or none when `nvidia-smi` is missing, fails or lists none."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return []
    try:
        proc = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_gpu_list(proc.stdout) if proc.returncode == 0 else []
