"""Where the math runs and in which precision."""

from __future__ import annotations

import torch

from electra_data.errors import UserError

__all__ = ["resolve_device", "resolve_precision"]

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU.

    Raises:
        UserError: If ``cuda`` is asked for and none is available.
    """
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was given but no CUDA device is available; use --device cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The autocast dtype (``float32``: no autocast).

    ``auto`` is bf16 on a CUDA device that has it (no loss scaling needed), fp16 on an older
    one, and fp32 on a CPU, where half-precision matmuls are rarely faster.

    Raises:
        UserError: If bf16 is asked for on a CUDA device without it.
    """
    cuda = device.type == "cuda"
    if name == "auto":
        name = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if name == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise UserError("this CUDA device has no bf16: use --precision fp16")
    return _DTYPES[name]
