"""Exact and near-duplicate removal as Beam transforms around ``electra_data.dedup``.

Documents are identified by ``document_id`` (key, then content hash), not by key alone: keys
may collide (the same page id in two dumps), and "keep the smallest" must then still name one
document, the same on every runner. Copies of one identical document (equal ids: the same
document read twice) are duplicates: the first is kept, the others are rejected as duplicates of
their own key.

**Exact** (:class:`ExactDedup`): the normalised-text hashes of all documents are grouped with
their *ids only*; each group names its smallest id the one to keep and points every other id
at it; a join by document id then splits documents into kept and ``exact_duplicate``. The kept
document does not depend on the runner or on bundle order.

**Near** (:class:`NearDedup`):

1. every document with at least ``ngram`` words gets a MinHash signature and one bucket key per
   LSH band (shorter ones skip this and only go through exact dedup);
2. in each bucket, the (up to) ``_ANCHORS`` smallest ids are the anchors; every other member is
   linked to the first anchor smaller than itself whose estimated Jaccard with it clears the
   threshold by the verification margin (``verify_margin``), and is a *borderline* candidate of
   every smaller anchor whose estimate lies within the margin (``verify=False``: linked to the
   smallest id, unchecked). A bucket of m members yields at most ``_ANCHORS`` (m - 1) edges,
   never all pairs; edges found in several bands are merged (their highest similarity kept);
   borderline edges are kept only if the exact Jaccard of the two shingle-hash sets reaches
   the threshold: a join by document id sends each endpoint's set to its edge;
3. connected components of the edges: ``rounds`` alternating large-star / small-star rounds
   (Kiveris et al. 2014), each a ``GroupByKey`` of edges by node, then one union-find over the
   few edges not yet in star form (see below); the representative of a component is its
   smallest id;
4. a join by document id keeps representatives and documents without edges, and rejects the
   rest as ``near_duplicate``, ``{"duplicate_of": representative, "jaccard": similarity}``
   (exact if checked, else estimated; None if only linked through others: ``"via"`` then names
   the direct match and its similarity).

A chain A~B~C (A and C dissimilar) is one component: B and C both go, as duplicates of A.

**Why it scales** to Wikipedia + BooksCorpus (~6.5 M documents, 16 GB) and to 10x that: no step
needs the corpus, the LSH index or the edge set in one worker; every shuffle is keyed by a
bucket, a node or a document, and every group is streamed (re-iterated at most twice) rather
than held:

- signatures cost O(document) memory (shingle hashes permuted in 4096-row chunks: 2 MB scratch);
- buckets: 16 records of ~0.55 KB (key, 512-byte signature) per document, ~60 GB of shuffle at
  6.5 M documents and ~600 GB at 10x: the LSH index lives in the runner's shuffle, spread over
  workers. A worker holds one bucket's 4 anchors; a bucket of mass-duplicated boilerplate with a
  million members is paged through by the runner, not loaded;
- edges: at most ``_ANCHORS`` per document per band (typically only true duplicates have any),
  so the edge set is a small fraction of the documents; a star round keeps or shrinks its size;
- exact verification: a borderline edge gathers two shingle-hash sets (4 bytes a shingle, a
  book ~0.4 MB) in the group of that edge alone; documents without a borderline edge send
  nothing beyond the join by id;
- rounds: large-star/small-star converges in O(log^2 n) rounds; our edges already form stars
  around bucket anchors, so clusters of copies settle in 1-2 rounds; only long chains of
  successive edits need more (a chain of 100 documents in adversarial key order needs 7 rounds,
  10,000 need 14). After ``rounds`` rounds, a document with one parent and no children is
  settled; the edges of the rest (not yet star-shaped) go to one union-find, bounded by
  ``_MAX_RESIDUAL_EDGES``: beyond that the build fails, saying to raise ``rounds``, instead of
  running a worker out of memory;
- exact dedup groups ids (~70 bytes), not documents: even a text copied a million times is a
  ~70 MB group, streamed twice; the joins by document id hold one document each (or the
  copies of one document).

:class:`~electra_data.pipelines.duplicates_report.DuplicatesReport` writes a deterministic
sample of the clusters to ``duplicates.jsonl``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from operator import itemgetter

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from electra_data.dedup import (
    band_keys,
    document_id,
    estimated_jaccard,
    exact_jaccard,
    exact_key,
    large_star,
    lsh_params,
    minhash_signature,
    shingle_set,
    small_star,
    union_find_min,
    verify_margin,
)
from electra_data.documents import Document, Rejected
from electra_data.pipelines.metrics import REJECTED, count_drop, stage_timer

__all__ = ["DEFAULT_CC_ROUNDS", "DUPLICATE_REASONS", "ExactDedup", "NearDedup"]

DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate")
DEFAULT_CC_ROUNDS = 4
# A member that fails verification against the smallest id of its bucket is tried against the
# next smallest, up to this many: in a bucket holding A < B < C with A~B, B~C but not A~C, C
# still finds B (the chain's link), where comparing with the smallest id alone would lose it.
_ANCHORS = 4
# Edges not in star form after the rounds are settled by one union-find in one worker: at ~400
# bytes an edge (two document ids) this bounds it to ~40 MB; more means too few rounds for this corpus.
_MAX_RESIDUAL_EDGES = 100_000


DocId = tuple[str, str]  # document_id: (key, content hash)


def _by_id(docs, label: str):
    return docs | label >> beam.Map(lambda d: (document_id(d), d))


def _text_hash(keyed: tuple[DocId, Document]) -> tuple[str, DocId]:
    doc_id, doc = keyed
    with stage_timer("exact_key"):
        return exact_key(doc.text), doc_id


def _point_copies_to_smallest(group: tuple[str, Iterable[DocId]]) -> Iterator[tuple[DocId, DocId]]:
    """(text hash, ids) -> (id, smallest id) for every id but the smallest."""
    _, ids = group
    kept = min(ids)
    for doc_id in ids:
        if doc_id != kept:
            yield doc_id, kept


def _split_exact(joined) -> Iterator:
    (key, _), grouped = joined
    for i, doc in enumerate(grouped["doc"]):
        if not grouped["kept"] and i == 0:
            yield doc
            continue
        # documents with one id are identical: the first stays, the others are its copies
        detail = {"duplicate_of": grouped["kept"][0][0] if grouped["kept"] else key}
        count_drop("exact_duplicate")
        yield pvalue.TaggedOutput(REJECTED, Rejected.of(doc, "exact_duplicate", detail))


class ExactDedup(beam.PTransform):
    """Documents -> (one document per normalised text, the other copies as rejected)."""

    def expand(self, docs):
        keyed_docs = _by_id(docs, "IdDocs")
        kept_id = (
            keyed_docs
            | "TextHash" >> beam.Map(_text_hash)
            | "GroupCopyIds" >> beam.GroupByKey()
            | "PointToSmallestId" >> beam.FlatMap(_point_copies_to_smallest)
        )
        out = (
            {"doc": keyed_docs, "kept": kept_id}
            | "JoinCopies" >> beam.CoGroupByKey()
            | "KeepSmallestId" >> beam.FlatMap(_split_exact).with_outputs(REJECTED, main="kept")
        )
        return out.kept, out[REJECTED]


class _BandsFn(beam.DoFn):
    def __init__(self, num_perm: int, seed: int, ngram: int, bands: int, rows: int):
        self._args = dict(num_perm=num_perm, seed=seed, ngram=ngram)
        self._bands, self._rows = bands, rows

    def process(self, doc: Document) -> Iterator[tuple[bytes, tuple[DocId, bytes]]]:
        with stage_timer("minhash"):
            signature = minhash_signature(doc.text, **self._args)
            # None: too short to shingle, left to exact dedup
            buckets = [] if signature is None else band_keys(signature, self._bands, self._rows)
        member = (document_id(doc), None if signature is None else signature.tobytes())  # bytes: cheap to shuffle
        for bucket in buckets:
            yield bucket, member


def _link_to_anchors(
    bucket, threshold: float, margin: float | None
) -> Iterator[tuple[tuple[DocId, DocId], float]]:
    """(bucket, members) -> ((member, anchor), estimated Jaccard) for candidate pairs.

    Each member is linked to the first smaller anchor whose estimate reaches ``threshold +
    margin``, after any smaller anchors whose estimate lies within ``margin`` of the threshold
    (borderline: checked exactly later). ``margin=None`` (no verification): to the smallest id,
    whatever the estimate. Two passes over the members (Beam groups are re-iterable): the
    anchors, then the links.
    """
    _, members = bucket
    anchors = heapq.nsmallest(_ANCHORS, members, key=itemgetter(0))
    anchors = [(doc_id, np.frombuffer(sig, dtype=np.uint32)) for doc_id, sig in anchors]
    for doc_id, sig in members if len(anchors) > 1 else ():  # a bucket of one: nearly all of them
        sig = np.frombuffer(sig, dtype=np.uint32)
        for anchor, anchor_sig in anchors:
            if anchor >= doc_id:
                break
            similarity = estimated_jaccard(sig, anchor_sig)
            if margin is None or similarity >= threshold + margin:
                yield (doc_id, anchor), similarity
                break
            if similarity >= threshold - margin:
                yield (doc_id, anchor), similarity


def _borderline(edge: tuple[tuple[DocId, DocId], float], _partitions: int, upper: float) -> int:
    """Partition 1 for an edge whose estimate is below the band's top (LinkToAnchors emits
    nothing below its bottom), 0 for one that clears it."""
    return int(edge[1] < upper)


def _send_shingles(joined, ngram: int) -> Iterator[tuple[tuple[DocId, DocId], tuple[DocId, bytes]]]:
    """(id, {doc, edge}) -> (edge, (id, shingle set)) for each borderline edge of the document."""
    doc_id, grouped = joined
    edges = grouped["edge"]
    if edges:  # nearly every document has none: nothing to compute or send
        with stage_timer("verify"):
            shingle_bytes = shingle_set(grouped["doc"][0].text, ngram).tobytes()
        for edge in edges:
            yield edge, (doc_id, shingle_bytes)


def _check_exactly(group, threshold: float) -> Iterator[tuple[tuple[DocId, DocId], float]]:
    """(edge, the two endpoints' shingle sets) -> (edge, exact Jaccard) if it reaches threshold."""
    edge, ends = group
    with stage_timer("verify"):
        a, b = (np.frombuffer(s, dtype=np.uint32) for _, s in ends)
        similarity = exact_jaccard(a, b)
    if similarity >= threshold:
        yield edge, similarity


class _VerifyExactly(beam.PTransform):
    """Borderline (edge, estimate) -> (edge, exact Jaccard) for the edges that reach threshold."""

    def __init__(self, keyed_docs, threshold: float, ngram: int):
        super().__init__()
        self._keyed_docs, self._threshold, self._ngram = keyed_docs, threshold, ngram

    def expand(self, borderline):
        ends = borderline | "EdgeEnds" >> beam.FlatMap(lambda e: ((e[0][0], e[0]), (e[0][1], e[0])))
        return (
            {"doc": self._keyed_docs, "edge": ends}
            | "JoinEdgeEnds" >> beam.CoGroupByKey()
            | "SendShingles" >> beam.FlatMap(_send_shingles, self._ngram)
            | "GroupEdgeEnds" >> beam.GroupByKey()
            | "CheckExactly" >> beam.FlatMap(_check_exactly, self._threshold)
        )


class _BoundedUnionFind(beam.CombineFn):
    """Residual edges -> {node: smallest node of its component} (nodes that are not their own)."""

    def __init__(self, rounds: int):
        self._rounds = rounds

    def create_accumulator(self) -> list:
        return []

    def add_input(self, edges: list, edge) -> list:
        edges.append(edge)
        return self._checked(edges)

    def merge_accumulators(self, accumulators) -> list:
        return self._checked([e for acc in accumulators for e in acc])

    def extract_output(self, edges: list) -> dict[DocId, DocId]:
        return {node: root for node, root in union_find_min(edges).items() if node != root}

    def _checked(self, edges: list) -> list:
        if len(edges) > _MAX_RESIDUAL_EDGES:
            raise RuntimeError(
                f"near dedup: duplicate clusters did not converge in {self._rounds} star rounds "
                f"(over {_MAX_RESIDUAL_EDGES} edges left); raise NearDedup(rounds=...)"
            )
        return edges


def _settle(joined) -> Iterator:
    """(node, parents, has children) -> a settled leaf edge, or the node's edges as residual.

    A root (no parents) yields nothing: it is labelled through its children.
    """
    node, grouped = joined
    parents = set(grouped["parent"])
    if len(parents) == 1 and not grouped["has_child"]:
        yield node, parents.pop()
    elif parents:
        for parent in parents:
            yield pvalue.TaggedOutput("residual", (node, parent))


def _label_leaf(edge: tuple[DocId, DocId], rest: dict[DocId, DocId]) -> tuple[DocId, DocId]:
    node, parent = edge
    return node, rest.get(parent, parent)


class _ConnectedComponents(beam.PTransform):
    """(larger, smaller) edges -> (node, smallest node of its component) for every non-smallest."""

    def __init__(self, rounds: int):
        super().__init__()
        self._rounds = rounds

    def expand(self, edges):
        for i in range(self._rounds):
            edges = (
                edges
                | f"LargeStar{i}Both" >> beam.FlatMap(lambda e: (e, e[::-1]))
                | f"LargeStar{i}Group" >> beam.GroupByKey()
                | f"LargeStar{i}" >> beam.FlatMapTuple(large_star)
                | f"SmallStar{i}Group" >> beam.GroupByKey()
                | f"SmallStar{i}" >> beam.FlatMapTuple(small_star)
            )
        has_child = (
            edges
            | "ParentFlags" >> beam.Map(lambda e: (e[1], True))
            | "HasChild" >> beam.CombinePerKey(any)
        )
        settled = (
            {"parent": edges, "has_child": has_child}
            | "JoinNodeState" >> beam.CoGroupByKey()
            | "Settle" >> beam.FlatMap(_settle).with_outputs("residual", main="leaf")
        )
        residual = settled.residual | "UnionFindRest" >> beam.CombineGlobally(_BoundedUnionFind(self._rounds))
        leaves = settled.leaf | "LabelLeaves" >> beam.Map(_label_leaf, pvalue.AsSingleton(residual))
        rest = residual | "LabelRest" >> beam.FlatMap(dict.items)
        return (leaves, rest) | "Labels" >> beam.Flatten()


def _near_detail(representative: DocId, matches: Iterable[tuple[DocId, float]]) -> dict:
    """The reject's detail, naming documents by key (ids are for choosing, keys for people)."""
    matches = dict(matches)
    if representative in matches:
        return {"duplicate_of": representative[0], "jaccard": round(matches[representative], 3)}
    detail: dict = {"duplicate_of": representative[0], "jaccard": None}
    if matches:
        via, similarity = max(matches.items(), key=lambda m: (m[1], m[0]))
        detail["via"] = [via[0], round(similarity, 3)]
    return detail


def _split_near(joined) -> Iterator:
    (key, _), grouped = joined
    for i, doc in enumerate(grouped["doc"]):
        if not grouped["rep"] and i == 0:
            yield doc
            continue
        if grouped["rep"]:
            detail = _near_detail(grouped["rep"][0], grouped["match"])
        else:  # documents with one id are identical: the first stays, the others are its copies
            detail = {"duplicate_of": key, "jaccard": 1.0}
        count_drop("near_duplicate")
        yield pvalue.TaggedOutput(REJECTED, Rejected.of(doc, "near_duplicate", detail))


class NearDedup(beam.PTransform):
    """Documents -> (one document per near-duplicate cluster and the rest, the others as rejected).

    Args:
        threshold: Jaccard similarity of word shingles from which two documents are duplicates.
        num_perm: MinHash permutations.
        seed: seed of the MinHash permutations.
        ngram: words per shingle; shorter documents are left to exact dedup.
        verify: link bucket members only if their Jaccard reaches ``threshold`` (default True):
            estimated, or exact when the estimate is within ``verify_margin`` of it; False
            trusts LSH's candidates, false positives included.
        rounds: large-star/small-star rounds before the bounded union-find settles the rest.

    Raises:
        ValueError: for a threshold outside (0, 1) or too few permutations to reach it.
    """

    def __init__(
        self,
        *,
        threshold: float,
        num_perm: int,
        seed: int,
        ngram: int,
        verify: bool = True,
        rounds: int = DEFAULT_CC_ROUNDS,
    ):
        super().__init__()
        if rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {rounds}")
        self._threshold, self._ngram, self._rounds = threshold, ngram, rounds
        self._margin = verify_margin(threshold, num_perm) if verify else None
        self._bands_fn = _BandsFn(num_perm, seed, ngram, *lsh_params(threshold, num_perm))

    def expand(self, docs):
        keyed_docs = _by_id(docs, "IdDocs")
        edges = (
            docs
            | "MinHashBands" >> beam.ParDo(self._bands_fn)
            | "GroupBuckets" >> beam.GroupByKey()
            | "LinkToAnchors" >> beam.FlatMap(_link_to_anchors, self._threshold, self._margin)
            | "MergeEdges" >> beam.CombinePerKey(max)
        )
        if self._margin is not None:
            split = edges | "SplitBorderline" >> beam.Partition(_borderline, 2, self._threshold + self._margin)
            verified = split[1] | "VerifyExactly" >> _VerifyExactly(keyed_docs, self._threshold, self._ngram)
            edges = (split[0], verified) | "VerifiedEdges" >> beam.Flatten()
        representative = edges | "EdgePairs" >> beam.Keys() | "Components" >> _ConnectedComponents(self._rounds)
        matches = edges | "MatchesByDoc" >> beam.MapTuple(lambda pair, sim: (pair[0], (pair[1], sim)))
        out = (
            {"doc": keyed_docs, "rep": representative, "match": matches}
            | "JoinClusters" >> beam.CoGroupByKey()
            | "DropDuplicates" >> beam.FlatMap(_split_near).with_outputs(REJECTED, main="kept")
        )
        return out.kept, out[REJECTED]
