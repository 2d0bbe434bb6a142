"""Vocabulary training and ELECTRA example packing as Beam transforms."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from tokenizers import Tokenizer

from electra_data.dedup import document_id
from electra_data.documents import Document, stable_hash, stable_unit
from electra_data.packing import pack_document, tokenize_document
from electra_data.shards import ids_dtype
from electra_data.vocab import special_token_ids, train_wordpiece
from electra_data.pipelines.metrics import stage_timer

__all__ = ["STATS", "TrainVocab", "PackExamples"]


class _Entry:
    """A sampled text in the heap, which pops the largest rank first (``<`` is reversed)."""

    __slots__ = ("rank", "text", "size")

    def __init__(self, rank, text: str, size: int):
        self.rank, self.text, self.size = rank, text, size

    def __lt__(self, other: _Entry) -> bool:
        return self.rank > other.rank


class _SmallestWithinBudget(beam.CombineFn):
    """(rank, text) -> the texts of smallest rank, as many as fit ``max_docs`` and ``max_bytes``.

    The result is the longest run of texts in rank order that fits both limits, whatever the
    order of inputs and bundles: an accumulator holds every text it saw below its ``cutoff``
    (the smallest rank it had to evict), and nothing at or above it can return, since the texts
    before it already filled the budget. This needs ranks that order the documents totally:
    texts of equal rank are taken as copies of one document, and enter the sample all together
    or not at all (taking some would leave a copy at the cutoff that a later merge drops).
    """

    def __init__(self, max_docs: int, max_bytes: int):
        self._max_docs, self._max_bytes = max_docs, max_bytes

    def create_accumulator(self):
        return [], 0, None  # heap of _Entry, their bytes, cutoff (None: nothing evicted yet)

    def add_input(self, acc, element):
        heap, total, cutoff = acc
        rank, text = element
        if cutoff is not None and rank >= cutoff:
            return acc
        size = len(text.encode("utf-8"))
        heapq.heappush(heap, _Entry(rank, text, size))
        return self._trim(heap, total + size, cutoff)

    def merge_accumulators(self, accumulators):
        accumulators = list(accumulators)
        cutoff = min((c for _, _, c in accumulators if c is not None), default=None)
        heap = [e for h, _, _ in accumulators for e in h if cutoff is None or e.rank < cutoff]
        heapq.heapify(heap)
        return self._trim(heap, sum(e.size for e in heap), cutoff)

    def extract_output(self, acc) -> list[str]:
        return [e.text for e in sorted(acc[0], key=lambda e: e.rank)]

    def _trim(self, heap, total, cutoff):
        while len(heap) > self._max_docs or total > self._max_bytes:
            evicted = heapq.heappop(heap)
            total -= evicted.size
            while heap and heap[0].rank == evicted.rank:  # its copies go with it
                total -= heapq.heappop(heap).size
            cutoff = evicted.rank  # below the old cutoff: the heap holds only ranks below it
        return heap, total, cutoff


def _sample_element(doc: Document, seed: int) -> tuple[tuple, str]:
    """(rank, text) for the vocab sample: a seeded hash of the key, then the document id, which
    breaks ties between documents that share a key in a total order, the same on every runner."""
    return (stable_hash(seed, "vocab", doc.key), *document_id(doc)), doc.text


def _train(texts: list[str], vocab_size: int, lowercase: bool) -> str:
    with stage_timer("vocab"):
        return train_wordpiece(texts, vocab_size=vocab_size, lowercase=lowercase).to_str()


class TrainVocab(beam.PTransform):
    """Documents -> one tokenizer (as its JSON string) trained on a bounded, seeded sample.

    The sample is the documents of smallest hash(seed, key) (ties: by ``document_id``), as many as
    fit ``sample_docs`` and ``sample_mb`` MB of UTF-8 text: uniform, the same on every runner, and
    bounded in memory whatever the documents' length (50,000 books would be ~25 GB).
    """

    def __init__(self, *, vocab_size: int, lowercase: bool, sample_docs: int, sample_mb: float, seed: int):
        super().__init__()
        self._vocab_size, self._lowercase = vocab_size, lowercase
        self._sample = _SmallestWithinBudget(sample_docs, int(sample_mb * 2**20))
        self._seed = seed

    def expand(self, docs):
        return (
            docs
            | "HashForSample" >> beam.Map(_sample_element, self._seed)
            | "SampleDocs" >> beam.CombineGlobally(self._sample)
            | "TrainWordPiece" >> beam.Map(_train, self._vocab_size, self._lowercase)
        )


STATS = "stats"


class _PackFn(beam.DoFn):
    """Tokenize a document sentence by sentence and pack it into examples.

    Main output: ``(split, (order key, ids, segment_a_length))``, ``ids`` the bytes of the input
    ids in the shards' id type (``ids_dtype``): 2 bytes a token for a vocab that fits uint16,
    against ~36 for a list of Python ints. Plain bytes encode without pickling: an example of 128
    ids is 297 bytes in Beam's coder against 424 as a numpy array. Every example crosses the
    shuffle to its shard, and the writer holds a whole shard's examples to sort them. Tagged output ``stats``:
    ``(name, value)`` pairs that the build sums: the document's words, its tokens (``[UNK]``
    among them) and the tokens that reached its examples, which prove that none was lost.
    """

    def __init__(self, *, max_seq_length: int, seed: int, validation_fraction: float):
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

    def _split(self, key: str, holdout_key: str | None) -> str:
        if key == holdout_key or stable_unit(self._seed, "split", key) < self._validation_fraction:
            return "validation"
        return "train"

    def process(self, doc: Document, tokenizer_json: str, holdout_key: str | None) -> Iterator:
        tokenizer = self._tokenizer(tokenizer_json)
        with stage_timer("tokenize_pack"):
            ids = tokenize_document(doc.text, tokenizer)
            examples = pack_document(
                ids,
                max_seq_length=self._max_seq_length,
                cls_id=self._ids["cls"],
                sep_id=self._ids["sep"],
                rng=random.Random(f"{self._seed}:{doc.key}"),
            )
            split = self._split(doc.key, holdout_key)
            # the document id, not the key alone: documents that share a key (two dumps of one
            # wiki) would give equal order keys, and their order in a shard would be the runner's
            doc_id = document_id(doc)
            packed = 0
            for i, (input_ids, segment_a_length) in enumerate(examples):
                packed += len(input_ids) - (2 if segment_a_length == len(input_ids) else 3)
                ids_bytes = np.asarray(input_ids, dtype=self._dtype).tobytes()
                yield split, (stable_hash(self._seed, *doc_id, i), ids_bytes, segment_a_length)
        unk = self._ids["unk"]
        yield pvalue.TaggedOutput(STATS, ("words", len(doc.text.split())))
        yield pvalue.TaggedOutput(STATS, ("tokens", sum(len(s) for s in ids)))
        yield pvalue.TaggedOutput(STATS, ("unk_tokens", sum(s.count(unk) for s in ids)))
        yield pvalue.TaggedOutput(STATS, ("packed_tokens", packed))


class PackExamples(beam.PTransform):
    """Documents -> (``(split, (order key, input_ids, segment_a_length))`` examples, stats).

    Documents, not examples, are split between train and validation, so that no document is in
    both. When ``validation_fraction`` > 0 the document of smallest hash is always held out, so a
    small corpus still has a validation split (documents that share a key share a split). ``order
    key`` (a hash of the document id and the example's index) assigns examples to shards and fixes
    their order inside a shard.
    """

    def __init__(self, tokenizer, *, max_seq_length: int, seed: int, validation_fraction: float):
        super().__init__()
        self._tokenizer = tokenizer
        self._fn = _PackFn(max_seq_length=max_seq_length, seed=seed, validation_fraction=validation_fraction)
        self._seed = seed
        self._validation_fraction = validation_fraction

    def expand(self, docs):
        seed = self._seed
        if self._validation_fraction > 0:
            holdout = (
                docs
                | "HashForHoldout" >> beam.Map(lambda d: (stable_hash(seed, "split", d.key), d.key))
                | "SmallestHash" >> beam.combiners.Top.Smallest(1)
                | "HoldoutKey" >> beam.Map(lambda top: top[0][1] if top else None)
            )
        else:
            holdout = docs.pipeline | "NoHoldout" >> beam.Create([None])
        out = docs | "TokenizeAndPack" >> beam.ParDo(
            self._fn, beam.pvalue.AsSingleton(self._tokenizer), beam.pvalue.AsSingleton(holdout)
        ).with_outputs(STATS, main="examples")
        return out.examples, out[STATS]
