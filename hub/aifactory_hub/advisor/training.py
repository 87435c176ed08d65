"""How big a training run is: memory per GPU, GPUs needed, FLOPs, GPU-hours and wall time.

Pure formulas for dense transformers, each from a published source:
- memory of the training state (Rajbhandari et al. 2020, ZeRO, sec. 3.1): mixed-precision Adam
  keeps 2 bytes of weights, 2 of gradients and K = 12 of optimiser state (FP32 master weights,
  momentum, variance) per parameter, 16 in all; ZeRO stage 1 shards the optimiser state over
  the data-parallel GPUs, stage 2 the gradients too, stage 3 (= FSDP full sharding) the weights;
- activations (Korthikanti et al. 2022, eq. 1-2): s*b*h*(34 + 5*a*s/h) bytes per layer in
  16-bit; with FlashAttention (assumed: PyTorch SDPA does it) the 5*a*s/h term is not stored;
  with full activation checkpointing only each layer's input (2*s*b*h bytes) is kept, plus one
  layer's activations while it is recomputed;
- compute (Kaplan et al. 2020): 6 FLOPs per parameter per token (forward 2, backward 4);
  utilisation is model FLOPs utilisation (MFU, Chowdhery et al. 2022), so recomputation costs
  time through a lower MFU, not more model FLOPs.
GB here is 10^9 bytes.
"""

from __future__ import annotations

import math

from pydantic import Field

from aifactory_hub.policy.model import Frozen

GB = 1e9
# d_model / n_layers of GPT-3 175B (12288/96) and Llama 7B (4096/32): used when not given.
ASPECT_RATIO = 128
HEAD_DIM = 128
USABLE_FRACTION = 0.9  # of a GPU's memory: the rest goes to the CUDA context and fragmentation


class Precision(Frozen):
    label: str
    weight_bytes: int
    grad_bytes: int
    master_bytes: int  # FP32 copy of the weights kept by the optimiser in mixed precision
    activation_bytes: int
    throughput_factor: float  # of the GPU's BF16 peak (FP32 runs on TF32 tensor cores: 1/2)


class Optimiser(Frozen):
    label: str
    states: int  # values kept per parameter (Adam: momentum and variance)
    state_bytes: int


PRECISIONS: dict[str, Precision] = {
    "bf16_mixed": Precision(
        label="BF16 mixed precision", weight_bytes=2, grad_bytes=2, master_bytes=4,
        activation_bytes=2, throughput_factor=1.0,
    ),
    "fp16_mixed": Precision(
        label="FP16 mixed precision (loss scaling)", weight_bytes=2, grad_bytes=2,
        master_bytes=4, activation_bytes=2, throughput_factor=1.0,
    ),
    "fp32": Precision(
        label="FP32 (TF32 tensor cores)", weight_bytes=4, grad_bytes=4, master_bytes=0,
        activation_bytes=4, throughput_factor=0.5,
    ),
}  # fmt: skip
OPTIMISERS: dict[str, Optimiser] = {
    "adamw": Optimiser(label="Adam / AdamW", states=2, state_bytes=4),
    "adamw_8bit": Optimiser(label="8-bit Adam (bitsandbytes)", states=2, state_bytes=1),
    "sgd_momentum": Optimiser(label="SGD with momentum", states=1, state_bytes=4),
    "sgd": Optimiser(label="SGD without momentum", states=0, state_bytes=4),
}
# Sharding -> the ZeRO stage it amounts to.
SHARDING: dict[str, tuple[str, int]] = {
    "none": ("none (DDP: every GPU holds everything)", 0),
    "zero1": ("ZeRO-1: optimiser state sharded", 1),
    "zero2": ("ZeRO-2: optimiser state and gradients sharded", 2),
    "zero3": ("ZeRO-3 / FSDP: optimiser state, gradients and weights sharded", 3),
}


class TrainingRun(Frozen):
    """What the researcher plans. Give `tokens`, or `samples` (sequences) and `epochs`."""

    parameters: float = Field(gt=0, le=1e14)
    tokens: float | None = Field(None, gt=0, le=1e16)
    samples: float | None = Field(None, gt=0, le=1e13)
    epochs: float = Field(1.0, gt=0, le=1e4)
    seq_len: int = Field(2048, ge=1, le=1_048_576)
    micro_batch: int = Field(1, ge=1, le=4096, description="sequences per GPU per step")
    precision: str = Field("bf16_mixed", pattern="^(" + "|".join(PRECISIONS) + ")$")
    optimiser: str = Field("adamw", pattern="^(" + "|".join(OPTIMISERS) + ")$")
    sharding: str = Field("zero3", pattern="^(" + "|".join(SHARDING) + ")$")
    checkpointing: bool = Field(False, description="full activation checkpointing")
    flash_attention: bool = True
    layers: int | None = Field(None, ge=1, le=10_000)
    hidden: int | None = Field(None, ge=1, le=1_000_000)
    mfu: float = Field(0.4, gt=0, le=1, description="model FLOPs utilisation")

    @property
    def training_tokens(self) -> float:
        if self.tokens is not None:
            return self.tokens
        if self.samples is not None:
            return self.samples * self.seq_len * self.epochs
        raise ValueError("give the training tokens, or the samples and epochs")

    @property
    def shape(self) -> tuple[int, int]:
        """(layers, hidden size): as given, else from parameters ~ 12 * layers * hidden^2."""
        if self.layers and self.hidden:
            return self.layers, self.hidden
        if self.hidden:
            return max(round(self.parameters / (12 * self.hidden**2)), 1), self.hidden
        if self.layers:
            return self.layers, max(round(math.sqrt(self.parameters / (12 * self.layers))), 1)
        hidden = (ASPECT_RATIO * self.parameters / 12) ** (1 / 3)
        return max(round(hidden / ASPECT_RATIO), 1), max(round(hidden), 1)


class Memory(Frozen):
    """Bytes per GPU, by what they hold."""

    weights: float
    gradients: float
    optimiser: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimiser + self.activations

    @property
    def state(self) -> float:
        return self.weights + self.gradients + self.optimiser


def bytes_per_parameter(precision: str, optimiser: str) -> tuple[int, int, int]:
    """(weights, gradients, optimiser state incl. master weights) bytes per parameter."""
    p, o = PRECISIONS[precision], OPTIMISERS[optimiser]
    return p.weight_bytes, p.grad_bytes, p.master_bytes + o.states * o.state_bytes


def activation_bytes(run: TrainingRun) -> float:
    """Activations kept for the backward pass on one GPU (one micro-batch, no tensor or
    pipeline parallelism)."""
    layers, hidden = run.shape
    heads = max(hidden // HEAD_DIM, 1)
    sbh = run.seq_len * run.micro_batch * hidden
    scale = PRECISIONS[run.precision].activation_bytes / 2  # the formula counts 16-bit values
    scores = 0.0 if run.flash_attention else 5 * heads * run.seq_len / hidden
    per_layer = sbh * (34 + scores) * scale
    if run.checkpointing:
        return (2 * sbh * scale) * layers + per_layer
    return per_layer * layers


def _state_split(run: TrainingRun) -> tuple[float, float]:
    """(bytes of training state every GPU keeps whole, bytes the sharding spreads over GPUs)."""
    weights, grads, optim = bytes_per_parameter(run.precision, run.optimiser)
    stage = SHARDING[run.sharding][1]
    parts = [(optim, stage >= 1), (grads, stage >= 2), (weights, stage >= 3)]
    whole = sum(b for b, sharded in parts if not sharded) * run.parameters
    split = sum(b for b, sharded in parts if sharded) * run.parameters
    return whole, split


def memory_per_gpu(run: TrainingRun, gpus: int = 1) -> Memory:
    """Memory on each of `gpus` data-parallel GPUs under the run's sharding."""
    if gpus < 1:
        raise ValueError("at least one GPU")
    weights, grads, optim = bytes_per_parameter(run.precision, run.optimiser)
    stage = SHARDING[run.sharding][1]
    n = run.parameters
    return Memory(
        weights=n * weights / (gpus if stage >= 3 else 1),
        gradients=n * grads / (gpus if stage >= 2 else 1),
        optimiser=n * optim / (gpus if stage >= 1 else 1),
        activations=activation_bytes(run),
    )


def min_gpus(run: TrainingRun, gpu_memory_gb: float, limit: int = 100_000) -> int | None:
    """The fewest data-parallel GPUs whose memory holds the run; None if no number does (what
    every GPU keeps whole, plus the activations, is already too big: shard more, checkpoint
    activations or use a smaller micro-batch)."""
    usable = gpu_memory_gb * GB * USABLE_FRACTION
    whole, split = _state_split(run)
    room = usable - whole - activation_bytes(run)
    if room <= 0:
        return None
    needed = max(math.ceil(split / room - 1e-9), 1)
    return needed if needed <= limit else None


def training_flops(parameters: float, tokens: float) -> float:
    """Model FLOPs of training a dense transformer: 6 per parameter per token."""
    return 6 * parameters * tokens


def gpu_hours(flops: float, peak_tflops: float, mfu: float) -> float:
    """GPU-hours at `mfu` of a GPU's peak (TFLOPS)."""
    if peak_tflops <= 0 or not 0 < mfu <= 1:
        raise ValueError("peak throughput and utilisation must be positive")
    return flops / (mfu * peak_tflops * 1e12) / 3600


def wall_hours(total_gpu_hours: float, gpus: int) -> float:
    """Wall time on `gpus` GPUs, assuming the utilisation holds as the run scales out."""
    if gpus < 1:
        raise ValueError("at least one GPU")
    return total_gpu_hours / gpus
