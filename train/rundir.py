"""The run directory (``--out``): what a run writes there, and the checks made before it writes
or replaces anything.

A run directory is recognised by its own ``train_config.json``, which a run writes before any
other output. ``--overwrite`` deletes only the ``RUN_OUTPUTS`` of such a directory, never a
directory that merely holds files of the same names (a shard directory's ``tokenizer/``, a
project's ``README.md``). Light on imports: the CLI uses it before torch is loaded, and when a
signal arrives.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from electra_data.errors import UserError
from electra_data.fsio import nearest_existing, probe_write
from electra_data.train.monitor import METRICS, PLOT, TENSORBOARD

__all__ = [
    "RUN_CONFIG",
    "RUN_OUTPUTS",
    "checkpoint_name",
    "checkpoints_in",
    "latest_checkpoint",
    "existing_outputs",
    "check_out_dir",
    "remove_outputs",
    "resume_hint",
]

RUN_CONFIG = "train_config.json"
# Everything a run writes into its output directory; nothing else there is ever touched.
RUN_OUTPUTS = (
    "discriminator",
    "generator",
    "mlm",
    "tokenizer",
    "checkpoints",
    METRICS,
    PLOT,
    TENSORBOARD,
    RUN_CONFIG,
    "README.md",
)
_CHECKPOINT_PREFIX = "step-"


def checkpoint_name(step: int) -> str:
    """Directory name of the checkpoint after ``step`` optimizer steps (sorts by step)."""
    return f"{_CHECKPOINT_PREFIX}{step:07d}"


def checkpoints_in(directory: Path) -> list[Path]:
    """The complete checkpoints in a run's ``checkpoints/`` directory, oldest first."""
    # Temporary ".step-*.tmp" directories of an interrupted save do not match the prefix.
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"{_CHECKPOINT_PREFIX}*") if p.is_dir())


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest complete checkpoint in a run's ``checkpoints/`` directory, if any."""
    found = checkpoints_in(directory)
    return found[-1] if found else None


def existing_outputs(out_dir: Path) -> list[str]:
    """Names in ``out_dir`` that a run writes (and a new run would overwrite)."""
    return [name for name in RUN_OUTPUTS if (out_dir / name).exists()]


def _is_run_dir(out_dir: Path) -> bool:
    try:
        config = json.loads((out_dir / RUN_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and {"data_dir", "out_dir", "model_size"} <= config.keys()


def _overlap(out: Path, other: Path) -> str | None:
    """How ``out`` and ``other`` overlap ("is", "is inside", "contains"), or None."""
    out, other = out.resolve(), other.resolve()
    if out == other:
        return "is"
    if other in out.parents:
        return "is inside"
    if out in other.parents:
        return "contains"
    return None


def _unwritable(paths: list[Path]) -> Path | None:
    """The first directory among ``paths`` (and the directories under them) that this process
    cannot create or delete entries in."""
    for path in paths:
        dirs = [path] + ([Path(d) for d, _, _ in os.walk(path)][1:] if path.is_dir() else [])
        for d in dirs:
            if d.is_dir() and not os.access(d, os.W_OK | os.X_OK):
                return d
    return None


def check_out_dir(out: Path, data: Path, init_from: Path | None, resume: bool, overwrite: bool) -> None:
    """Refuse an ``--out`` that a run could not use, or could only use by harming other files.

    Checked before anything is written or deleted: ``--out`` must not overlap ``--data`` or
    ``--init-from``, must be writable, and may hold outputs only of an earlier run (which need
    ``--resume`` or ``--overwrite``).

    Raises:
        UserError: Naming the directories and what to do.
    """
    if resume and overwrite:
        raise UserError("--resume continues the run in --out and --overwrite deletes it: pass one of them")
    for flag, other in (("--data", data), ("--init-from", init_from)):
        relation = other is not None and _overlap(out, other)
        if relation:
            raise UserError(
                f"--out {out} {relation} {flag} {other}: a run writes and replaces files in --out, "
                f"so it must not overlap {flag}; choose an --out outside it (e.g. runs/NAME)"
            )
    existing = Path(nearest_existing(str(out)))
    try:  # by writing: os.access says yes to root, even on a read-only filesystem
        probe_write(str(existing))
    except OSError as e:
        raise UserError(f"--out {out}: cannot write in {existing} ({e.strerror}); choose a writable --out") from None
    if (out / "manifest.json").exists():
        raise UserError(f"--out {out} is a shard directory (it has a manifest.json); choose another --out")
    earlier = existing_outputs(out)
    if not earlier:
        return
    if not _is_run_dir(out):
        raise UserError(
            f"--out {out} holds {', '.join(earlier)} but no {RUN_CONFIG}: electra-train did not write "
            "them, so it will neither overwrite nor delete them; choose another --out"
        )
    if not overwrite and not resume:
        raise UserError(
            f"{out} already holds a run ({', '.join(earlier)}); pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    if overwrite and (locked := _unwritable([out / name for name in earlier])):
        raise UserError(
            f"--overwrite: cannot delete the earlier run in {out}: {locked} is not writable "
            "(permission denied); fix its permissions or choose another --out"
        )


def remove_outputs(out_dir: Path) -> None:
    """Delete what an earlier run wrote into ``out_dir``, leaving any other files alone.

    Only after ``check_out_dir`` recognised ``out_dir`` as a run directory.
    """
    for name in existing_outputs(out_dir):
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def resume_hint(out_dir: Path) -> str:
    """What a stopped run leaves to continue from, for the last line the user sees."""
    latest = latest_checkpoint(out_dir / "checkpoints")
    if latest is not None:
        return f"the last checkpoint is {latest}: continue with --resume"
    if existing_outputs(out_dir):
        return "no checkpoint was saved: start again with --overwrite"
    return "nothing was written: run the command again"
