"""A sample of duplicate clusters, for a person to audit what dedup removed and why."""

from __future__ import annotations

import json
from collections.abc import Iterable
from operator import itemgetter

import apache_beam as beam
from apache_beam import pvalue

from electra_data import fsio
from electra_data.documents import Rejected, stable_hash
from electra_data.pipelines.dedup import DUPLICATE_REASONS

__all__ = ["ChosenClusters", "DuplicatesReport"]

EXCERPT = 200  # characters of text shown per document


def _member_order(member: tuple[str, Rejected]) -> tuple:
    """A total order on (key, reject): every field, the ``detail`` dict as sorted JSON.

    Comparing the rejects themselves would compare their ``detail`` dicts (a TypeError) when two
    removed documents share key, title and excerpt (one key in two inputs).
    """
    _, r = member
    return r.key, r.source, r.title, r.reason, r.excerpt, json.dumps(r.detail, sort_keys=True)


def _cluster(kept: str, grouped: dict) -> dict:
    removed = [
        {
            "key": r.key,
            "title": r.title,
            "reason": r.reason,
            "jaccard": 1.0 if r.reason == "exact_duplicate" else r.detail.get("jaccard"),
            **({"via": r.detail["via"]} if "via" in r.detail else {}),
            "excerpt": r.excerpt[:EXCERPT],
        }
        for _, r in sorted(grouped["removed"][0], key=_member_order)
    ]
    return {"kept": kept, "removed_count": grouped["count"][0], "removed": removed}


def _cluster_order(kept: str) -> tuple:
    return stable_hash(kept), kept  # the key if hashes tie


class ChosenClusters(beam.PTransform):
    """Duplicate drops ``(location, (reason, {"duplicate_of": key, ...}))`` -> a singleton
    frozenset: the kept keys of the clusters the report samples (the ``clusters`` smallest by
    hash), known before the documents are read, so that only those are picked."""

    def __init__(self, clusters: int = 50):
        super().__init__()
        self._clusters = clusters

    def expand(self, drops):
        return (
            drops
            | "KeptKeys" >> beam.Map(lambda drop: drop[1][1]["duplicate_of"])
            | "DistinctKept" >> beam.Distinct()
            | "SmallestClusters" >> beam.combiners.Top.Smallest(self._clusters, key=_cluster_order)
            | "ChosenSet" >> beam.Map(frozenset)
        )


def _smallest_id(candidates: Iterable[tuple[str, dict]]) -> tuple[str, dict]:
    # by content hash alone: candidates of equal hash are one document, their dicts equal
    return min(candidates, key=itemgetter(0))


def _write_report(chosen: list[dict], kept_docs: dict[str, dict], path: str) -> None:
    records = [
        {"kept": {"key": c["kept"], **kept_docs.get(c["kept"], {})}, **{k: v for k, v in c.items() if k != "kept"}}
        for c in sorted(chosen, key=lambda c: c["kept"])
    ]
    fsio.write_bytes_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())


class DuplicatesReport(beam.PTransform):
    """(picked kept documents, rejected records) -> ``path``: a JSONL sample of duplicate clusters.

    A cluster is a kept document and the documents removed as its duplicates (``exact_duplicate``
    and ``near_duplicate`` rejects naming it in ``duplicate_of``; other rejects are ignored). The
    sample is deterministic: the ``clusters`` clusters whose kept key hashes smallest, each with
    its ``members`` smallest removed keys and its full count; every tie is broken by a total
    order (the rest of the reject; for a kept key that several documents share, the document of
    smallest ``document_id``), never by the order the runner delivers. ``picked`` holds
    ``(key, (content hash, {"title", "excerpt"}))`` of every document, kept or not, whose key
    ``ChosenClusters`` chose (``pipelines.select``). An exact cluster names the copy exact
    dedup kept, even if near dedup removed that one later.

    One record per line: ``{"kept": {"key", "title", "excerpt"}, "removed_count": n, "removed":
    [{"key", "title", "reason", "jaccard", "excerpt"}, ...]}`` (``jaccard``: 1.0 for exact
    copies, the similarity to the kept document for near ones (exact if it was checked), null when they were linked through
    others, with ``"via": [key, jaccard]`` then).
    """

    def __init__(self, path: str, *, clusters: int = 50, members: int = 10):
        super().__init__()
        self._path, self._clusters, self._members = path, clusters, members

    def expand(self, inputs):
        picked, rejected = inputs
        by_kept = (
            rejected
            | "DuplicatesOnly" >> beam.Filter(lambda r: r.reason in DUPLICATE_REASONS)
            | "ByKept" >> beam.Map(lambda r: (r.detail["duplicate_of"], (r.key, r)))
        )
        chosen = (
            {
                "count": by_kept | "CountRemoved" >> beam.combiners.Count.PerKey(),
                "removed": by_kept
                | "SampleRemoved" >> beam.combiners.Top.SmallestPerKey(self._members, key=_member_order),
            }
            | "JoinCluster" >> beam.CoGroupByKey()
            | "Cluster" >> beam.MapTuple(_cluster)
            | "SampleClusters" >> beam.combiners.Top.Smallest(self._clusters, key=lambda c: _cluster_order(c["kept"]))
        )
        kept_docs = (
            picked
            # Rejects name the kept document by key only, and should two documents share a key,
            # ToDict would show whichever reached it last on this runner: show the one of smallest
            # id (key, then content hash) instead, the same on every runner.
            | "SmallestIdPerKey" >> beam.CombinePerKey(_smallest_id)
            | "DropHash" >> beam.MapTuple(lambda key, picked: (key, picked[1]))
            | "KeptDocs" >> beam.combiners.ToDict()
        )
        return chosen | "WriteDuplicates" >> beam.Map(_write_report, pvalue.AsSingleton(kept_docs), self._path)
