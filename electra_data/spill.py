"""Spill files: what the build keeps on disk between stages instead of in a shuffle.

A local Beam runner holds every shuffled collection in memory, so the build shuffles only small
records (file names, counts, the few duplicates) and leaves the bulk on disk:

- **document files**: the cleaned documents of one unit of work (``key``, ``source``, ``title``,
  ``text``), read back whole, or a few rows of them;
- **runs**: small sorted records (dedup keys and signatures, packed examples) written by each
  unit in *partitions*; the consumer of partition ``p`` merges that partition of every run
  (``merge_partition``). With as many partitions as the corpus needs, a run holds a small slice
  of each: the merge reads each slice whole and closes the file (one open file at a time,
  however many units), then merges the slices.

Both are Arrow IPC files (random access by record batch), written atomically, so a file that
exists is complete: a resumed build reuses it. Rows are plain tuples; a run's rows sort as
tuples, so a merge of sorted partitions is the sort of their union.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator, Sequence

import pyarrow as pa

from electra_data import fsio
from electra_data.documents import Document

__all__ = [
    "DOCUMENT_SCHEMA", "write_documents", "read_documents", "read_rows", "write_run", "read_partition",
    "merge_partition", "run_partitions",
]  # fmt: skip

DOCUMENT_SCHEMA = pa.schema([("key", pa.string()), ("source", pa.string()), ("title", pa.string()), ("text", pa.large_string())])
# Text per record batch of a document file: reading one holds a batch.
_DOC_BATCH_BYTES = 8 * 2**20
_RUN_BATCH_ROWS = 4096
_INDEX = b"electra_data.partitions"


def _open_reader(path: str) -> pa.ipc.RecordBatchFileReader:
    if fsio.is_local(path):
        return pa.ipc.open_file(pa.memory_map(path, "r"))
    return pa.ipc.open_file(pa.BufferReader(fsio.read_bytes(path)))


def write_documents(path: str, docs: Iterable[Document]) -> int:
    """Write documents in order, atomically; returns how many (row ``i`` is the ``i``-th)."""
    count = 0
    with fsio.atomic_open(path) as sink, pa.ipc.new_file(pa.PythonFile(sink, mode="w"), DOCUMENT_SCHEMA) as writer:
        batch: list[Document] = []
        size = 0

        def flush() -> None:
            columns = list(zip(*batch)) if batch else [[], [], [], []]
            writer.write_batch(pa.record_batch([pa.array(c, t) for c, t in zip(columns, DOCUMENT_SCHEMA.types)], DOCUMENT_SCHEMA))
            batch.clear()

        for doc in docs:
            batch.append(Document(*doc))
            size += len(doc.text)
            count += 1
            if size >= _DOC_BATCH_BYTES:
                flush()
                size = 0
        if batch or count == 0:
            flush()
    return count


def read_documents(path: str) -> Iterator[tuple[int, Document]]:
    """(row, document) for every row of a document file, one batch in memory at a time."""
    reader = _open_reader(path)
    row = 0
    for i in range(reader.num_record_batches):
        batch = reader.get_batch(i)
        for values in zip(*(batch.column(c).to_pylist() for c in range(batch.num_columns))):
            yield row, Document(*values)
            row += 1


def read_rows(path: str, rows: Iterable[int]) -> dict[int, Document]:
    """The documents at ``rows`` of a document file (only the batches that hold them are read)."""
    wanted = sorted(set(rows))
    found: dict[int, Document] = {}
    if not wanted:
        return found
    reader = _open_reader(path)
    start = 0
    for i in range(reader.num_record_batches):
        batch = reader.get_batch(i)
        end = start + batch.num_rows
        for row in wanted:
            if start <= row < end:
                found[row] = Document(*(batch.column(c)[row - start].as_py() for c in range(batch.num_columns)))
        start = end
        if start > wanted[-1]:
            break
    return found


def write_run(path: str, schema: pa.Schema, rows: Iterable[tuple], partitions: int, partition_of: Callable[[tuple], int]) -> dict[int, int]:
    """Write ``rows`` sorted, in ``partitions`` partitions, atomically.

    Each partition is a run of record batches of at most ``_RUN_BATCH_ROWS`` rows, its rows in
    tuple order; the file's schema metadata maps every non-empty partition to its batches.

    Returns:
        Rows per non-empty partition.
    """
    by_partition: dict[int, list[tuple]] = {}
    for row in rows:
        by_partition.setdefault(partition_of(row), []).append(row)
    index: dict[str, list[int]] = {}
    counts: dict[int, int] = {}
    batches: list[pa.RecordBatch] = []
    for partition in sorted(by_partition):
        if not 0 <= partition < partitions:
            raise ValueError(f"partition {partition} outside 0..{partitions - 1}")
        part = sorted(by_partition[partition])
        counts[partition] = len(part)
        index[str(partition)] = [len(batches), 0]
        for start in range(0, len(part), _RUN_BATCH_ROWS):
            columns = list(zip(*part[start : start + _RUN_BATCH_ROWS]))
            batches.append(pa.record_batch([pa.array(c, t) for c, t in zip(columns, schema.types)], schema=schema))
            index[str(partition)][1] += 1
    schema = schema.with_metadata({_INDEX: json.dumps({"partitions": partitions, "index": index}).encode()})
    with fsio.atomic_open(path) as sink, pa.ipc.new_file(pa.PythonFile(sink, mode="w"), schema) as writer:
        for batch in batches:
            writer.write_batch(batch.replace_schema_metadata(schema.metadata))
    return counts


def run_partitions(path: str) -> dict[int, int]:
    """Record batches per non-empty partition of a run (read from its footer only)."""
    meta = json.loads(_open_reader(path).schema.metadata[_INDEX])
    return {int(p): n for p, (_, n) in meta["index"].items()}


def read_partition(path: str, partition: int) -> Iterator[tuple]:
    """The rows of one partition of a run, in order, one record batch in memory at a time."""
    reader = _open_reader(path)
    first, count = json.loads(reader.schema.metadata[_INDEX])["index"].get(str(partition), (0, 0))
    for i in range(first, first + count):
        batch = reader.get_batch(i)
        yield from zip(*(batch.column(c).to_pylist() for c in range(batch.num_columns)))


def merge_partition(paths: Sequence[str], partition: int) -> Iterator[tuple]:
    """The rows of one partition of every run, in tuple order: a k-way merge of the slices."""
    return heapq.merge(*(list(read_partition(path, partition)) for path in paths))
