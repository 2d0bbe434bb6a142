"""Writers of the shard directory's parts: shards, tokenizer files, reports and build stats.

Each writes atomically. The manifest is not written here: the driver writes it after the whole
pipeline succeeded (``electra_data.pipelines.build``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from operator import itemgetter

import apache_beam as beam
import numpy as np
from tokenizers import Tokenizer

from electra_data import fsio
from electra_data.documents import Rejected, stable_hash
from electra_data.shards import ids_dtype, shard_path, write_shard
from electra_data.vocab import tokenizer_files
from electra_data.pipelines.metrics import stage_timer

__all__ = ["BUILD_DIR", "WriteShards", "WriteTokenizer", "WriteRejectsSample", "WriteJson"]

# Scratch files the pipeline hands to the driver; removed once the manifest is written.
BUILD_DIR = ".build"
_REJECTS_PER_REASON = 20


def _relative_path(shard: tuple[str, int], num_train_shards: int) -> str:
    split, index = shard
    return shard_path(split, index, num_train_shards if split == "train" else 1)


def _write_one(group, out_dir: str, num_train_shards: int, vocab_size: int) -> dict:
    shard, rows = group
    # Order keys are 64-bit hashes of (seed, document, index): distinct, so they alone fix the
    # order (sorting on them never compares the ids).
    examples = sorted(rows, key=itemgetter(0))
    rel = _relative_path(shard, num_train_shards)
    dtype = ids_dtype(vocab_size)
    with stage_timer("write_shards"):
        ids_and_segments = ((np.frombuffer(ids, dtype), seg) for _, ids, seg in examples)
        info = write_shard(fsio.join(out_dir, rel), ids_and_segments, vocab_size=vocab_size)
    return {"path": rel, "split": shard[0], **info}


def _write_empty(num_train_shards: int, written: list[dict], out_dir: str, vocab_size: int) -> Iterator[dict]:
    """Write the shards that no example went to, so that every shard named ``-of-N`` exists."""
    done = {info["path"] for info in written}
    for shard in [("train", i) for i in range(num_train_shards)] + [("validation", 0)]:
        if _relative_path(shard, num_train_shards) not in done:
            yield _write_one((shard, []), out_dir, num_train_shards, vocab_size)


def _vocab_size(tokenizer_json: str) -> int:
    return Tokenizer.from_str(tokenizer_json).get_vocab_size(with_added_tokens=True)


def _estimated_bytes(example) -> int:
    _, (_, ids, _) = example
    # ids, plus a 4-byte list offset and the 2-byte segment length per row
    return len(ids) + 6


def _shard_count(total_bytes: int, shard_size_mb: float) -> int:
    return max(1, math.ceil(total_bytes / (shard_size_mb * 2**20)))


def _assign_shard(example, num_train_shards: int):
    split, row = example
    return (split, row[0] % num_train_shards if split == "train" else 0), row


class WriteShards(beam.PTransform):
    """``(split, (order key, ids, segment_a_length))`` examples -> one info dict per shard written.

    ``ids`` are the bytes of the input ids in ``ids_dtype`` (as ``PackExamples`` emits them).

    Train examples go to shard ``order key % N``: balanced in expectation, and the same on every
    runner. ``N`` is ``num_shards``, or else enough shards of about ``shard_size_mb`` for the
    train split. Validation gets one shard. Every shard named ``-of-N`` exists even if empty.
    """

    def __init__(self, out_dir: str, tokenizer, *, num_shards: int | None, shard_size_mb: float):
        super().__init__()
        self._out_dir = out_dir
        self._tokenizer = tokenizer
        self._num_shards = num_shards
        self._shard_size_mb = shard_size_mb

    def expand(self, examples):
        vocab_size = beam.pvalue.AsSingleton(self._tokenizer | "VocabSize" >> beam.Map(_vocab_size))
        if self._num_shards is None:
            count = (
                examples
                | "TrainOnly" >> beam.Filter(lambda e: e[0] == "train")
                | "EstimateBytes" >> beam.Map(_estimated_bytes)
                | "TotalBytes" >> beam.CombineGlobally(sum)
                | "ShardCount" >> beam.Map(_shard_count, self._shard_size_mb)
            )
        else:
            count = examples.pipeline | "GivenShardCount" >> beam.Create([self._num_shards])
        num_train_shards = beam.pvalue.AsSingleton(count)
        written = (
            examples
            | "AssignShard" >> beam.Map(_assign_shard, num_train_shards)
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.Map(_write_one, self._out_dir, num_train_shards, vocab_size)
        )
        # Empty shards are written after the others, not grouped with them: a Flatten of
        # placeholders with the examples cost the local runner one more copy of every example.
        empty = count | "WriteEmptyShards" >> beam.FlatMap(
            _write_empty, beam.pvalue.AsList(written), self._out_dir, vocab_size
        )
        return (written, empty) | "AllShards" >> beam.Flatten()


def _write_tokenizer(tokenizer_json: str, directory: str, max_seq_length: int) -> None:
    files = tokenizer_files(Tokenizer.from_str(tokenizer_json), max_seq_length=max_seq_length)
    for name, data in files.items():
        fsio.write_bytes_atomic(fsio.join(directory, name), data)


class WriteTokenizer(beam.PTransform):
    """The tokenizer JSON -> files in ``directory`` that ``AutoTokenizer`` loads."""

    def __init__(self, directory: str, *, max_seq_length: int):
        super().__init__()
        self._directory, self._max_seq_length = directory, max_seq_length

    def expand(self, tokenizer):
        return tokenizer | "WriteTokenizerFiles" >> beam.Map(_write_tokenizer, self._directory, self._max_seq_length)


def _jsonl(records: Iterable[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _write_rejects(samples: list[tuple[str, list[tuple[int, Rejected]]]], path: str) -> None:
    records = [r._asdict() for _, picked in sorted(samples) for _, r in picked]
    fsio.write_bytes_atomic(path, _jsonl(records))


class WriteRejectsSample(beam.PTransform):
    """Rejected documents -> a deterministic sample (up to 20 per reason) in a JSONL report."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, rejected):
        return (
            rejected
            | "ByReason" >> beam.Map(lambda r: (r.reason, (stable_hash(r.key), r)))
            | "SamplePerReason" >> beam.combiners.Top.SmallestPerKey(_REJECTS_PER_REASON)
            | "OneList" >> beam.combiners.ToList()
            | "WriteRejects" >> beam.Map(_write_rejects, self._path)
        )


class WriteJson(beam.PTransform):
    """A PCollection of small JSON-ready values -> one JSON list file (sorted, so deterministic)."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, values):
        path = self._path
        return (
            values
            | "Gather" >> beam.combiners.ToList()
            | "WriteFile"
            >> beam.Map(lambda v: fsio.write_bytes_atomic(path, json.dumps(sorted(v, key=json.dumps), indent=1).encode()))
        )
