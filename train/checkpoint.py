"""Checkpoints: everything needed to continue a run exactly, written atomically.

Layout: ``<out>/checkpoints/step-0001000/`` holds one ``from_pretrained`` directory per network
(``save_networks``: safetensors, so any checkpoint also loads with ``from_pretrained``) and
``state.pt`` (optimizer, scheduler, loss scaler, step, data position, resolved config) holding
only tensors and plain Python values, so it loads with ``torch.load(weights_only=True)``. There
is no random generator state to save: the loop seeds each step from ``(seed, step, rank)``.
A checkpoint is written under a temporary name and renamed into place: a crash never leaves a
half-written ``step-*``, and a failed or interrupted save removes its temporary directory (a
killed one's is removed by the next save). Only the last ``keep`` are kept.
"""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError

from electra_data.errors import UserError
from electra_data.train.config import ARCHITECTURE
from electra_data.train.data import BatchStream
from electra_data.train.model import ElectraPair, MaskedLM, load_networks, save_networks
from electra_data.train.rundir import checkpoint_name, checkpoints_in, latest_checkpoint

__all__ = ["TrainState", "checkpoint_name", "latest_checkpoint", "save_checkpoint", "load_checkpoint"]


@dataclass
class TrainState:
    """The live objects a checkpoint saves and restores."""

    model: ElectraPair | MaskedLM
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    stream: BatchStream


def _fsync_tree(root: Path) -> None:
    for path in [*root.rglob("*"), root]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(directory: Path, step: int, state: TrainState, config: dict, keep: int) -> Path:
    """Write ``<directory>/step-XXXXXXX/`` atomically and delete all but the last ``keep``.

    Args:
        directory: The run's ``checkpoints/`` directory (created if missing).
        step: Optimizer steps taken.
        state: The live training objects.
        config: The resolved training config (``TrainConfig.to_dict()``).
        keep: How many checkpoints to keep, this one included.

    Returns:
        The checkpoint directory.
    """
    final = directory / checkpoint_name(step)
    tmp = directory / f".{final.name}.tmp"
    for stale in directory.glob(".step-*.tmp"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    saved = {
        "step": step,
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict(),
        "data": state.stream.state_dict(),
        "config": config,
    }
    try:
        tmp.mkdir(parents=True)
        save_networks(state.model, tmp)
        # Through a Python file object, a failed write (disk full) keeps its OSError as the
        # context of torch's RuntimeError, which alone says only "unexpected pos".
        with open(tmp / "state.pt", "wb") as f:
            torch.save(saved, f)
        _fsync_tree(tmp)
        if final.exists():  # only when the same step is saved twice
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException as e:  # a signal included: never leave a half-written checkpoint behind
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, (OSError, RuntimeError, SafetensorError)):
            raise UserError(
                f"cannot write checkpoint {final} ({_write_error(e)}): free space there (or fix its "
                f"permissions) and continue with --resume, or start again with another --out; the "
                f"last complete checkpoint is {latest_checkpoint(directory) or 'none'}"
            ) from e
        raise
    for old in checkpoints_in(directory)[:-keep]:
        shutil.rmtree(old)
    return final


def _write_error(e: BaseException) -> str:
    """The operating system's reason for a failed save, else the error's first line."""
    cause = e
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None and cause.strerror:
        return cause.strerror
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def load_checkpoint(path: Path, state: TrainState, config: dict) -> dict:
    """Restore a ``save_checkpoint`` directory into live objects built as for the saved run.

    Args:
        path: A ``step-XXXXXXX`` directory.
        state: The live objects to restore, in place (the optimizer keeps pointing at the same
            parameters and the embedding sharing stays).
        config: This run's resolved config; its ``ARCHITECTURE`` fields must match the saved ones.

    Returns:
        The saved state (``step``, ``config``, ...).

    Raises:
        UserError: If the checkpoint is incomplete or corrupt, or was saved with another
            architecture or on other data.
    """
    try:
        with warnings.catch_warnings():  # torch's note on a pickle's protocol, before refusing it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            saved = torch.load(path / "state.pt", weights_only=True)
        changed = [name for name in ARCHITECTURE if saved["config"].get(name) != config[name]]
        if changed:
            was = ", ".join(f"{n}={saved['config'].get(n)}" for n in changed)
            now = ", ".join(f"{n}={config[n]}" for n in changed)
            raise UserError(
                f"checkpoint {path} was trained with {was}; this run asks for {now}: resume with "
                "the same architecture, or start a new run in another --out"
            )
        load_networks(state.model, path)
    except FileNotFoundError as e:
        raise UserError(f"checkpoint {path} is incomplete: {e.filename} is missing") from e
    except pickle.UnpicklingError as e:  # torch's message advises weights_only=False: never that
        raise UserError(
            f"checkpoint {path} is corrupt: its state.pt is not a safe checkpoint (not only tensors "
            "and plain values, or not a torch file); delete it to resume from the one before"
        ) from e
    except (RuntimeError, EOFError, KeyError, SafetensorError) as e:
        raise UserError(
            f"checkpoint {path} is corrupt ({type(e).__name__}: {e}); delete it to resume from "
            "the one before"
        ) from e
    except UserError:
        raise
    except ValueError as e:  # load_networks: weights of other shapes
        raise UserError(f"checkpoint {path} does not fit this run ({e}): were the shards rebuilt?") from e
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    if saved["scaler"]:  # empty when saved by a run without fp16 loss scaling
        state.scaler.load_state_dict(saved["scaler"])
    state.stream.load_state_dict(saved["data"])
    return saved
