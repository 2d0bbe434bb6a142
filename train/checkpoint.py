"""Checkpoints: everything needed to continue a run exactly, written atomically.

Layout: ``<out>/checkpoints/step-0001000/{discriminator,generator}/`` (``save_pretrained``
safetensors, so any checkpoint also loads with ``from_pretrained``) and ``state.pt`` (optimizer,
scheduler, step, data position, RNG states, resolved config) holding only tensors and plain
Python values, so it loads with ``torch.load(weights_only=True)``. A checkpoint is written under
a temporary name and renamed into place: a crash never leaves a half-written ``step-*``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from electra_data.errors import UserError
from electra_data.train.data import BatchStream
from electra_data.train.model import ElectraPair, tie_weights

__all__ = ["checkpoint_name", "save_checkpoint", "load_checkpoint"]

_WEIGHTS = "model.safetensors"
_ONE_FILE = "1000GB"  # never shard: one file per model keeps loading into live modules simple


def checkpoint_name(step: int) -> str:
    """Directory name of the checkpoint after ``step`` optimizer steps (sorts by step)."""
    return f"step-{step:07d}"


def _fsync_tree(root: Path) -> None:
    for path in [*root.rglob("*"), root]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(
    directory: Path,
    step: int,
    pair: ElectraPair,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    stream: BatchStream,
    rng: torch.Generator,
    config: dict,
) -> Path:
    """Write ``<directory>/step-XXXXXXX/`` atomically.

    Args:
        directory: The run's ``checkpoints/`` directory (created if missing).
        step: Optimizer steps taken.
        pair: The models.
        optimizer: The optimizer.
        scheduler: The learning-rate scheduler.
        stream: The training batch stream (its position is saved).
        rng: The objective's random generator.
        config: The resolved training config (``TrainConfig.to_dict()``).

    Returns:
        The checkpoint directory.
    """
    final = directory / checkpoint_name(step)
    tmp = directory / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pair.discriminator.save_pretrained(tmp / "discriminator", max_shard_size=_ONE_FILE)
    pair.generator.save_pretrained(tmp / "generator", max_shard_size=_ONE_FILE)
    rng_states = {"torch": torch.get_rng_state(), "objective": rng.get_state()}
    if torch.cuda.is_available():
        rng_states["cuda"] = torch.cuda.get_rng_state_all()
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "data": stream.state_dict(),
        "rng": rng_states,
        "config": config,
    }
    torch.save(state, tmp / "state.pt")
    _fsync_tree(tmp)
    if final.exists():  # only when the same step is saved twice
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def load_checkpoint(
    path: Path,
    pair: ElectraPair,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    stream: BatchStream,
    rng: torch.Generator,
) -> dict:
    """Restore a ``save_checkpoint`` directory into live objects.

    The models, optimizer and scheduler must be built as for the saved run; weights are loaded in
    place so the optimizer keeps pointing at the same parameters, and the cross-model sharing is
    re-established.

    Args:
        path: A ``step-XXXXXXX`` directory.
        pair: Models to load into.
        optimizer: Optimizer to restore.
        scheduler: Scheduler to restore.
        stream: Training stream to reposition.
        rng: The objective's generator to restore.

    Returns:
        The saved state (``step``, ``config``, ...).

    Raises:
        UserError: If the checkpoint is incomplete or its models do not fit ``pair``.
    """
    try:
        state = torch.load(path / "state.pt", weights_only=True)
        disc = load_file(path / "discriminator" / _WEIGHTS)
        gen = load_file(path / "generator" / _WEIGHTS)
    except FileNotFoundError as e:
        raise UserError(f"checkpoint {path} is incomplete: {e.filename} is missing") from e
    try:
        pair.discriminator.load_state_dict(disc)
        # save_pretrained leaves out the softmax weight tied to the word embeddings.
        result = pair.generator.load_state_dict(gen, strict=False)
    except RuntimeError as e:
        raise UserError(f"checkpoint {path} does not fit this model size: {e}") from e
    if result.unexpected_keys or set(result.missing_keys) - {"generator_lm_head.weight"}:
        raise UserError(f"checkpoint {path} does not fit this generator: {result}")
    tie_weights(pair.discriminator, pair.generator)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    stream.load_state_dict(state["data"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    rng.set_state(state["rng"]["objective"])
    return state
