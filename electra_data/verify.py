"""Check a shard directory against its manifest, and summarise what is in it.

``verify`` reads every byte: the tokenizer files against the manifest's tokenizer facts,
checksums, schema, and every row (ids below the vocab size, lengths within ``max_seq_length``,
``[CLS] A [SEP] (B [SEP])`` structure), and stops at the first problem with the file, shard and
row it is in. ``inspect`` reads the same columns to describe the dataset. Row checks are
vectorised over a shard's flat id array, so both run at disk speed. Both first check every
manifest field they read (:data:`_SCHEMA`), so a damaged manifest is a message, not a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from electra_data.errors import UserError
from electra_data.shards import FORMAT_VERSION, MANIFEST, SPLITS, ids_type, read_manifest
from electra_data.vocab import SPECIAL_TOKENS, is_lowercase, load_tokenizer, special_token_ids, vocab_sha256

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


# A manifest field's kind: what it must be (for the message) and the test. bool is an int in
# Python, and JSON's 1.0 is a float: both are refused where a count is expected.
_COUNT = ("a non-negative integer", lambda v: type(v) is int and v >= 0)
_POSITIVE = ("a positive integer", lambda v: type(v) is int and v > 0)
_TEXT = ("a string", lambda v: isinstance(v, str))
_FLAG = ("true or false", lambda v: isinstance(v, bool))
_SPLIT = (f"one of {', '.join(SPLITS)}", lambda v: v in SPLITS)
# Every manifest field that verify and inspect read (a dict: an object with these keys, more
# allowed; a one-item list: an array of such items).
_SCHEMA = {
    "max_seq_length": _POSITIVE,
    "tokenizer": {
        "path": _TEXT,
        "vocab_size": _POSITIVE,
        "lowercase": _FLAG,
        "vocab_sha256": _TEXT,
        "special_tokens": {name: _COUNT for name in SPECIAL_TOKENS},
    },
    "splits": {split: {"examples": _COUNT, "tokens": _COUNT} for split in SPLITS},
    "shards": [
        {"path": _TEXT, "split": _SPLIT, "examples": _COUNT, "tokens": _COUNT, "bytes": _COUNT, "sha256": _TEXT}
    ],
}


def _check_schema(value, spec, where: str = "") -> None:
    """Raise a UserError naming the first field of ``value`` that ``spec`` does not allow."""
    def damaged(problem: str) -> UserError:
        return UserError(f"{MANIFEST}: {problem}; the manifest is damaged: rebuild the dataset with electra-data build")

    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise damaged(f"{where} must be an object, got {json.dumps(value)[:60]}")
        for key, item in spec.items():
            field = f"{where}.{key}" if where else key
            if key not in value:
                raise damaged(f"{field} is missing")
            _check_schema(value[key], item, field)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise damaged(f"{where} must be an array, got {json.dumps(value)[:60]}")
        for i, item in enumerate(value):
            _check_schema(item, spec[0], f"{where}[{i}]")
    elif not spec[1](value):
        raise damaged(f"{where} must be {spec[0]}, got {json.dumps(value)[:60]}")


def _read_checked_manifest(out_dir: str) -> dict:
    """The manifest, every field that verify and inspect read checked for presence and type."""
    manifest = read_manifest(out_dir)  # checks that it is an object of our format and version
    _check_schema(manifest, _SCHEMA)
    return manifest


def _inside(root: str, rel: str) -> str:
    path = "" if "\x00" in rel else os.path.realpath(os.path.join(root, rel))  # realpath raises on a NUL
    if os.path.isabs(rel) or not path.startswith(os.path.realpath(root) + os.sep):
        raise UserError(f"{MANIFEST}: path {rel!r} leaves the dataset directory")
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


def _check_tokenizer(out_dir: str, tok_info: dict) -> None:
    """Check the tokenizer files against the manifest's facts about the vocab the shards use.

    A changed vocab.txt or tokenizer.json would make the trainer size its embeddings, or a user
    decode the ids, with another vocab than the one the shards were tokenized with.
    """
    directory = _inside(out_dir, tok_info["path"])
    checked = 0
    for name in ("tokenizer.json", "vocab.txt"):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        tokenizer = load_tokenizer(path)  # a UserError naming the file if it cannot be read
        found = {
            "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
            "vocab_sha256": vocab_sha256(tokenizer),
            "special_tokens": special_token_ids(tokenizer, source=path),
            "lowercase": is_lowercase(tokenizer),  # vocab.txt: from tokenizer_config.json
        }
        for field, value in found.items():
            if value != tok_info[field]:
                raise UserError(
                    f"{os.path.join(tok_info['path'], name)}: {field} is {value}, but {MANIFEST} records "
                    f"{tok_info[field]}: the tokenizer files changed after the build; restore them or rebuild"
                )
        checked += 1
    if not checked:
        raise UserError(f"{tok_info['path']}: no tokenizer.json or vocab.txt; restore them or rebuild")


def verify_dataset(out_dir: str) -> dict:
    """Check everything the manifest claims; returns the manifest if all holds.

    Raises:
        UserError: naming the first bad file, shard and row, and what is wrong.
    """
    manifest = _read_checked_manifest(out_dir)
    tok_info = manifest["tokenizer"]
    _check_tokenizer(out_dir, tok_info)
    vocab_size, max_len = tok_info["vocab_size"], manifest["max_seq_length"]
    special = tok_info["special_tokens"]
    totals = {split: {"examples": 0, "tokens": 0} for split in manifest["splits"]}
    listed = set()
    for shard in manifest["shards"]:
        path = _inside(out_dir, shard["path"])
        if path in listed:  # counted twice, it would still add up, and be trained on twice
            raise UserError(f"{MANIFEST}: {shard['path']} is listed twice")
        listed.add(path)
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
        raise UserError(f"{MANIFEST}: split totals {manifest['splits']} do not add up from the shards ({totals})")
    return manifest


def describe_dataset(out_dir: str, *, examples: int = 3, bins: int = 8) -> dict:
    """Counts, length histogram, padding share and a few decoded examples of a shard directory."""
    manifest = _read_checked_manifest(out_dir)
    tok_info = manifest["tokenizer"]
    tokenizer = load_tokenizer(_inside(out_dir, tok_info["path"]))  # tokenizer.json, else vocab.txt
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
