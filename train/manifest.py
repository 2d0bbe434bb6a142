"""The shard directory's manifest: the contract between ``electra-data build`` and the trainer.

``<dir>/manifest.json`` is written last by the build, so its presence means the directory is
complete. This module checks it (format, version, paths that stay inside the directory, files
that exist) and keeps the facts the trainer needs. The trainer never imports the writer
(``electra_data.shards``): either side may change its internals as long as the contract holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from electra_data.errors import UserError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "REBUILD",
    "SpecialTokens",
    "ShardInfo",
    "Manifest",
    "read_manifest",
]

FORMAT_NAME = "electra-data-shards"
FORMAT_VERSION = 1
REBUILD = "rerun electra-data build"  # the fix for any broken or partial directory


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the special tokens the trainer needs."""

    pad: int
    unk: int
    cls: int
    sep: int
    mask: int


@dataclass(frozen=True)
class ShardInfo:
    """One shard as the manifest lists it; ``path`` is absolute and inside the directory, and
    ``bytes`` its size when the manifest records it."""

    path: Path
    split: str
    examples: int
    tokens: int
    bytes: int | None = None


@dataclass(frozen=True)
class Manifest:
    """The parts of ``manifest.json`` the trainer uses, checked; ``raw`` keeps the whole file."""

    root: Path
    max_seq_length: int
    vocab_size: int
    special_tokens: SpecialTokens
    tokenizer_dir: Path
    shards: tuple[ShardInfo, ...]
    raw: dict = field(repr=False, compare=False)

    def split(self, name: str) -> tuple[ShardInfo, ...]:
        """The shards of one split, in manifest order."""
        return tuple(s for s in self.shards if s.split == name)


def _inside(root: Path, relative: str, what: str) -> Path:
    """Resolve a manifest path, refusing any that would leave the directory."""
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(root):
        raise UserError(
            f"{what} path {relative!r} in {root / 'manifest.json'} leaves the directory"
        )
    return path


def read_manifest(data_dir: str | Path) -> Manifest:
    """Read and check ``<data_dir>/manifest.json``.

    Args:
        data_dir: A shard directory written by ``electra-data build``.

    Returns:
        The checked ``Manifest``.

    Raises:
        UserError: If the directory or manifest is missing, the format or version is unknown, a
            path leaves the directory, a listed shard is missing or not of its recorded size, or
            the tokenizer is missing.
    """
    root = Path(data_dir).resolve()
    if not root.is_dir():
        raise UserError(f"data directory {data_dir} does not exist")
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise UserError(f"no manifest.json in {data_dir}: the build did not finish; {REBUILD}")
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT_NAME:
            raise UserError(f"{manifest_path} is not an {FORMAT_NAME} manifest")
        if raw.get("format_version") != FORMAT_VERSION:
            raise UserError(
                f"{manifest_path} has format_version {raw.get('format_version')!r}; this trainer "
                f"reads version {FORMAT_VERSION}: use a matching electra-data release or {REBUILD}"
            )
        tok = raw["tokenizer"]
        ids = tok["special_tokens"]
        special = SpecialTokens(**{k: int(ids[k]) for k in ("pad", "unk", "cls", "sep", "mask")})
        shards = tuple(
            ShardInfo(_inside(root, s["path"], "shard"), s["split"], int(s["examples"]), int(s["tokens"]),
                      int(s["bytes"]) if "bytes" in s else None)
            for s in raw["shards"]
        )
        manifest = Manifest(
            root=root,
            max_seq_length=int(raw["max_seq_length"]),
            vocab_size=int(tok["vocab_size"]),
            special_tokens=special,
            tokenizer_dir=_inside(root, tok["path"], "tokenizer"),
            shards=shards,
            raw=raw,
        )
    except UserError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as e:  # JSONDecodeError included
        why = f"{type(e).__name__}: {e}"
        raise UserError(f"{manifest_path} is malformed ({why}); {REBUILD}") from e
    for shard in shards:
        if not shard.path.is_file():
            raise UserError(f"shard {shard.path} listed in the manifest is missing; {REBUILD}")
        # A stat, not a checksum (that is verify's work): a truncated shard is refused before the
        # run writes anything, not at the batch that first reads it.
        if shard.bytes is not None and (size := shard.path.stat().st_size) != shard.bytes:
            raise UserError(
                f"shard {shard.path} has {size} bytes, the manifest says {shard.bytes}: it changed "
                f"after the build; check the directory with electra-data verify and {REBUILD}"
            )
    # Checked now, not at export time hours later: the export copies the tokenizer.
    if not (manifest.tokenizer_dir / "tokenizer_config.json").is_file():
        raise UserError(f"tokenizer {manifest.tokenizer_dir} is missing or incomplete; {REBUILD}")
    return manifest
