"""Writers of the shard directory's parts: shards, tokenizer files, reports and build stats; and
the directory itself: which files are a build's, and how a finished run replaces an earlier one.

Each part is written atomically. The manifest is not written here: the driver writes it after the
whole pipeline succeeded (``electra_data.pipelines.build``). A local run writes into a staging
directory inside its output directory and swaps the result in only once it is complete
(``staging_dir``, ``swap_in``): a run that fails or is interrupted leaves an earlier output as it
was, and never touches a file that no run wrote (``foreign_entries``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from operator import itemgetter

import apache_beam as beam
import numpy as np
from tokenizers import Tokenizer

from electra_data import fsio
from electra_data.documents import Rejected, stable_hash
from electra_data.shards import MANIFEST, SPLITS, ids_dtype, shard_path, write_shard
from electra_data.vocab import tokenizer_files
from electra_data.pipelines.metrics import stage_timer

__all__ = [
    "BUILD_DIR", "REPORTS", "TOKENIZER_FILES", "WriteShards", "WriteTokenizer", "WriteRejectsSample", "WriteJson",
    "foreign_entries", "staging_dir", "swap_in",
]  # fmt: skip

# Scratch files the pipeline hands to the driver; removed once the manifest is written.
BUILD_DIR = ".build"
# What `tokenizer_files` writes (a test checks they agree) and the reports of a build.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
REPORTS = ("stats.json", "rejects.jsonl", "duplicates.jsonl")
_REJECTS_PER_REASON = 20

# Every path a build writes in its directory: also under the temporary name of a write in progress
# (fsio.atomic_open), and inside the staging directory of a run that was killed.
_TMP = r"\.tmp-[0-9a-f]{32}"
_SPLIT = "|".join(SPLITS)
_OUR_DIRS = rf"(?:tokenizer|reports|{_SPLIT}|{re.escape(BUILD_DIR)})"
_OUR_FILES = (
    rf"(?:{re.escape(MANIFEST)}|tokenizer/(?:{'|'.join(map(re.escape, TOKENIZER_FILES))})"
    rf"|reports/(?:{'|'.join(map(re.escape, REPORTS))})|{re.escape(BUILD_DIR)}/[^/]+"
    rf"|(?:{_SPLIT})/shard-\d{{5}}-of-\d{{5}}\.arrow)"
)
_OURS = re.compile(rf"{_TMP}|(?:{_TMP}/)?(?:{_OUR_DIRS}|{_OUR_FILES}(?:{_TMP})?)")


def foreign_entries(out: str) -> list[str]:
    """What the local directory ``out`` holds that no build writes (relative paths; any symlink).

    A run never moves or deletes these: it refuses to replace a directory that holds them.
    """
    found: list[str] = []
    for root, dirs, files in os.walk(out):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, out).replace(os.sep, "/")
            if os.path.islink(path) or not _OURS.fullmatch(rel):
                found.append(rel)
        dirs[:] = [d for d in dirs if os.path.relpath(os.path.join(root, d), out).replace(os.sep, "/") not in found]
    return sorted(found)


def _missing_dirs(path: str) -> list[str]:
    """``path`` and those of its ancestors that do not exist, deepest first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing


@contextlib.contextmanager
def staging_dir(out: str) -> Iterator[str]:
    """A new directory inside the local ``out`` to write a run into; removed on leaving the block.

    ``out`` is created if missing, and removed again (with the parents created for it) if the
    run moved nothing into it. Inside ``out``, not beside it: the swap is then renames on one
    filesystem, and needs no write access to ``out``'s parent.
    """
    created = _missing_dirs(out)
    os.makedirs(out, exist_ok=True)
    work = os.path.join(out, f".tmp-{uuid.uuid4().hex}")
    os.mkdir(work)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for directory in created:
            with contextlib.suppress(OSError):  # not empty: it holds the run's output
                os.rmdir(directory)


def swap_in(work: str, out: str, old: Iterable[str]) -> None:
    """Replace the entries ``old`` of ``out`` by everything ``work`` holds, the manifest last.

    The old entries move aside first, the manifest first of them, so that ``out`` never shows a
    manifest beside a mix of two runs' files; they are deleted once the new ones are in. Until
    then only renames within one directory: quick, and nothing that a full disk could stop.
    """
    trash = os.path.join(out, f".tmp-{uuid.uuid4().hex}")
    os.mkdir(trash)
    for name in sorted(old, key=lambda n: n != MANIFEST):
        os.rename(os.path.join(out, name), os.path.join(trash, name))
    for name in sorted(os.listdir(work), key=lambda n: n == MANIFEST):
        os.rename(os.path.join(work, name), os.path.join(out, name))
    shutil.rmtree(trash)


def _relative_path(shard: tuple[str, int], num_train_shards: int) -> str:
    split, index = shard
    return shard_path(split, index, num_train_shards if split == "train" else 1)


def _write_one(group, out_dir: str, num_train_shards: int, vocab_size: int) -> dict:
    shard, rows = group
    # The order key (a 64-bit hash of seed, document id and index) fixes the order, but keys can
    # collide (~3% somewhere in 1e9 examples), so the whole row is the sort key: ties are broken by
    # the ids, then the segment length, never by arrival order. Rows equal in all three are the
    # same bytes in either order. Comparing the ids costs nothing unless order keys are equal.
    examples = sorted(rows)
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


def _bucket(example, num_buckets: int) -> int:
    return example[1][0] % num_buckets


def _shard_numbers(buckets: list[int]) -> dict[int, int]:
    """The train shard of each bucket that holds examples, in bucket order: an empty one gets none."""
    return {bucket: i for i, bucket in enumerate(sorted(buckets))}


def _assign_shard(example, num_buckets: int, numbers: dict[int, int]):
    split, row = example
    return (split, numbers[row[0] % num_buckets] if split == "train" else 0), row


class WriteShards(beam.PTransform):
    """``(split, (order key, ids, segment_a_length))`` examples -> one info dict per shard written.

    ``ids`` are the bytes of the input ids in ``ids_dtype`` (as ``PackExamples`` emits them).

    Train examples go to bucket ``order key % N``: balanced in expectation, and the same on every
    runner. ``N`` is ``num_shards``, or else enough buckets of about ``shard_size_mb`` for the
    train split. Each bucket that holds examples is a shard, numbered in bucket order: with fewer
    train examples than ``N`` (or bad luck), fewer shards than ``N`` and never an empty one; the
    driver says so. Validation gets one shard. Every shard named ``-of-M`` exists.
    """

    def __init__(self, out_dir: str, tokenizer, *, num_shards: int | None, shard_size_mb: float):
        super().__init__()
        self._out_dir = out_dir
        self._tokenizer = tokenizer
        self._num_shards = num_shards
        self._shard_size_mb = shard_size_mb

    def expand(self, examples):
        vocab_size = beam.pvalue.AsSingleton(self._tokenizer | "VocabSize" >> beam.Map(_vocab_size))
        train = examples | "TrainOnly" >> beam.Filter(lambda e: e[0] == "train")
        if self._num_shards is None:
            count = (
                train
                | "EstimateBytes" >> beam.Map(_estimated_bytes)
                | "TotalBytes" >> beam.CombineGlobally(sum)
                | "ShardCount" >> beam.Map(_shard_count, self._shard_size_mb)
            )
        else:
            count = examples.pipeline | "GivenShardCount" >> beam.Create([self._num_shards])
        num_buckets = beam.pvalue.AsSingleton(count)
        numbers = (
            train
            | "Bucket" >> beam.Map(_bucket, num_buckets)
            | "UsedBuckets" >> beam.Distinct()
            | "BucketList" >> beam.combiners.ToList()
            | "ShardNumbers" >> beam.Map(_shard_numbers)
        )
        # one train shard (empty) when there is no train example: the driver then refuses the build
        shard_count = numbers | "TrainShardCount" >> beam.Map(lambda n: max(1, len(n)))
        num_train_shards = beam.pvalue.AsSingleton(shard_count)
        written = (
            examples
            | "AssignShard" >> beam.Map(_assign_shard, num_buckets, beam.pvalue.AsSingleton(numbers))
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.Map(_write_one, self._out_dir, num_train_shards, vocab_size)
        )
        # Empty shards are written after the others, not grouped with them: a Flatten of
        # placeholders with the examples cost the local runner one more copy of every example.
        empty = shard_count | "WriteEmptyShards" >> beam.FlatMap(
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


def _reject_order(element: tuple[int, Rejected]) -> tuple:
    """A total order on (hash of key, reject): every field, the ``detail`` dict as sorted JSON.

    Comparing the rejects themselves would compare their ``detail`` dicts (a TypeError) whenever
    every other field ties, as two documents of one key and excerpt do.
    """
    key_hash, r = element
    return key_hash, r.key, r.source, r.title, r.reason, r.excerpt, json.dumps(r.detail, sort_keys=True)


def _write_rejects(samples: list[tuple[str, list[tuple[int, Rejected]]]], path: str) -> None:
    # by reason alone (one sample each): the samples hold rejects, whose details do not compare
    records = [r._asdict() for _, picked in sorted(samples, key=itemgetter(0)) for _, r in picked]
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
            | "SamplePerReason" >> beam.combiners.Top.SmallestPerKey(_REJECTS_PER_REASON, key=_reject_order)
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
