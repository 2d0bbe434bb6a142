"""Vocabulary training and ELECTRA example packing as Beam transforms over the units on disk."""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam import pvalue
from tokenizers import Tokenizer

from electra_data import spill
from electra_data.dedup import document_id
from electra_data.documents import stable_hash, stable_unit
from electra_data.packing import pack_document, tokenize_document
from electra_data.shards import ids_dtype
from electra_data.vocab import special_token_ids, train_wordpiece
from electra_data.pipelines import workdir
from electra_data.pipelines.metrics import stage_timer
from electra_data.pipelines.read import TALLY
from electra_data.progress import ItemProgress

__all__ = ["EXAMPLE_SCHEMA", "TrainVocab", "PackUnits"]


class _Entry:
    """A sampled document in the heap, which pops the largest rank first (``<`` is reversed)."""

    __slots__ = ("rank", "location", "size")

    def __init__(self, rank, location, size: int):
        self.rank, self.location, self.size = rank, location, size

    def __lt__(self, other: _Entry) -> bool:
        return self.rank > other.rank


class _SmallestWithinBudget(beam.CombineFn):
    """(rank, (bytes, location)) -> the locations of smallest rank, as many documents as fit
    ``max_docs`` and ``max_bytes``.

    The result is the longest run of documents in rank order that fits both limits, whatever
    the order of inputs and bundles: an accumulator holds every document it saw below its
    ``cutoff`` (the smallest rank it had to evict), and nothing at or above it can return, since
    the documents before it already filled the budget. This needs ranks that order the
    documents totally: documents of equal rank are taken as copies of one document, and enter
    the sample all together or not at all (taking some would leave a copy at the cutoff that a
    later merge drops).
    """

    def __init__(self, max_docs: int, max_bytes: int):
        self._max_docs, self._max_bytes = max_docs, max_bytes

    def create_accumulator(self):
        return [], 0, None  # heap of _Entry, their bytes, cutoff (None: nothing evicted yet)

    def add_input(self, acc, element):
        heap, total, cutoff = acc
        rank, (size, location) = element
        if cutoff is not None and rank >= cutoff:
            return acc
        heapq.heappush(heap, _Entry(rank, location, size))
        return self._trim(heap, total + size, cutoff)

    def merge_accumulators(self, accumulators):
        accumulators = list(accumulators)
        cutoff = min((c for _, _, c in accumulators if c is not None), default=None)
        heap = [e for h, _, _ in accumulators for e in h if cutoff is None or e.rank < cutoff]
        heapq.heapify(heap)
        return self._trim(heap, sum(e.size for e in heap), cutoff)

    def extract_output(self, acc) -> list:
        return [e.location for e in sorted(acc[0], key=lambda e: (e.rank, e.location))]

    def _trim(self, heap, total, cutoff):
        while len(heap) > self._max_docs or total > self._max_bytes:
            evicted = heapq.heappop(heap)
            total -= evicted.size
            while heap and heap[0].rank == evicted.rank:  # its copies go with it
                total -= heapq.heappop(heap).size
            cutoff = evicted.rank  # below the old cutoff: the heap holds only ranks below it
        return heap, total, cutoff


def _read_sample(locations: list[tuple[str, int]], work: str) -> list[str]:
    """The sampled documents' texts, in the sample's order, read unit by unit."""
    by_unit: dict[str, list[int]] = {}
    for unit, row in locations:
        by_unit.setdefault(unit, []).append(row)
    texts = {}
    for unit, rows in sorted(by_unit.items()):
        for row, doc in spill.read_rows(workdir.docs_path(work, unit), rows).items():
            texts[unit, row] = doc.text
    return [texts[loc] for loc in locations]


def _train(texts: list[str], vocab_size: int, lowercase: bool) -> str:
    with stage_timer("vocab"):
        return train_wordpiece(texts, vocab_size=vocab_size, lowercase=lowercase).to_str()


class TrainVocab(beam.PTransform):
    """Sample candidates ``(rank, (bytes, location))`` of the kept documents -> one tokenizer
    (as its JSON string) trained on a bounded, seeded sample.

    The rank is (hash(seed, key), ``document_id``) (``pipelines.select``): the sample is the
    documents of smallest rank, as many as fit ``sample_docs`` and ``sample_mb`` MB of UTF-8
    text: uniform, the same on every runner, and bounded in memory whatever the documents'
    length (50,000 books would be ~25 GB). Only their locations are combined; the texts are
    read back from the units.
    """

    def __init__(self, work: str, *, vocab_size: int, lowercase: bool, sample_docs: int, sample_mb: float):
        super().__init__()
        self._work = work
        self._vocab_size, self._lowercase = vocab_size, lowercase
        self._sample = _SmallestWithinBudget(sample_docs, int(sample_mb * 2**20))

    def expand(self, candidates):
        return (
            candidates
            | "SampleDocs" >> beam.CombineGlobally(self._sample)
            | "ReadSample" >> beam.Map(_read_sample, self._work)
            | "TrainWordPiece" >> beam.Map(_train, self._vocab_size, self._lowercase)
        )


EXAMPLE_SCHEMA = pa.schema(
    [("order", pa.uint64()), ("ids", pa.binary()), ("segment_a", pa.uint16()), ("validation", pa.bool_())]
)


class _PackFn(beam.DoFn):
    """Tokenize a unit's kept documents sentence by sentence, pack them into examples, and write
    them to the unit's example run.

    A row is ``(order key, ids, segment_a_length, validation)``, ``ids`` the bytes of the input
    ids in the shards' id type (``ids_dtype``): 2 bytes a token for a vocab that fits uint16.
    The order key (a hash of the seed, the document id and the example's index) assigns train
    examples to shards and fixes their order inside one. Main output: ``(unit, train bytes)``,
    the bytes the unit's train examples take in a shard; tagged ``tally``: ``(name, value)``
    pairs that the build sums: the documents' words, their tokens (``[UNK]`` among them) and the
    tokens that reached examples, which prove that none was lost.
    """

    def __init__(self, work: str, *, max_seq_length: int, seed: int, validation_fraction: float):
        self._work = work
        self._max_seq_length = max_seq_length
        self._seed = seed
        self._validation_fraction = validation_fraction
        self._tokenizer_json: str | None = None

    def _tokenizer(self, tokenizer_json: str) -> Tokenizer:
        if tokenizer_json != self._tokenizer_json:  # deserialise once per worker
            self._tok = Tokenizer.from_str(tokenizer_json)
            self._ids = special_token_ids(self._tok)
            vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
            self._dtype = ids_dtype(vocab_size)
            self._tokenizer_json = tokenizer_json
        return self._tok

    def _validation(self, key: str, holdout_key: str | None) -> bool:
        return key == holdout_key or stable_unit(self._seed, "split", key) < self._validation_fraction

    def process(self, unit: str, tokenizer_json: str, holdout_key: str | None, drops: dict) -> Iterator:
        tokenizer = self._tokenizer(tokenizer_json)
        rows = []
        stats = Counter()
        train_bytes = 0
        unk = self._ids["unk"]
        progress = ItemProgress(self._work, "pack", unit)
        for row, doc in spill.read_documents(workdir.docs_path(self._work, unit)):
            if (unit, row) in drops:
                continue
            progress.advance(docs=1)
            with stage_timer("tokenize_pack"):
                ids = tokenize_document(doc.text, tokenizer)
                examples = pack_document(
                    ids,
                    max_seq_length=self._max_seq_length,
                    cls_id=self._ids["cls"],
                    sep_id=self._ids["sep"],
                    rng=random.Random(f"{self._seed}:{doc.key}"),
                )
                validation = self._validation(doc.key, holdout_key)
                # the document id, not the key alone: documents that share a key (two dumps of one
                # wiki) would give equal order keys, and their order in a shard would be the runner's
                doc_id = document_id(doc)
                for i, (input_ids, segment_a_length) in enumerate(examples):
                    stats["packed_tokens"] += len(input_ids) - (2 if segment_a_length == len(input_ids) else 3)
                    ids_bytes = np.asarray(input_ids, dtype=self._dtype).tobytes()
                    rows.append((stable_hash(self._seed, *doc_id, i), ids_bytes, segment_a_length, validation))
                    if not validation:
                        train_bytes += len(ids_bytes) + 6  # ids, a 4-byte list offset, a 2-byte segment length
            stats["words"] += len(doc.text.split())
            stats["tokens"] += sum(len(s) for s in ids)
            stats["unk_tokens"] += sum(s.count(unk) for s in ids)
        with stage_timer("write_runs"):
            spill.write_run(workdir.run_path(self._work, "examples", unit), EXAMPLE_SCHEMA, rows, 1, lambda r: 0)
        progress.done()
        for name in ("words", "tokens", "unk_tokens", "packed_tokens"):
            yield pvalue.TaggedOutput(TALLY, (name, stats[name]))
        yield unit, train_bytes


def _holdout_key(top: list) -> str | None:
    return top[0][1] if top else None


class PackUnits(beam.PTransform):
    """Unit names -> (``(unit, train bytes)`` once its example run is written, tallies).

    Documents, not examples, are split between train and validation, so that no document is in
    both. When ``validation_fraction`` > 0 the document of smallest hash (``holdout``:
    ``(hash, key)`` candidates from ``pipelines.select``) is always held out, so a small corpus
    still has a validation split (documents that share a key share a split).
    """

    def __init__(self, work: str, tokenizer, holdout, drops, *, max_seq_length: int, seed: int, validation_fraction: float):
        super().__init__()
        self._tokenizer, self._holdout, self._drops = tokenizer, holdout, drops
        self._fn = _PackFn(work, max_seq_length=max_seq_length, seed=seed, validation_fraction=validation_fraction)
        self._validation_fraction = validation_fraction

    def expand(self, units):
        if self._validation_fraction > 0:
            holdout = (
                self._holdout
                | "SmallestHash" >> beam.combiners.Top.Smallest(1)
                | "HoldoutKey" >> beam.Map(_holdout_key)
            )
        else:
            holdout = units.pipeline | "NoHoldout" >> beam.Create([None])
        # a stage of its own: fused with the stage that makes the units, it would wait on side
        # inputs made from them (the local runner then stops with "watermark-pending bundles")
        out = units | "SpreadUnits" >> beam.Reshuffle() | "TokenizeAndPack" >> beam.ParDo(
            self._fn, pvalue.AsSingleton(self._tokenizer), pvalue.AsSingleton(holdout), pvalue.AsDict(self._drops)
        ).with_outputs(TALLY, main="units")
        return out.units, out[TALLY]
