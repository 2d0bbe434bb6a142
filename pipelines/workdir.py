"""The build's work directory: where documents, runs and markers wait between stages.

Layout (every file written atomically, so one that exists is complete)::

    WORK/build.json             what build this is: the config and inputs it is for
    WORK/read/<item>.json       marker: item read (its units, rejected records, counts)
    WORK/raw/<unit>.arrow       a unit's documents as read (deleted once processed)
    WORK/units/<unit>.json      marker: unit cleaned (rejected records, counts)
    WORK/docs/<unit>.arrow      its cleaned documents
    WORK/exact/<unit>.arrow     run: exact-dedup keys      WORK/bands/<unit>.arrow  run: MinHash bands
    WORK/examples/<unit>.arrow  its packed examples        WORK/sorted/<unit>.arrow run: them by shard
    WORK/progress/...           progress of the work items (``electra_data.progress``)

The default work directory lies beside ``--out``. It is removed after a successful build and
kept after a failed or interrupted one, for ``--resume``: a build started again with the same
config and inputs reuses every read item and unit already done (the rest of the build is redone;
its shards are byte-identical to an uninterrupted build's). A work directory is never taken
over by another build: one with another config, or a directory no build made, is refused.
"""

from __future__ import annotations

import json
import os
import shutil

from electra_data import fsio
from electra_data.errors import UserError

__all__ = ["default_work_dir", "docs_path", "marker_path", "raw_path", "run_path", "prepare", "remove"]

_MARKER = "build.json"
_KIND = "electra-data build work directory"


def default_work_dir(out: str) -> str:
    """``<out>.work`` beside the output directory."""
    return out.rstrip("/\\") + ".work"


def marker_path(work: str, stage: str, name: str) -> str:
    return fsio.join(work, stage, f"{name}.json")


def raw_path(work: str, unit: str) -> str:
    return fsio.join(work, "raw", f"{unit}.arrow")


def docs_path(work: str, unit: str) -> str:
    return fsio.join(work, "docs", f"{unit}.arrow")


def run_path(work: str, kind: str, unit: str) -> str:
    return fsio.join(work, kind, f"{unit}.arrow")


def _identity(config: dict, files: dict[str, list[str]]) -> dict:
    """What the work on disk depends on: the config (less where the output goes) and the inputs
    (each file's size and modification time, so that an input changed since is noticed)."""
    inputs = {}
    for source, paths in sorted(files.items()):
        inputs[source] = [[p, fsio.size(p), os.path.getmtime(p) if fsio.is_local(p) else None] for p in paths]
    settings = {k: v for k, v in config.items() if k not in ("out", "overwrite")}
    return json.loads(json.dumps({"kind": _KIND, "config": settings, "inputs": inputs}))  # as it reads back


def _differences(old: dict, new: dict) -> list[str]:
    changed = [f"--{k.replace('_', '-')}" for k in sorted(set(old["config"]) | set(new["config"]))
               if old["config"].get(k) != new["config"].get(k)]  # fmt: skip
    if old["inputs"] != new["inputs"]:
        changed.append("the input files")
    return changed


def prepare(work: str, config: dict, files: dict[str, list[str]], *, resume: bool | None) -> None:
    """Make ``work`` ready for this build, or check that ``resume`` can continue the one there
    (``resume=None``: continue one with the same settings if there is one, else start).

    Raises:
        UserError: ``work`` holds an unfinished build and ``resume`` is off; ``resume`` is on and
            it holds no build, or one of another config or inputs; it holds files no build
            wrote; or it cannot be written.
    """
    identity = _identity(config, files)
    marker = fsio.join(work, _MARKER)
    if fsio.exists(marker):
        try:
            old = json.loads(fsio.read_bytes(marker))
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict) or old.get("kind") != _KIND:
            raise UserError(f"--work-dir {work}: its {_MARKER} is not one a build wrote; choose another --work-dir")
        if resume is False:
            raise UserError(
                f"--work-dir {work} holds the work of an unfinished build; pass --resume to continue it, "
                "or remove the directory to start again"
            )
        changed = _differences(old, identity)
        if changed:
            raise UserError(
                f"{'--resume: ' if resume else ''}the build in {work} was started with other settings ({', '.join(changed)} differ); "
                "run it with the same ones, or remove the directory to start again"
            )
        return
    if resume:
        raise UserError(f"--resume: {work} holds no unfinished build to continue; run without --resume")
    if fsio.is_local(work):
        if os.path.exists(work) and (not os.path.isdir(work) or os.listdir(work)):
            raise UserError(
                f"--work-dir {work} already exists and is no build's work directory; choose another --work-dir"
            )
        try:
            os.makedirs(work, exist_ok=True)
            fsio.probe_write(work)
        except OSError as err:
            raise UserError(f"--work-dir {work}: cannot write there ({err.strerror}); choose another --work-dir") from err
    fsio.write_bytes_atomic(marker, json.dumps(identity, indent=1).encode())


def remove(work: str) -> None:
    """Delete a finished build's work directory (only one that holds a build's marker)."""
    if not fsio.exists(fsio.join(work, _MARKER)):
        return
    if fsio.is_local(work):
        shutil.rmtree(work, ignore_errors=True)
    else:
        from apache_beam.io.filesystems import FileSystems

        FileSystems.delete([work.rstrip("/") + "/"])
