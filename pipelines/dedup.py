"""Exact and near-duplicate removal over the units' run files (``pipelines.read``).

Documents are identified by ``document_id`` (key, then content hash), not by key alone: keys
may collide (the same page id in two dumps), and "keep the smallest" must then still name one
document, the same on every runner. A document's *location* is its (unit, row): copies of one
identical document (equal ids: the same document read twice) are told apart by it, the first
kept, the others rejected as duplicates of their own key.

Both transforms return the documents to drop, ``(location, (reason, detail))``: only duplicates
cross the graph, never the documents, and never all their keys. The keys and signatures stay in
the units' run files, sorted and partitioned; the worker of a partition merges that partition of
every run in one streaming pass (``electra_data.spill.merge_partition``): memory for one record
batch per unit and one group, whatever the corpus.

**Exact** (:class:`ExactDedup`): runs of (normalised-text hash, id, location). In each group of
equal hashes the first (smallest id, then location) is kept; the others are dropped as
``exact_duplicate`` ``{"duplicate_of": kept key}``. The kept document does not depend on the
runner, the number of workers or the bundle order.

**Near** (:class:`NearDedup`):

1. every document with at least ``ngram`` words has a MinHash signature and one run row per LSH
   band, (bucket, id, location, signature), written by its unit (shorter ones only go through
   exact dedup); rows of documents exact dedup dropped are skipped;
2. in each bucket, the (up to) ``_ANCHORS`` smallest ids are the anchors; every other member is
   linked to the first anchor smaller than itself whose estimated Jaccard with it clears the
   threshold by the verification margin (``verify_margin``), and is a *borderline* candidate of
   every smaller anchor whose estimate lies within the margin (``verify=False``: linked to the
   smallest id, unchecked). A bucket of m members yields at most ``_ANCHORS`` (m - 1) edges,
   never all pairs; edges found in several bands are merged (their highest similarity kept);
   borderline edges are kept only if the exact Jaccard of the two shingle-hash sets reaches
   the threshold: the two documents are read back from their units for that;
3. connected components of the edges: ``rounds`` alternating large-star / small-star rounds
   (Kiveris et al. 2014), each a ``GroupByKey`` of edges by node, then one union-find over the
   few edges not yet in star form (see below); the representative of a component is its
   smallest id;
4. every other member of a component is dropped as ``near_duplicate``,
   ``{"duplicate_of": representative, "jaccard": similarity}`` (exact if checked, else
   estimated; None if only linked through others: ``"via"`` then names the direct match and
   its similarity).

A chain A~B~C (A and C dissimilar) is one component: B and C both go, as duplicates of A.

**Why it scales** to Wikipedia + BooksCorpus (~6.5 M documents, 16 GB) and to 10x that: no step
needs the corpus, the LSH index or the edge set in one worker or in the runner's memory:

- signatures cost O(document) memory (shingle hashes permuted in 4096-row chunks: 2 MB scratch);
- buckets: ~16 rows of ~0.55 KB (key, 512-byte signature) per document live in the runs on disk
  (~60 GB at 6.5 M documents); a partition's worker holds one record batch per unit and one
  bucket's 4 anchors; a bucket of mass-duplicated boilerplate with a million members streams by;
- edges: at most ``_ANCHORS`` per document per band (typically only true duplicates have any),
  so the edge set is a small fraction of the documents; a star round keeps or shrinks its size;
- exact verification: a borderline edge reads its two documents back and gathers their
  shingle-hash sets (4 bytes a shingle, a book ~0.4 MB) in the group of that edge alone;
- rounds: large-star/small-star converges in O(log^2 n) rounds; our edges already form stars
  around bucket anchors, so clusters of copies settle in 1-2 rounds; only long chains of
  successive edits need more (a chain of 100 documents in adversarial key order needs 7 rounds,
  10,000 need 14). After ``rounds`` rounds, a document with one parent and no children is
  settled; the edges of the rest (not yet star-shaped) go to one union-find, bounded by
  ``_MAX_RESIDUAL_EDGES``: beyond that the build fails, saying to raise ``rounds``, instead of
  running a worker out of memory.

:class:`~electra_data.pipelines.duplicates_report.DuplicatesReport` writes a deterministic
sample of the clusters to ``duplicates.jsonl``.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from operator import itemgetter

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from electra_data import spill
from electra_data.dedup import (
    estimated_jaccard,
    exact_jaccard,
    large_star,
    shingle_set,
    small_star,
    union_find_min,
    verify_margin,
)
from electra_data.pipelines import workdir
from electra_data.progress import ItemProgress
from electra_data.pipelines.metrics import stage_timer
from electra_data.pipelines.read import IDENTITY

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
Location = tuple[str, int]  # (unit, row)


@contextlib.contextmanager
def _done(progress: ItemProgress) -> Iterator[None]:
    yield
    progress.done()


def _partitions(units, partitions: int, label: str):
    """One element per partition, ready once every unit is: (partition, sorted unit names)."""
    return (
        units
        | f"{label}Units" >> beam.combiners.ToList()
        | f"{label}Partitions" >> beam.FlatMap(lambda names: [(p, sorted(names)) for p in range(partitions)])
        | f"{label}Spread" >> beam.Reshuffle()
    )


def _exact_drops(job: tuple[int, list[str]], work: str) -> Iterator[tuple[Location, tuple[str, dict]]]:
    """The copies in one partition of the exact runs: every row of a hash group but the first."""
    partition, units = job
    paths = [workdir.run_path(work, "exact", u) for u in units]
    progress = ItemProgress(work, "dedup", f"exact-{partition}")
    with stage_timer("exact_dedup"), _done(progress):
        for _, group in itertools.groupby(spill.merge_partition(paths, partition), key=itemgetter(0)):
            kept = next(group)
            for _, _, _, unit, row in group:
                yield (unit, row), ("exact_duplicate", {"duplicate_of": kept[1]})


class ExactDedup(beam.PTransform):
    """Unit names -> ``(location, ("exact_duplicate", detail))`` for every copy but the first."""

    def __init__(self, work: str, partitions: int):
        super().__init__()
        self._work, self._partitions = work, partitions

    def expand(self, units):
        return _partitions(units, self._partitions, "Exact") | "ExactCopies" >> beam.FlatMap(_exact_drops, self._work)


def _link_to_anchors(
    members: Iterable[tuple[DocId, Location, np.ndarray]], threshold: float, margin: float | None
) -> Iterator[tuple[tuple[DocId, DocId], float, Location, Location]]:
    """A bucket's members in id order -> (member, anchor), estimated Jaccard and both locations,
    for candidate pairs.

    The first ``_ANCHORS`` members are the anchors. Each member is linked to the first smaller
    anchor whose estimate reaches ``threshold + margin``, after any smaller anchors whose
    estimate lies within ``margin`` of the threshold (borderline: checked exactly later).
    ``margin=None`` (no verification): to the smallest id, whatever the estimate.
    """
    anchors: list[tuple[DocId, Location, np.ndarray]] = []
    for doc_id, loc, sig in members:
        for anchor, anchor_loc, anchor_sig in anchors:
            if anchor >= doc_id:
                break
            similarity = estimated_jaccard(sig, anchor_sig)
            if margin is None or similarity >= threshold + margin:
                yield (doc_id, anchor), similarity, loc, anchor_loc
                break
            if similarity >= threshold - margin:
                yield (doc_id, anchor), similarity, loc, anchor_loc
        if len(anchors) < _ANCHORS:
            anchors.append((doc_id, loc, sig))


def _candidates(job: tuple[int, list[str]], work: str, dropped: dict, threshold: float, margin: float | None) -> Iterator:
    """One partition of the band runs -> candidate edges (main), the locations of their ends
    (``locs``), and exact copies met in identity buckets (``copies``)."""
    partition, units = job
    paths = [workdir.run_path(work, "bands", u) for u in units]
    rows = (r for r in spill.merge_partition(paths, partition) if (r[3], r[4]) not in dropped)
    progress = ItemProgress(work, "dedup", f"near-{partition}")
    with stage_timer("near_candidates"), _done(progress):
        for bucket, group in itertools.groupby(rows, key=itemgetter(0)):
            if bucket.startswith(IDENTITY):  # one document id: the first copy stays
                first = next(group)
                yield pvalue.TaggedOutput("locs", ((first[1], first[2]), (first[3], first[4])))
                for _, key, content_hash, unit, row, _ in group:
                    yield pvalue.TaggedOutput("locs", ((key, content_hash), (unit, row)))
                    yield pvalue.TaggedOutput("copies", ((unit, row), ("near_duplicate", {"duplicate_of": key, "jaccard": 1.0}, 1)))
                continue
            members = (((key, h), (unit, row), np.frombuffer(sig, dtype=np.uint32)) for _, key, h, unit, row, sig in group)
            for edge, similarity, loc, anchor_loc in _link_to_anchors(members, threshold, margin):
                yield edge, similarity
                yield pvalue.TaggedOutput("locs", (edge[0], loc))
                yield pvalue.TaggedOutput("locs", (edge[1], anchor_loc))


def _borderline(edge: tuple[tuple[DocId, DocId], float], _partitions: int, upper: float) -> int:
    """Partition 1 for an edge whose estimate is below the band's top (the candidates include
    nothing below its bottom), 0 for one that clears it."""
    return int(edge[1] < upper)


def _by_unit(joined) -> Iterator[tuple[str, tuple[int, DocId, tuple[DocId, DocId]]]]:
    """(id, {locations, edges}) -> (unit, (row, id, edge)) for each borderline edge of the document."""
    doc_id, grouped = joined
    if grouped["edge"]:
        unit, row = min(grouped["loc"])
        for edge in grouped["edge"]:
            yield unit, (row, doc_id, edge)


def _send_shingles(group, work: str, ngram: int) -> Iterator[tuple[tuple[DocId, DocId], tuple[DocId, bytes]]]:
    """(unit, its documents' borderline edges) -> (edge, (id, shingle set)), reading them back."""
    unit, wanted = group
    wanted = list(wanted)
    with stage_timer("verify"):
        docs = spill.read_rows(workdir.docs_path(work, unit), (row for row, _, _ in wanted))
        for row, doc_id, edge in wanted:
            yield edge, (doc_id, shingle_set(docs[row].text, ngram).tobytes())


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

    def __init__(self, work: str, locs, threshold: float, ngram: int):
        super().__init__()
        self._work, self._locs, self._threshold, self._ngram = work, locs, threshold, ngram

    def expand(self, borderline):
        ends = borderline | "EdgeEnds" >> beam.FlatMap(lambda e: ((e[0][0], e[0]), (e[0][1], e[0])))
        return (
            {"loc": self._locs, "edge": ends}
            | "JoinEdgeEnds" >> beam.CoGroupByKey()
            | "ByUnit" >> beam.FlatMap(_by_unit)
            | "GroupByUnit" >> beam.GroupByKey()
            | "SendShingles" >> beam.FlatMap(_send_shingles, self._work, self._ngram)
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


def _cluster_drops(joined) -> Iterator[tuple[Location, tuple[str, dict, int]]]:
    """(id, {rep, match, loc}) -> a drop for every location of a document that is not its
    component's representative (priority 0: it wins over being a copy)."""
    _, grouped = joined
    if grouped["rep"]:
        detail = _near_detail(grouped["rep"][0], grouped["match"])
        for loc in sorted(set(grouped["loc"])):
            yield loc, ("near_duplicate", detail, 0)


class NearDedup(beam.PTransform):
    """(unit names, exact drops) -> ``(location, ("near_duplicate", detail))`` for every
    document of a near-duplicate cluster but one, and every exact copy but the first if exact
    dedup did not run.

    Args:
        work: the work directory holding the units' band runs.
        partitions: partitions of those runs.
        threshold: Jaccard similarity of word shingles from which two documents are duplicates.
        num_perm: MinHash permutations of the signatures in the runs.
        ngram: words per shingle.
        verify: link bucket members only if their Jaccard reaches ``threshold`` (default True):
            estimated, or exact when the estimate is within ``verify_margin`` of it; False
            trusts LSH's candidates, false positives included.
        rounds: large-star/small-star rounds before the bounded union-find settles the rest.

    Raises:
        ValueError: for a threshold outside (0, 1) or too few permutations to reach it.
    """

    def __init__(
        self, work: str, partitions: int, *, threshold: float, num_perm: int, ngram: int, verify: bool = True,
        rounds: int = DEFAULT_CC_ROUNDS,
    ):  # fmt: skip
        super().__init__()
        if rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {rounds}")
        self._work, self._partitions = work, partitions
        self._threshold, self._ngram, self._rounds = threshold, ngram, rounds
        self._margin = verify_margin(threshold, num_perm) if verify else None

    def expand(self, inputs):
        units, exact_drops = inputs
        found = _partitions(units, self._partitions, "Near") | "Candidates" >> beam.FlatMap(
            _candidates, self._work, pvalue.AsDict(exact_drops), self._threshold, self._margin
        ).with_outputs("locs", "copies", main="edges")
        edges = found.edges | "MergeEdges" >> beam.CombinePerKey(max)
        if self._margin is not None:
            split = edges | "SplitBorderline" >> beam.Partition(_borderline, 2, self._threshold + self._margin)
            verified = split[1] | "VerifyExactly" >> _VerifyExactly(self._work, found.locs, self._threshold, self._ngram)
            edges = (split[0], verified) | "VerifiedEdges" >> beam.Flatten()
        representative = edges | "EdgePairs" >> beam.Keys() | "Components" >> _ConnectedComponents(self._rounds)
        matches = edges | "MatchesByDoc" >> beam.MapTuple(lambda pair, sim: (pair[0], (pair[1], sim)))
        clusters = (
            {"rep": representative, "match": matches, "loc": found.locs}
            | "JoinClusters" >> beam.CoGroupByKey()
            | "ClusterDrops" >> beam.FlatMap(_cluster_drops)
        )
        return (
            (clusters, found.copies)
            | "AllNearDrops" >> beam.Flatten()
            | "OnePerLocation" >> beam.CombinePerKey(lambda drops: min(drops, key=itemgetter(2)))
            | "DropPriority" >> beam.MapTuple(lambda loc, drop: (loc, drop[:2]))
        )
