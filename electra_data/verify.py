"""Check a shard directory against its manifest, and summarise what is in it.

``verify`` reads every byte: checksums, schema, and every row (ids below the vocab size, lengths
within ``max_seq_length``, ``[CLS] A [SEP] (B [SEP])`` structure), and stops at the first problem
with the shard and row it is in. ``inspect`` reads the same columns to describe the dataset. Row
checks are vectorised over a shard's flat id array, so both run at disk speed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from tokenizers import Tokenizer

from electra_data.errors import UserError
from electra_data.shards import FORMAT_VERSION, ids_type, read_manifest
from electra_data.vocab import vocab_sha256

__all__ = ["ShardColumns", "load_columns", "verify_dataset", "describe_dataset"]


@dataclass(frozen=True)
class ShardColumns:
    """A shard's rows as flat numpy arrays: row ``i`` is ``ids[offsets[i]:offsets[i + 1]]``."""

    offsets: np.ndarray
    ids: np.ndarray
    segment_a_length: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def _inside(root: str, rel: str) -> str:
    path = os.path.realpath(os.path.join(root, rel))
    if os.path.isabs(rel) or not path.startswith(os.path.realpath(root) + os.sep):
        raise UserError(f"manifest.json: shard path {rel!r} leaves the dataset directory")
    return path


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_columns(path: str, vocab_size: int) -> ShardColumns:
    """Read one shard and check its schema.

    Raises:
        UserError: if it is not an Arrow stream of the expected schema and version.
    """
    try:
        table = pa.ipc.open_stream(pa.memory_map(path)).read_all()
    except (pa.ArrowInvalid, OSError) as err:
        raise UserError(f"{path}: not a readable Arrow IPC stream ({err})") from err
    version = (table.schema.metadata or {}).get(b"electra_data.format_version")
    if version != str(FORMAT_VERSION).encode():
        raise UserError(f"{path}: format version {version!r}, expected {FORMAT_VERSION}")
    expected = {"input_ids": pa.list_(ids_type(vocab_size)), "segment_a_length": pa.uint16()}
    actual = {f.name: f.type for f in table.schema}
    if actual != expected:
        raise UserError(f"{path}: schema {actual} is not {expected}")
    ids = table.column("input_ids").combine_chunks()
    return ShardColumns(
        offsets=ids.offsets.to_numpy().astype(np.int64),
        ids=ids.values.to_numpy(),
        segment_a_length=table.column("segment_a_length").to_numpy().astype(np.int64),
    )


def _first_bad_row(cols: ShardColumns, max_len: int, vocab_size: int, cls: int, sep: int) -> tuple[int, str] | None:
    lengths, starts = cols.lengths, cols.offsets[:-1]
    seg = cols.segment_a_length
    problems: list[tuple[np.ndarray, str]] = [
        (lengths < 3, "fewer than 3 tokens"),
        (lengths > max_len, f"longer than max_seq_length {max_len}"),
        ((seg < 2) | (seg > lengths), "segment_a_length outside the row"),
    ]
    big = np.flatnonzero(cols.ids >= vocab_size)
    if big.size:
        row = int(np.searchsorted(cols.offsets, big[0], side="right") - 1)
        problems.append((np.arange(len(lengths)) == row, f"id {int(cols.ids[big[0]])} >= vocab size {vocab_size}"))
    ok = lengths >= 3
    safe = np.where(ok, starts, 0)
    problems.append((ok & (cols.ids[safe] != cls), "does not start with [CLS]"))
    problems.append((ok & (cols.ids[np.where(ok, cols.offsets[1:] - 1, 0)] != sep), "does not end with [SEP]"))
    in_row = ok & (seg >= 2) & (seg <= lengths)
    problems.append((in_row & (cols.ids[np.where(in_row, starts + seg - 1, 0)] != sep), "segment A does not end with [SEP]"))
    found = [(int(np.argmax(mask)), why) for mask, why in problems if mask.any()]
    return min(found) if found else None


def verify_dataset(out_dir: str) -> dict:
    """Check everything the manifest claims; returns the manifest if all holds.

    Raises:
        UserError: naming the first bad file, shard and row, and what is wrong.
    """
    manifest = read_manifest(out_dir)
    tok_info = manifest["tokenizer"]
    tok_path = _inside(out_dir, os.path.join(tok_info["path"], "tokenizer.json"))
    try:
        tokenizer = Tokenizer.from_file(tok_path)
    except Exception as err:  # tokenizers raises a bare Exception
        raise UserError(f"{tok_path}: cannot load the tokenizer ({err})") from err
    if vocab_sha256(tokenizer) != tok_info["vocab_sha256"]:
        raise UserError(f"{tok_path}: vocab differs from the one the manifest records")
    vocab_size, max_len = tok_info["vocab_size"], manifest["max_seq_length"]
    special = tok_info["special_tokens"]
    totals = {split: {"examples": 0, "tokens": 0} for split in manifest["splits"]}
    for shard in manifest["shards"]:
        path = _inside(out_dir, shard["path"])
        if not os.path.isfile(path):
            raise UserError(f"{shard['path']}: missing")
        if os.path.getsize(path) != shard["bytes"] or _sha256(path) != shard["sha256"]:
            raise UserError(f"{shard['path']}: checksum mismatch (the file changed or is corrupt)")
        cols = load_columns(path, vocab_size)
        if len(cols.lengths) != shard["examples"] or int(cols.lengths.sum()) != shard["tokens"]:
            raise UserError(f"{shard['path']}: {len(cols.lengths)} rows / {int(cols.lengths.sum())} tokens, manifest says "
                            f"{shard['examples']} / {shard['tokens']}")
        bad = _first_bad_row(cols, max_len, vocab_size, special["cls"], special["sep"])
        if bad is not None:
            raise UserError(f"{shard['path']}: row {bad[0]}: {bad[1]}")
        totals[shard["split"]]["examples"] += shard["examples"]
        totals[shard["split"]]["tokens"] += shard["tokens"]
    if totals != manifest["splits"]:
        raise UserError(f"manifest.json: split totals {manifest['splits']} do not add up from the shards ({totals})")
    return manifest


def describe_dataset(out_dir: str, *, examples: int = 3, bins: int = 8) -> dict:
    """Counts, length histogram, padding share and a few decoded examples of a shard directory."""
    manifest = read_manifest(out_dir)
    tok_info = manifest["tokenizer"]
    tokenizer = Tokenizer.from_file(_inside(out_dir, os.path.join(tok_info["path"], "tokenizer.json")))
    max_len = manifest["max_seq_length"]
    lengths, decoded, single = [], [], 0
    for shard in manifest["shards"]:
        cols = load_columns(_inside(out_dir, shard["path"]), tok_info["vocab_size"])
        lengths.append(cols.lengths)
        single += int((cols.segment_a_length == cols.lengths).sum())
        for i in range(min(examples - len(decoded), len(cols.lengths))):
            row = cols.ids[cols.offsets[i] : cols.offsets[i + 1]].tolist()
            seg = int(cols.segment_a_length[i])
            parts = [tokenizer.decode(row[:seg], skip_special_tokens=False)]
            if seg < len(row):
                parts.append(tokenizer.decode(row[seg:], skip_special_tokens=False))
            decoded.append({"shard": shard["path"], "row": i, "segments": parts})
    all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    edges = np.linspace(0, max_len, bins + 1).astype(int)
    hist, _ = np.histogram(all_lengths, bins=edges)
    n = len(all_lengths)
    return {
        "splits": manifest["splits"],
        "shards": len(manifest["shards"]),
        "examples": n,
        "single_segment_share": single / n if n else 0.0,
        "padding_share": 1 - all_lengths.sum() / (n * max_len) if n else 0.0,
        "length_histogram": [(int(lo), int(hi), int(c)) for lo, hi, c in zip(edges[:-1], edges[1:], hist)],
        "decoded": decoded,
    }
