"""Will a training step fit in memory? An estimate, checked before training starts.

A batch far beyond the machine otherwise allocates until the kernel kills the process (seen: 21 GB
for one step), with no message and after minutes of setup.

The estimate of one step in fp32 is

    16 bytes per parameter (weight, gradient, AdamW's two moments)
    + examples x tokens x (for each network: 26 floats x hidden x (layers + 1)
                                             + 11 bytes x tokens x heads x layers
                           + mask_prob x vocab x 11 bytes (6 for --objective mlm))

with every example at the data's ``max_seq_length`` (a batch pads to its longest), and 0.7 of
the per-example part under bf16/fp16 autocast. The constants
were measured once: peak RSS of two steps in a fresh process (torch 2.13, CPU, fp32, tied
embeddings, random full-length batches), at two or three batch sizes per shape; peak memory grows
linearly with the batch, and its slope per token was split by varying one thing at a time.
Vocab 2000 -> 30522 (tiny, 128 tokens) added 46 KB per token: 10.8 bytes per masked token per
vocab entry (the logits, their softmax and its CDF for sampling; an MLM does not sample: 5.7).
128 -> 256 tokens (tiny) added 8.5 KB per token over its 6 heads x layers: 11 bytes per key
(attention probabilities and their dropout). The rest, fitted on mini and small, is 26.3 floats
per hidden unit per layer plus 25.7 per network (embeddings and head): 26 x (layers + 1).
Against the measurements (KB per token): tiny 118.7 for 115.5, tiny at 256 tokens 127.2 for
124, tiny with vocab 2000 71.7 for 69.5, mini 244.9 for 245, small 567.5 for 571, tiny MLM 73.0
for 71.7 (tiny's generator then half its width); later, on real shards (vocab 8192, 128 tokens,
batches 16 and 96), tiny with its full-width generator 104.7 for 92.4 and with a half-width one
81.9 for 76.0. Under bf16 autocast mini took 22.2 MB per example against 31.3 in fp32: 0.71. On
CUDA the fused attention kernels keep no attention probabilities, so there the estimate errs high; a
CUDA out-of-memory error that still happens becomes a message in the loop.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from electra_data.errors import UserError
from electra_data.train.config import TrainConfig
from electra_data.train.manifest import Manifest

__all__ = ["step_bytes", "available_bytes", "check_memory"]

_PER_PARAMETER = 16
_PER_HIDDEN_UNIT = 26 * 4  # per layer, the embeddings and head counted as one more
_PER_KEY = 11
_PER_LOGIT = {"electra": 11, "mlm": 6}
_HALF_PRECISION = 0.7  # of the per-example memory, under bf16/fp16 autocast


def step_bytes(
    cfg: TrainConfig, manifest: Manifest, parameters: int, dtype: torch.dtype = torch.float32
) -> tuple[int, int]:
    """The estimated memory of one training step: ``(fixed, per example)`` bytes.

    Args:
        cfg: The run's config (networks, objective, mask probability).
        manifest: The data's manifest (sequence length, vocab size).
        parameters: The model's parameter count.
        dtype: The autocast dtype (``float32``: none).
    """
    tokens = manifest.max_seq_length
    networks = [cfg.discriminator_dims] if cfg.objective == "mlm" else [cfg.discriminator_dims, cfg.generator_dims]
    per_token = sum(_PER_HIDDEN_UNIT * d.hidden * (d.layers + 1) + _PER_KEY * tokens * d.heads * d.layers
                    for d in networks)
    per_token += _PER_LOGIT[cfg.objective] * cfg.mask_prob * manifest.vocab_size
    if dtype != torch.float32:
        per_token *= _HALF_PRECISION
    return _PER_PARAMETER * parameters, int(per_token * tokens)


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _cgroup_available() -> int | None:
    """What a container's memory limit (cgroup v2) leaves, if it sets one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None
    return int(limit) - used if limit.isdigit() else None


def available_bytes(device: torch.device) -> int | None:
    """Memory free for this process on ``device``, or None where it cannot be told.

    On CUDA the device's free memory; on a CPU the kernel's MemAvailable (or less under a
    container's limit), shared by the processes ``torchrun`` started on this machine.
    """
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    found = [b for b in (_meminfo_available(), _cgroup_available()) if b is not None]
    if not found:
        return None
    return min(found) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def check_memory(
    cfg: TrainConfig, manifest: Manifest, parameters: int, device: torch.device, dtype: torch.dtype, world_size: int
) -> None:
    """Refuse a batch whose training step would not fit in the memory available.

    Raises:
        UserError: Giving the estimate, what is available, and a ``--batch-size`` or
            ``--grad-accum`` that fits.
    """
    available = available_bytes(device)
    fixed, per_example = step_bytes(cfg, manifest, parameters, dtype)
    micro = cfg.batch_size // (cfg.grad_accum * world_size)
    need = fixed + micro * per_example
    if available is None or need <= available:
        return
    message = (
        f"--batch-size {cfg.batch_size} needs about {_gb(need)} per training step on {device.type} "
        f"({_gb(fixed)} for the weights, gradients and AdamW state, {_gb(micro * per_example)} for "
        f"the activations of {micro} examples of up to {manifest.max_seq_length} tokens), but "
        f"{_gb(available)} is available"
    )
    fits = (available - fixed) // per_example  # examples per micro-batch that fit
    if fits < 1:
        raise UserError(f"{message}; not even one example fits: use a smaller --model-size or a machine "
                        "with more memory")
    # The same batch in more, smaller micro-batches, if one divides it evenly.
    accum = next((k for k in range(cfg.grad_accum + 1, cfg.batch_size // world_size + 1)
                  if cfg.batch_size % (k * world_size) == 0 and cfg.batch_size // (k * world_size) <= fits), None)
    keep = f", or keep it with --grad-accum {accum}" if accum else ""
    raise UserError(f"{message}: use --batch-size {fits * cfg.grad_accum * world_size} or less{keep}")
