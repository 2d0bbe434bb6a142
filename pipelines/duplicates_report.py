"""A sample of duplicate clusters, for a person to audit what dedup removed and why."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from operator import itemgetter

import apache_beam as beam
from apache_beam import pvalue

from electra_data import fsio
from electra_data.dedup import document_id
from electra_data.documents import Document, Rejected, stable_hash
from electra_data.pipelines.dedup import DUPLICATE_REASONS

__all__ = ["DuplicatesReport"]

_EXCERPT = 200


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
            "excerpt": r.excerpt[:_EXCERPT],
        }
        for _, r in sorted(grouped["removed"][0], key=_member_order)
    ]
    return {"kept": kept, "removed_count": grouped["count"][0], "removed": removed}


def _pick_kept(doc: Document, chosen: frozenset[str]) -> Iterator[tuple[str, tuple[str, dict]]]:
    if doc.key in chosen:
        yield doc.key, (document_id(doc)[1], {"title": doc.title, "excerpt": doc.text[:_EXCERPT]})


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
    """(documents, rejected records) -> ``path``: a JSONL sample of duplicate clusters.

    A cluster is a kept document and the documents removed as its duplicates (``exact_duplicate``
    and ``near_duplicate`` rejects naming it in ``duplicate_of``; other rejects are ignored). The
    sample is deterministic: the ``clusters`` clusters whose kept key hashes smallest, each with
    its ``members`` smallest removed keys and its full count; every tie is broken by a total
    order (the rest of the reject; for a kept key that several documents share, the document of
    smallest ``document_id``), never by the order the runner delivers. ``documents`` must include
    every kept document (pass the input of dedup); only the sampled ones are read, and only
    their excerpts are shuffled. An exact cluster names the copy exact dedup kept, even if near
    dedup removed that one later.

    One record per line: ``{"kept": {"key", "title", "excerpt"}, "removed_count": n, "removed":
    [{"key", "title", "reason", "jaccard", "excerpt"}, ...]}`` (``jaccard``: 1.0 for exact
    copies, the similarity to the kept document for near ones (exact if it was checked), null when they were linked through
    others, with ``"via": [key, jaccard]`` then).
    """

    def __init__(self, path: str, *, clusters: int = 50, members: int = 10):
        super().__init__()
        self._path, self._clusters, self._members = path, clusters, members

    def expand(self, inputs):
        docs, rejected = inputs
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
            | "SampleClusters" >> beam.combiners.Top.Smallest(
                self._clusters, key=lambda c: (stable_hash(c["kept"]), c["kept"])  # the key if hashes tie
            )
        )
        chosen_keys = chosen | "ChosenKeys" >> beam.Map(lambda cs: frozenset(c["kept"] for c in cs))
        kept_docs = (
            docs
            | "PickKept" >> beam.FlatMap(_pick_kept, pvalue.AsSingleton(chosen_keys))
            # Rejects name the kept document by key only, and should two documents share a key,
            # ToDict would show whichever reached it last on this runner: show the one of smallest
            # id (key, then content hash) instead, the same on every runner.
            | "SmallestIdPerKey" >> beam.CombinePerKey(_smallest_id)
            | "DropHash" >> beam.MapTuple(lambda key, picked: (key, picked[1]))
            | "KeptDocs" >> beam.combiners.ToDict()
        )
        return chosen | "WriteDuplicates" >> beam.Map(_write_report, pvalue.AsSingleton(kept_docs), self._path)
