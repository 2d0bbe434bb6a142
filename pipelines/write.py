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
from apache_beam import pvalue
from tokenizers import Tokenizer

from electra_data import fsio, spill
from electra_data.documents import Rejected, stable_hash
from electra_data.shards import MANIFEST, SPLITS, ids_dtype, shard_path, write_shard
from electra_data.vocab import tokenizer_files
from electra_data.pipelines import workdir
from electra_data.pipelines.metrics import stage_timer
from electra_data.pipelines.tokenize import EXAMPLE_SCHEMA
from electra_data.progress import ItemProgress

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


def _relative_path(split: str, index: int, num_train_shards: int) -> str:
    return shard_path(split, index, num_train_shards if split == "train" else 1)


def _vocab_size(tokenizer_json: str) -> int:
    return Tokenizer.from_str(tokenizer_json).get_vocab_size(with_added_tokens=True)


def _shard_count(total_bytes: int, shard_size_mb: float) -> int:
    return max(1, math.ceil(total_bytes / (shard_size_mb * 2**20)))


def _sort_run(unit: str, work: str, num_buckets: int) -> Iterator[int]:
    """Re-sort a unit's examples by shard bucket (validation: bucket ``num_buckets``); yields
    the train buckets it holds."""
    rows = list(spill.read_partition(workdir.run_path(work, "examples", unit), 0))
    with stage_timer("sort_runs"):
        counts = spill.write_run(
            workdir.run_path(work, "sorted", unit), EXAMPLE_SCHEMA, rows, num_buckets + 1,
            lambda r: num_buckets if r[3] else r[0] % num_buckets,
        )  # fmt: skip
    if fsio.is_local(work):  # done with
        os.remove(workdir.run_path(work, "examples", unit))
    ItemProgress(work, "sort", unit).done()
    yield from (bucket for bucket in counts if bucket < num_buckets)


def _shard_numbers(buckets: list[int]) -> dict[int, int]:
    """The train shard of each bucket that holds examples, in bucket order: an empty one gets none."""
    return {bucket: i for i, bucket in enumerate(sorted(buckets))}


def _shard_jobs(numbers: dict[int, int], num_buckets: int) -> list[tuple[str, int, int | None]]:
    """(split, shard number, bucket) of every shard to write: one train shard (empty) when no
    example went to train (the driver then refuses the build), one validation shard always."""
    train = [("train", i, bucket) for bucket, i in sorted(numbers.items())] or [("train", 0, None)]
    return [*train, ("validation", 0, num_buckets)]


def _write_merged(job, work: str, out_dir: str, units: list[str], num_train_shards: int, vocab_size: int) -> dict:
    split, index, bucket = job
    # Rows sort as (order key, ids, segment length): the order key (a 64-bit hash of seed,
    # document id and index) fixes the order, but keys can collide (~3% somewhere in 1e9
    # examples), so ties are broken by the ids, then the segment length, never by arrival
    # order. Rows equal in all three are the same bytes in either order.
    rows = () if bucket is None else spill.merge_partition([workdir.run_path(work, "sorted", u) for u in sorted(units)], bucket)
    rel = _relative_path(split, index, num_train_shards)
    dtype = ids_dtype(vocab_size)
    with stage_timer("write_shards"):
        examples = ((np.frombuffer(ids, dtype), seg) for _, ids, seg, _ in rows)
        info = write_shard(fsio.join(out_dir, rel), examples, vocab_size=vocab_size)
    ItemProgress(work, "write", rel).done()
    return {"path": rel, "split": split, **info}


class WriteShards(beam.PTransform):
    """``(unit, train bytes)`` of units whose example runs are written -> one info dict per shard.

    Train examples go to bucket ``order key % N``: balanced in expectation, and the same on every
    runner. ``N`` is ``num_shards``, or else enough buckets of about ``shard_size_mb`` for the
    train split. Each unit's run is sorted by bucket, then each shard is a streaming merge of
    its bucket of every run: no example crosses the graph, and a worker holds the shard it
    writes (each unit's slice of it, read whole, one file open at a time). Each bucket that holds examples is a shard, numbered in bucket order: with fewer
    train examples than ``N`` (or bad luck), fewer shards than ``N`` and never an empty one; the
    driver says so. Validation gets one shard. Every shard named ``-of-M`` exists.
    """

    def __init__(self, work: str, out_dir: str, tokenizer, *, num_shards: int | None, shard_size_mb: float):
        super().__init__()
        self._work, self._out_dir = work, out_dir
        self._tokenizer = tokenizer
        self._num_shards = num_shards
        self._shard_size_mb = shard_size_mb

    def expand(self, packed):
        vocab_size = pvalue.AsSingleton(self._tokenizer | "VocabSize" >> beam.Map(_vocab_size))
        if self._num_shards is None:
            count = (
                packed
                | "TrainBytes" >> beam.Values()
                | "TotalBytes" >> beam.CombineGlobally(sum)
                | "ShardCount" >> beam.Map(_shard_count, self._shard_size_mb)
            )
        else:
            count = packed.pipeline | "GivenShardCount" >> beam.Create([self._num_shards])
        num_buckets = pvalue.AsSingleton(count)
        units = packed | "PackedUnits" >> beam.Keys()
        numbers = (
            units
            # a stage of its own: fused with the packing, it would wait on its own side input
            | "SpreadRuns" >> beam.Reshuffle()
            | "SortRuns" >> beam.FlatMap(_sort_run, self._work, num_buckets)
            | "UsedBuckets" >> beam.Distinct()
            | "BucketList" >> beam.combiners.ToList()
            | "ShardNumbers" >> beam.Map(_shard_numbers)
        )
        num_train_shards = pvalue.AsSingleton(numbers | "TrainShardCount" >> beam.Map(lambda n: max(1, len(n))))
        return (
            numbers
            | "ShardJobs" >> beam.FlatMap(_shard_jobs, num_buckets)
            | "SpreadShards" >> beam.Reshuffle()
            | "MergeShard" >> beam.Map(
                _write_merged, self._work, self._out_dir, pvalue.AsList(units), num_train_shards, vocab_size
            )
        )


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
