"""The shard directory: Arrow IPC stream shards and the manifest that says the build completed.

This module is the writer's half of the data contract (README: "The shard directory"); the
trainer reads the same files with its own reader and never imports this module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from electra_data import fsio
from electra_data.errors import UserError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "SPLITS",
    "ids_type",
    "shard_schema",
    "shard_path",
    "write_shard",
    "write_manifest",
    "read_manifest",
]

FORMAT_NAME = "electra-data-shards"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "validation")
_ROWS_PER_BATCH = 4096


def ids_type(vocab_size: int) -> pa.DataType:
    """uint16 when every id fits (halves the bytes on disk), else uint32."""
    return pa.uint16() if vocab_size <= 65535 else pa.uint32()


def ids_dtype(vocab_size: int) -> np.dtype:
    """The numpy dtype of ``ids_type``, little-endian: examples travel between workers as its bytes."""
    return np.dtype(ids_type(vocab_size).to_pandas_dtype()).newbyteorder("<")


def shard_schema(vocab_size: int) -> pa.Schema:
    """One row per packed example: ``[CLS] A [SEP] (B [SEP])`` ids and the length of segment A.

    ``segment_a_length`` counts ``[CLS]`` and the first ``[SEP]``: token_type_ids are 0 for those
    positions and 1 after. The attention mask is the row length (no padding is stored).
    """
    return pa.schema(
        [
            pa.field("input_ids", pa.list_(ids_type(vocab_size)), nullable=False),
            pa.field("segment_a_length", pa.uint16(), nullable=False),
        ],
        metadata={b"electra_data.format_version": str(FORMAT_VERSION).encode()},
    )


def shard_path(split: str, index: int, count: int) -> str:
    """Relative path of one shard, e.g. ``train/shard-00003-of-00008.arrow``."""
    return f"{split}/shard-{index:05d}-of-{count:05d}.arrow"


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, sink: BinaryIO):
        self._sink = sink
        self.sha256 = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def write(self, data) -> int:
        data = memoryview(data)
        self.sha256.update(data)
        self.bytes += data.nbytes
        self._sink.write(data)
        return data.nbytes

    def flush(self) -> None:
        self._sink.flush()

    def close(self) -> None:
        self.closed = True  # the sink is closed by its owner


def write_shard(
    path: str, examples: Iterable[tuple[Sequence[int], int]], *, vocab_size: int
) -> dict[str, int | str]:
    """Write examples to an Arrow IPC stream file atomically, in bounded memory.

    ``examples`` are (input ids, segment A length); the ids may be lists or numpy arrays. An id
    that does not fit the vocab's id type raises ``pyarrow.ArrowInvalid``.

    Returns:
        ``examples``, ``tokens``, ``bytes`` and ``sha256`` of the written file.
    """
    schema = shard_schema(vocab_size)
    counts = {"examples": 0, "tokens": 0}
    with fsio.atomic_open(path) as sink:
        hashing = _HashingWriter(sink)
        with pa.ipc.new_stream(pa.PythonFile(hashing, mode="w"), schema) as writer:
            ids: list[Sequence[int]] = []
            seg_a: list[int] = []

            def flush() -> None:
                lengths = np.fromiter(map(len, ids), dtype=np.int32, count=len(ids))
                offsets = pa.array(np.concatenate(([0], np.cumsum(lengths))).astype(np.int32))
                values = pa.array(np.concatenate(ids), type=schema[0].type.value_type)  # checked cast
                batch = pa.record_batch(
                    [pa.ListArray.from_arrays(offsets, values), pa.array(seg_a, pa.uint16())], schema=schema
                )
                writer.write_batch(batch)
                ids.clear()
                seg_a.clear()

            for input_ids, segment_a_length in examples:
                ids.append(input_ids)
                seg_a.append(segment_a_length)
                counts["examples"] += 1
                counts["tokens"] += len(input_ids)
                if len(ids) == _ROWS_PER_BATCH:
                    flush()
            if ids:
                flush()
            if counts["examples"] == 0:  # a stream without a batch is one `datasets` cannot load
                writer.write_batch(pa.RecordBatch.from_pylist([], schema=schema))
    return {**counts, "bytes": hashing.bytes, "sha256": hashing.sha256.hexdigest()}


def write_manifest(out_dir: str, manifest: dict) -> None:
    """Write ``manifest.json`` atomically: the last file of a build, and its proof of completion."""
    data = json.dumps(manifest, indent=2, sort_keys=False).encode("utf-8") + b"\n"
    fsio.write_bytes_atomic(fsio.join(out_dir, MANIFEST), data)


def read_manifest(out_dir: str) -> dict:
    """Read and check a shard directory's manifest.

    Raises:
        UserError: if it is missing, unreadable, not a JSON object, or of another format or version.
    """
    path = fsio.join(out_dir, MANIFEST)
    if not fsio.exists(path):
        raise UserError(f"{out_dir}: no {MANIFEST}; the build did not finish (rerun electra-data build)")
    try:
        manifest = json.loads(fsio.read_bytes(path))
    except OSError as err:  # a directory of that name, no permission
        raise UserError(f"{path}: cannot be read ({err.strerror or err})") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not valid JSON ({err}); the file is damaged: rebuild the dataset with electra-data build") from err
    if not isinstance(manifest, dict):
        raise UserError(
            f"{path}: a manifest is a JSON object, this is {json.dumps(manifest)[:60]}; the file is damaged: "
            "rebuild the dataset with electra-data build"
        )
    if manifest.get("format") != FORMAT_NAME or manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{path}: format {manifest.get('format')!r} version {manifest.get('format_version')!r} "
            f"is not {FORMAT_NAME!r} version {FORMAT_VERSION}: read it with the tool or release that wrote it, "
            "or rebuild the dataset with this electra-data"
        )
    return manifest
