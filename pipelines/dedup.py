"""Exact and near-duplicate removal as Beam transforms around ``electra_data.dedup``.

Exact: documents are grouped by the hash of their normalised text; the smallest document key of
each group is kept, so the result does not depend on the runner or on bundle order.

Near: each document with at least ``shingle_size`` words gets a MinHash signature and one bucket
key per LSH band. Within a bucket, a document is a near duplicate if its estimated Jaccard
similarity with a member of *smaller* key reaches the threshold (the smallest member is tried
first). A document is dropped if any bucket finds it a duplicate, then joined back by key.

Why this scales: nothing holds the index or the corpus in one worker. Each shuffle is keyed by a
bucket or a document, so a worker holds one bucket's members (key + 512-byte signature each) at a
time; buckets are small except for mass-duplicated text, and verification in a bucket is capped
at ``_MAX_COMPARISONS`` per member. The rule "drop a document that has a verified near duplicate
of smaller key" needs no connected components: the smallest key of every group of mutual
duplicates always survives, and a kept document never has a kept near duplicate of smaller key
in a shared bucket. In a chain A~B~C where A and C are dissimilar, B goes as a duplicate of A
and C as a duplicate of B (connected components would decide the same; two kept documents are
never near duplicates of each other, up to LSH recall).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam import pvalue

from electra_data.dedup import band_keys, estimated_jaccard, exact_key, lsh_params, minhash_signature
from electra_data.documents import Document, Rejected
from electra_data.pipelines.metrics import REJECTED, count_drop, stage_timer

__all__ = ["ExactDedup", "NearDedup"]

# Bounds the work in a bucket full of mass-duplicated text: a member is compared with at most
# this many smaller members (the smallest first, which settles true duplicates at once).
_MAX_COMPARISONS = 32


def _keep_smallest(group: tuple[str, Iterable[Document]]) -> Iterator:
    _, docs = group
    kept, *dups = sorted(docs, key=lambda d: d.key)
    yield kept
    for doc in dups:
        count_drop("exact_duplicate")
        yield pvalue.TaggedOutput(REJECTED, Rejected.of(doc, "exact_duplicate", {"duplicate_of": kept.key}))


class ExactDedup(beam.PTransform):
    """Documents -> (one document per normalised text, the other copies as rejected)."""

    def expand(self, docs):
        out = (
            docs
            | "KeyByTextHash" >> beam.Map(lambda d: (exact_key(d.text), d))
            | "GroupCopies" >> beam.GroupByKey()
            | "KeepSmallestKey" >> beam.FlatMap(_keep_smallest).with_outputs(REJECTED, main="kept")
        )
        return out.kept, out[REJECTED]


class _SignatureFn(beam.DoFn):
    def __init__(self, num_perm: int, seed: int, ngram: int, bands: int, rows: int):
        self._args = dict(num_perm=num_perm, seed=seed, ngram=ngram)
        self._bands, self._rows = bands, rows

    def process(self, doc: Document) -> Iterator[tuple[bytes, tuple[str, object]]]:
        with stage_timer("minhash"):
            signature = minhash_signature(doc.text, **self._args)
        if signature is not None:  # None: too short to shingle, left to exact dedup
            for bucket in band_keys(signature, self._bands, self._rows):
                yield bucket, (doc.key, signature)


def _duplicates_in_bucket(bucket, threshold: float) -> Iterator[tuple[str, tuple[str, float]]]:
    """(duplicate key, (smaller key it duplicates, estimated Jaccard)) for a bucket's members."""
    _, members = bucket
    members = sorted(members, key=lambda m: m[0])
    for i in range(1, len(members)):
        key, signature = members[i]
        for other_key, other_signature in members[: min(i, _MAX_COMPARISONS)]:
            similarity = estimated_jaccard(signature, other_signature)
            if similarity >= threshold:
                yield key, (other_key, similarity)
                break


def _split_near_duplicates(joined) -> Iterator:
    _, grouped = joined
    matches = sorted(grouped["duplicate_of"])
    for doc in grouped["doc"]:
        if not matches:
            yield doc
            continue
        other_key, similarity = matches[0]
        count_drop("near_duplicate")
        detail = {"duplicate_of": other_key, "jaccard": round(similarity, 3)}
        yield pvalue.TaggedOutput(REJECTED, Rejected.of(doc, "near_duplicate", detail))


class NearDedup(beam.PTransform):
    """Documents -> (documents without a near duplicate of smaller key, the rest as rejected)."""

    def __init__(self, *, threshold: float, num_perm: int, seed: int, ngram: int):
        super().__init__()
        self._threshold = threshold
        self._signature_fn = _SignatureFn(num_perm, seed, ngram, *lsh_params(threshold, num_perm))

    def expand(self, docs):
        duplicate_of = (
            docs
            | "MinHashBands" >> beam.ParDo(self._signature_fn)
            | "GroupBuckets" >> beam.GroupByKey()
            | "VerifyCandidates" >> beam.FlatMap(_duplicates_in_bucket, self._threshold)
        )
        by_key = docs | "KeyDocs" >> beam.Map(lambda d: (d.key, d))
        out = (
            {"doc": by_key, "duplicate_of": duplicate_of}
            | "JoinDuplicates" >> beam.CoGroupByKey()
            | "DropDuplicates" >> beam.FlatMap(_split_near_duplicates).with_outputs(REJECTED, main="kept")
        )
        return out.kept, out[REJECTED]
