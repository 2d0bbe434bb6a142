"""Checks of the directories a build writes, made before anything runs: the output (and a
vocab's) directory lies apart from the inputs, holds nothing that no build wrote, is writable;
the work directory lies apart from both.

Each raises a ``UserError`` that names the paths and says what to do.
"""

from __future__ import annotations

import json
import os

from electra_data import fsio
from electra_data.config import BuildConfig
from electra_data.errors import UserError
from electra_data.shards import FORMAT_NAME, MANIFEST
from electra_data.pipelines.write import foreign_entries

__all__ = [
    "check_apart", "check_inputs_apart", "check_not_in_a_dataset_or_run", "check_remote_out", "check_work_dir",
    "check_writable", "replaced_entries",
]  # fmt: skip


def check_apart(out: str, patterns: list[str], files: list[str]) -> None:
    """Refuse an output directory that overlaps the inputs: the next build would read this one's
    output, and replacing it could delete an input.

    Raises:
        UserError: naming both paths.
    """
    for pattern in patterns:
        if fsio.is_local(pattern) and os.path.isdir(pattern) and fsio.within(out, pattern):
            where = "is" if fsio.within(pattern, out) else "lies in"
            raise UserError(
                f"--out {out} {where} the input directory {pattern}: the next build would read this one's output "
                "as input; choose an --out outside the inputs"
            )
    for path in files:
        if fsio.within(path, out):
            raise UserError(
                f"the input {path} lies in --out {out}, which a build replaces; choose an --out apart from the inputs"
            )


def check_writable(directory: str, out: str) -> None:
    try:
        fsio.probe_write(directory)
    except OSError as err:
        raise UserError(
            f"--out {out}: cannot write in {directory} ({err.strerror}); choose another --out or make it writable"
        ) from err


def replaced_entries(out: str, overwrite: bool) -> list[str]:
    """What a local build will replace in ``out``: every entry, once it is sure they are a build's.

    Checks everything about ``out`` that could fail later, before anything is written.

    Raises:
        UserError: ``out`` is a file, holds files no build wrote, holds a dataset and
            ``overwrite`` is off, or is not writable.
    """
    if not os.path.exists(out):
        check_writable(fsio.nearest_existing(out), out)
        return []
    if not os.path.isdir(out):
        raise UserError(f"--out {out} is a file; give a directory")
    entries = os.listdir(out)
    foreign = foreign_entries(out)
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        what = "holds a dataset and also" if MANIFEST in entries else "is not empty and not an electra-data shard directory: it holds"
        raise UserError(
            f"--out {out} {what} {listed}, which no build wrote and a build never deletes; "
            "choose another directory, or move them out"
        )
    if MANIFEST in entries and not overwrite:
        raise UserError(f"{out} already holds a dataset; pass --overwrite to replace it")
    for root, _, _ in os.walk(out):  # the swap moves and deletes in each of these
        check_writable(root, out)
    return entries


# What marks a directory whose files belong together: a dataset (its manifest) or a training run
# (the config electra-train writes first; named here, as the trainer is not imported), each
# told by a field that file has.
_OWNERS = ((MANIFEST, "format", FORMAT_NAME, "dataset"), ("train_config.json", "model_size", None, "training run"))


def _marked(path: str, field: str, value: str | None) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and field in document and (value is None or document[field] == value)


def check_not_in_a_dataset_or_run(out: str) -> None:
    """Refuse a vocab ``--out`` that is, or lies in, a dataset or a training run: its shards or
    model were made with the vocab there, and a new one would replace it or mix with it.

    Raises:
        UserError: naming the dataset or run.
    """
    path = os.path.realpath(out)
    while True:
        for marker, field, value, kind in _OWNERS:
            if _marked(os.path.join(path, marker), field, value):
                where = "is" if path == os.path.realpath(out) else "lies in"
                raise UserError(
                    f"--out {out} {where} the {kind} {path}, which was made with the vocab it holds: a new vocab "
                    "there would break it; choose an --out outside it"
                )
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def check_remote_out(cfg: BuildConfig) -> None:
    if fsio.exists(fsio.join(cfg.out, MANIFEST)) and not cfg.overwrite:
        raise UserError(f"{cfg.out} already holds a dataset; pass --overwrite to replace it")


def check_inputs_apart(cfg: BuildConfig, files: dict[str, list[str]]) -> None:
    patterns = [p for source_patterns in cfg.sources.values() for p in source_patterns]
    check_apart(cfg.out, patterns, [f for source_files in files.values() for f in source_files])


def check_work_dir(work: str, cfg: BuildConfig, files: dict[str, list[str]]) -> None:
    """Refuse a work directory that overlaps the output or an input: a build removes it."""
    if fsio.within(work, cfg.out) or fsio.within(cfg.out, work):
        raise UserError(f"--work-dir {work} and --out {cfg.out} overlap; give a work directory apart from the output")
    patterns = [p for source_patterns in cfg.sources.values() for p in source_patterns]
    for path in [*patterns, *(f for source_files in files.values() for f in source_files)]:
        if fsio.is_local(path) and (fsio.within(path, work) or (os.path.isdir(path) and fsio.within(work, path))):
            raise UserError(f"--work-dir {work} overlaps the input {path}; give a work directory apart from the inputs")
