"""The dedup transforms on real text, over units on disk (``tests/spilled.py``), on the local
runner (FnApiRunner).

The documents are written in order into units of ``per_unit`` documents, their dedup runs in
``partitions`` partitions: whatever the input order, the split into units and the number of
partitions, the same documents are kept and the same ones dropped, for the same reasons.
"""

import json
import random
from collections import Counter
import tempfile
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from electra_data.dedup import (
    document_id,
    estimated_jaccard,
    exact_jaccard,
    minhash_signature,
    shingle_set,
    union_find_min,
    verify_margin,
)
from electra_data.documents import Document
from electra_data.pipelines import dedup as dedup_module
from electra_data.pipelines.dedup import (
    _ANCHORS,
    ExactDedup,
    NearDedup,
    _BoundedUnionFind,
    _ConnectedComponents,
    _link_to_anchors,
)
from electra_data.pipelines.duplicates_report import ChosenClusters, DuplicatesReport
from electra_data.pipelines.metrics import REJECTED
from electra_data.pipelines.select import SelectDocuments
from corpus_text import book_paragraphs
from spilled import dedup, dedup_drops, write_units

NEAR = dict(threshold=0.8, num_perm=128, seed=1, ngram=5)
# What NearDedup takes of them (the seed only matters to the signatures in the runs).
NEAR_ARGS = {k: NEAR[k] for k in ("threshold", "num_perm", "ngram")}
# (shuffle seed, documents per unit, partitions): 1 per unit, a few, all in one unit.
SPLITS = [(0, 1, 1), (1, 2, 3), (2, 3, 2), (3, 100, 1)]


def _pipeline():
    return BeamTestPipeline(runner=FnApiRunner())


def _doc(key, text):
    return Document(key, "books", key, text)


def _work(tmp_path) -> Path:
    """A fresh work directory for one run (a test may run dedup several times)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


def _dedup(tmp_path, docs, **options):
    """(kept documents, rejected duplicates) of ``spilled.dedup`` in a fresh work directory."""
    return dedup(_work(tmp_path), docs, **options)


def _drops(tmp_path, docs, *, exact=True, near=None, verify=True, rounds=4, per_unit=2, partitions=2) -> dict:
    """The drops of dedup over ``docs``, by input index: {i: (reason, detail)} (the location
    (unit, row) of ``docs[i]`` is the ``i % per_unit``-th row of the ``i // per_unit``-th unit)."""
    units, drops = dedup_drops(
        _work(tmp_path), docs, exact=exact, near=near, verify=verify, rounds=rounds, per_unit=per_unit,
        partitions=partitions,
    )  # fmt: skip
    found = {}
    for (unit, row), drop in drops:
        i = units.index(unit) * per_unit + row
        assert i not in found, f"two drops for document {i}"
        found[i] = drop
    return found


@pytest.fixture(scope="module")
def passages():
    """Six unrelated real passages of ~400 words from The Time Machine."""
    paragraphs = book_paragraphs("35-0.txt", start=10, count=200)
    passages, current = [], []
    for p in paragraphs:
        current.append(p)
        if sum(len(c.split()) for c in current) > 400:
            passages.append("\n\n".join(current))
            current = []
    return passages[:6]


def _keys(docs):
    return sorted(d.key for d in docs)


def _edit(text, keep=0.9):
    """Cut off the end of a text: a realistic near duplicate (shingle Jaccard ~ ``keep``)."""
    words = text.split()
    return " ".join(words[: int(len(words) * keep)])


def _shuffled(docs, seed):
    return random.Random(seed).sample(docs, len(docs))


def _reject_rows(rejected):
    """Rejects as sortable rows (the detail as sorted JSON)."""
    return sorted((*r[:5], json.dumps(r.detail, sort_keys=True)) for r in rejected)


@pytest.mark.parametrize("seed, per_unit, partitions", SPLITS)
def test_exact_dedup_keeps_smallest_key_whatever_the_order_and_split(passages, tmp_path, seed, per_unit, partitions):
    copy = passages[0].upper().replace("\n\n", "\n\n\n")  # same text once normalised
    docs = [_doc("b:2", passages[0]), _doc("b:1", copy), _doc("b:3", passages[1]), _doc("b:0", passages[0])]
    docs += [_doc("s:1", "Too short!"), _doc("s:0", "too  SHORT"), _doc("s:2", "Short, but other.")]
    kept, rejected = _dedup(tmp_path, _shuffled(docs, seed), per_unit=per_unit, partitions=partitions)
    assert _keys(kept) == ["b:0", "b:3", "s:0", "s:2"]
    assert sorted((r.key, r.reason, r.detail) for r in rejected) == [
        ("b:1", "exact_duplicate", {"duplicate_of": "b:0"}),
        ("b:2", "exact_duplicate", {"duplicate_of": "b:0"}),
        ("s:1", "exact_duplicate", {"duplicate_of": "s:0"}),
    ]
    # a reject carries its document's excerpt, for the reports
    assert {r.key: r.excerpt for r in rejected}["b:1"] == copy[:300]


def test_near_dedup_finds_edited_copies_and_keeps_unrelated_and_short(passages, tmp_path):
    docs = [_doc(f"b:{i}", t) for i, t in enumerate(passages)]
    docs += [_doc("c:0", _edit(passages[0])), _doc("c:1", _edit(passages[1]))]
    docs += [_doc("s:0", "Too short."), _doc("s:1", "Too short.")]  # no signature: never near duplicates
    kept, rejected = _dedup(tmp_path, docs, exact=False, near=NEAR)
    assert _keys(kept) == [f"b:{i}" for i in range(6)] + ["s:0", "s:1"]
    assert sorted((r.key, r.reason, r.detail["duplicate_of"]) for r in rejected) == [
        ("c:0", "near_duplicate", "b:0"),
        ("c:1", "near_duplicate", "b:1"),
    ]
    assert all(0.8 <= r.detail["jaccard"] <= 1.0 for r in rejected)


def _chain(passages):
    # Windows shifted by 8% of their length: a~b and b~c (Jaccard ~0.85), a and c apart (~0.72).
    words = " ".join(passages[2:5]).split()
    n, shift = 800, 64
    return [" ".join(words[i * shift : i * shift + n]) for i in range(3)]


@pytest.mark.parametrize("rounds", [1, 4])
def test_near_dedup_resolves_a_chain_into_one_component(passages, tmp_path, rounds):
    a, b, c = _chain(passages)
    docs = [_doc("k:a", a), _doc("k:b", b), _doc("k:c", c), _doc("k:z", passages[5])]
    kept, rejected = _dedup(tmp_path, docs, near=NEAR, rounds=rounds, per_unit=1)
    assert _keys(kept) == ["k:a", "k:z"]
    details = {r.key: r.detail for r in rejected}
    assert set(details) == {"k:b", "k:c"}
    assert details["k:b"]["duplicate_of"] == "k:a" and details["k:b"]["jaccard"] >= 0.8
    # c only matched b: its similarity to the kept a is unknown, and the report says via whom
    assert details["k:c"] == {"duplicate_of": "k:a", "jaccard": None, "via": ["k:b", pytest.approx(0.85, abs=0.08)]}


@pytest.mark.parametrize("exact", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_near_dedup_is_deterministic_under_shuffling_and_splitting(passages, tmp_path, exact):
    docs = [_doc(f"b:{i}", t) for i, t in enumerate(passages)] + [_doc("a:9", _edit(passages[4]))]
    docs += [_doc(f"k:{x}", t) for x, t in zip("abc", _chain(passages))]
    results = []
    for seed, per_unit, partitions in SPLITS:
        kept, rejected = _dedup(tmp_path, _shuffled(docs, seed), exact=exact, near=NEAR, per_unit=per_unit,
                                partitions=partitions)  # fmt: skip
        # a:9 has the smallest key, so it is the one kept and b:4 is dropped
        assert _keys(kept) == ["a:9"] + [f"b:{i}" for i in range(6) if i != 4] + ["k:a"]
        results.append(_reject_rows(rejected))
    assert all(r == results[0] for r in results)  # details (similarities, via) included


def _sig(values):
    return np.array(values, dtype=np.uint32)


def _members(named_sigs):
    """(id, location, signature) of a bucket's members, in id order as the runs hold them."""
    return [((f"k:{name}", "h"), ("unit", i), sig) for i, (name, sig) in enumerate(named_sigs)]


def _id(name):
    return f"k:{name}", "h"


def test_link_to_anchors_links_sure_pairs_and_keeps_borderline_ones_for_checking():
    base = list(range(10))
    members = _members([
        ("a", _sig(base)),
        ("b", _sig(base[:7] + [0, 0, 0])),  # 0.7 to a: below the band
        ("c", _sig(base[:9] + [0])),  # 0.9 to a: above it
        ("d", _sig(base[:8] + [0, 0])),  # 0.8 to a: borderline, so b is tried too (0.9)
    ])  # fmt: skip
    a, b, c, d = (("unit", i) for i in range(4))
    assert list(_link_to_anchors(members, 0.8, 0.05)) == [
        ((_id("c"), _id("a")), 0.9, c, a), ((_id("d"), _id("a")), 0.8, d, a), ((_id("d"), _id("b")), 0.9, d, b),
    ]  # fmt: skip
    unchecked = list(_link_to_anchors(members, 0.8, None))
    assert unchecked == [
        ((_id("b"), _id("a")), 0.7, b, a), ((_id("c"), _id("a")), 0.9, c, a), ((_id("d"), _id("a")), 0.8, d, a),
    ]  # fmt: skip
    assert list(_link_to_anchors(members[:1], 0.8, 0.05)) == []
    assert list(_link_to_anchors([], 0.8, 0.05)) == []


def test_link_to_anchors_compares_with_the_first_anchors_only_and_never_links_copies_of_one_id():
    # Five members 0.6 apart from one another, each 0.8 (borderline) to a sixth: only the first
    # _ANCHORS are anchors, so the sixth is a candidate of those four, not of the fifth.
    base = list(range(10))
    others = [_sig([100 + j if j in (2 * i, 2 * i + 1) else v for j, v in enumerate(base)]) for i in range(5)]
    members = _members([(name, sig) for name, sig in zip("abcde", others)] + [("f", _sig(base))])
    assert _ANCHORS == 4
    assert list(_link_to_anchors(members, 0.8, 0.05)) == [
        ((_id("f"), _id(x)), 0.8, ("unit", 5), ("unit", i)) for i, x in enumerate("abcd")
    ]
    # A copy of one id at another location is no candidate of its twin (the identity bucket or
    # exact dedup handles copies), but each copy is linked with its own location.
    twins = [(_id("a"), ("u0", 0), _sig(base)), (_id("b"), ("u0", 1), _sig(base)), (_id("b"), ("u1", 0), _sig(base))]
    assert list(_link_to_anchors(twins, 0.8, 0.05)) == [
        ((_id("b"), _id("a")), 1.0, ("u0", 1), ("u0", 0)), ((_id("b"), _id("a")), 1.0, ("u1", 0), ("u0", 0)),
    ]  # fmt: skip


@pytest.mark.parametrize("per_unit", [1, 4])
def test_near_dedup_settles_borderline_estimates_by_exact_jaccard(passages, tmp_path, per_unit):
    """Truncations at true Jaccard 0.809 and 0.768, whose estimates fall on the wrong sides."""
    pairs = {"a": (passages[0] + passages[1], 0.81), "b": (passages[3] + passages[4], 0.77)}
    docs, exact, estimate = [], {}, {}
    for name, (text, keep) in pairs.items():
        edited = _edit(text, keep)
        docs += [_doc(f"{name}:0", text), _doc(f"{name}:1", edited)]
        exact[name] = exact_jaccard(shingle_set(text, 5), shingle_set(edited, 5))
        signatures = [minhash_signature(t, num_perm=128, seed=1, ngram=5) for t in (text, edited)]
        estimate[name] = estimated_jaccard(*signatures)
    assert exact["a"] >= 0.8 > exact["b"]
    # the premise: estimates alone would get both wrong, and both are inside the checked band
    assert estimate["a"] < 0.8 <= estimate["b"]
    assert all(abs(e - 0.8) < verify_margin(0.8, 128) for e in estimate.values())
    # documents read back for checking: from one unit each (per_unit=1), or both from one
    kept, rejected = _dedup(tmp_path, docs, near=NEAR, per_unit=per_unit)
    assert _keys(kept) == ["a:0", "b:0", "b:1"]
    assert [(r.key, r.detail) for r in rejected] == [("a:1", {"duplicate_of": "a:0", "jaccard": round(exact["a"], 3)})]


@pytest.mark.parametrize("rounds", [1, 3])
def test_components_of_a_long_chain_settle_after_few_rounds(rounds):
    # A path of 60 nodes in scrambled key order needs ~6 star rounds; fewer leave the rest to
    # the bounded union-find, and the result is the same.
    nodes = [f"n{i:03d}" for i in random.Random(5).sample(range(100), 60)]
    edges = [tuple(sorted(pair, reverse=True)) for pair in zip(nodes, nodes[1:])]
    edges += [("x9", "x1"), ("x5", "x1")]  # and a separate star
    expected = [(n, min(nodes)) for n in nodes if n != min(nodes)] + [("x9", "x1"), ("x5", "x1")]
    with _pipeline() as p:
        labels = p | beam.Create(edges) | _ConnectedComponents(rounds)
        assert_that(labels, equal_to(expected))


def test_components_fail_loudly_when_far_from_converged(monkeypatch):
    monkeypatch.setattr(dedup_module, "_MAX_RESIDUAL_EDGES", 5)
    nodes = [f"n{i:03d}" for i in random.Random(5).sample(range(100), 60)]
    edges = [tuple(sorted(pair, reverse=True)) for pair in zip(nodes, nodes[1:])]
    with pytest.raises(Exception, match=r"did not converge in 1 star rounds.*NearDedup\(rounds"):
        with _pipeline() as p:
            _ = p | beam.Create(edges) | _ConnectedComponents(1)


def test_near_dedup_rejects_bad_rounds():
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        NearDedup("unused", 1, **NEAR_ARGS, rounds=0)


def _duplicates_report(tmp_path, docs, *, per_unit=2, partitions=2, **report) -> list[dict]:
    """The duplicates report of exact + near dedup over ``docs``, wired as the build wires it."""
    work = _work(tmp_path)
    units = write_units(work, docs, per_unit=per_unit, partitions=partitions, exact=True, near=NEAR)
    w, path = str(work), work / "duplicates.jsonl"
    with beam.Pipeline(runner=FnApiRunner()) as p:
        names = p | "Units" >> beam.Create(units)
        exact = names | ExactDedup(w, partitions)
        near = (names, exact) | NearDedup(w, partitions, **NEAR_ARGS)
        drops = (exact, near) | "AllDrops" >> beam.Flatten()
        selected = names | SelectDocuments(w, drops, drops | ChosenClusters(), seed=0)
        _ = (selected.picked, selected[REJECTED]) | DuplicatesReport(str(path), **report)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_duplicates_report_samples_clusters_with_excerpts(passages, tmp_path):
    a, b, c = _chain(passages)
    docs = [_doc("k:a", a), _doc("k:b", b), _doc("k:c", c), _doc("k:z", passages[5]), _doc("k:y", passages[5].upper())]
    reports = [
        _duplicates_report(tmp_path, _shuffled(docs, seed), per_unit=per_unit, partitions=partitions, members=1)
        for seed, per_unit, partitions in SPLITS[:2]
    ]
    assert reports[0] == reports[1]
    clusters = reports[0]
    assert [c["kept"]["key"] for c in clusters] == ["k:a", "k:y"]
    near_cluster, exact_cluster = clusters
    assert near_cluster["kept"] == {"key": "k:a", "title": "k:a", "excerpt": a[:200]}
    assert near_cluster["removed_count"] == 2
    assert [(r["key"], r["reason"]) for r in near_cluster["removed"]] == [("k:b", "near_duplicate")]
    assert near_cluster["removed"][0]["jaccard"] >= 0.8 and near_cluster["removed"][0]["excerpt"] == b[:200]
    assert exact_cluster["kept"] == {"key": "k:y", "title": "k:y", "excerpt": passages[5].upper()[:200]}
    assert exact_cluster["removed"] == [
        {"key": "k:z", "title": "k:z", "reason": "exact_duplicate", "jaccard": 1.0, "excerpt": passages[5][:200]}
    ]


def _rejects(rejected):
    return sorted((r.key, r.excerpt[:20], r.reason, r.detail["duplicate_of"]) for r in rejected)


def test_exact_dedup_with_colliding_keys_loses_no_text_whatever_the_order(passages, tmp_path):
    # Two dumps of one wiki: page ids collide. Before documents were told apart by content too,
    # w:2's other text went with its duplicate, and the copy kept among equal keys was the runner's.
    a, b, c = passages[:3]
    docs = [_doc("w:1", a), _doc("w:2", a.upper()), _doc("w:2", b)]
    docs += [_doc("w:3", c), _doc("w:3", c.replace("\n\n", "\n\n\n"))]
    docs.append(_doc("w:2", b))  # the same document read twice
    kept_c, dropped_c = sorted(docs[3:5], key=document_id)  # one normalised text, one key
    for seed, per_unit, partitions in SPLITS:
        kept, rejected = _dedup(tmp_path, _shuffled(docs, seed), per_unit=per_unit, partitions=partitions)
        assert sorted(d.text for d in kept) == sorted([a, b, kept_c.text])
        assert _rejects(rejected) == sorted([
            ("w:2", a.upper()[:20], "exact_duplicate", "w:1"),
            ("w:2", b[:20], "exact_duplicate", "w:2"),
            ("w:3", dropped_c.text[:20], "exact_duplicate", "w:3"),
        ])  # fmt: skip


def test_near_dedup_with_colliding_keys_keeps_the_smallest_id_and_loses_no_text(passages, tmp_path):
    # k:5 holds an unrelated text and one near k:1's; k:7 holds a text and its edited copy.
    docs = [_doc("k:5", passages[0]), _doc("k:5", _edit(passages[1])), _doc("k:1", passages[1])]
    pair = [_doc("k:7", passages[2]), _doc("k:7", _edit(passages[2]))]
    docs += pair + [_doc("k:9", passages[3]), _doc("k:9", passages[3])]  # and a document read twice
    kept_pair, dropped_pair = sorted(pair, key=document_id)
    for seed, per_unit, partitions in SPLITS[:3]:
        kept, rejected = _dedup(tmp_path, _shuffled(docs, seed), exact=False, near=NEAR, per_unit=per_unit,
                                partitions=partitions)  # fmt: skip
        assert sorted(d.text for d in kept) == sorted([passages[0], passages[1], kept_pair.text, passages[3]])
        assert _rejects(rejected) == sorted([
            ("k:5", passages[1][:20], "near_duplicate", "k:1"),
            ("k:7", dropped_pair.text[:20], "near_duplicate", "k:7"),
            ("k:9", passages[3][:20], "near_duplicate", "k:9"),
        ])  # fmt: skip


@pytest.mark.parametrize("exact", [True, False])
def test_copies_of_one_document_in_different_units_keep_the_first_by_id_then_location(passages, tmp_path, exact):
    # k:5 read three times (one id) and an exact copy of it under the smaller key k:1, read last;
    # k:7 read twice. The copy of smallest id is kept wherever it lies; among copies of one id,
    # the first location (units in name order, then rows).
    k5, k7 = _doc("k:5", passages[0]), _doc("k:7", passages[1])
    docs = [k5, k7, k5, k7, k5, _doc("k:1", passages[0].upper())]
    if exact:
        expected = {i: ("exact_duplicate", {"duplicate_of": "k:1"}) for i in (0, 2, 4)}
        expected[3] = ("exact_duplicate", {"duplicate_of": "k:7"})
    else:  # near dedup alone: identical texts are near duplicates (Jaccard 1); copies of one id
        # meet in the bucket of their id
        expected = {i: ("near_duplicate", {"duplicate_of": "k:1", "jaccard": 1.0}) for i in (0, 2, 4)}
        expected[3] = ("near_duplicate", {"duplicate_of": "k:7", "jaccard": 1.0})
    for per_unit, partitions in [(1, 1), (1, 3), (2, 2), (4, 1)]:
        near = NEAR if not exact else None
        assert _drops(tmp_path, docs, exact=exact, near=near, per_unit=per_unit, partitions=partitions) == expected


def test_near_dedup_alone_drops_copies_of_one_document_through_its_identity_bucket(passages, tmp_path):
    # Without exact dedup, copies of one document (one id) meet in the bucket of their id, even
    # those too short for a signature; a copy of a document that a cluster drops goes as that
    # cluster's member, with its similarity, not as a copy.
    docs = [
        _doc("s:1", "Too short."), _doc("s:2", "Too short."), _doc("s:1", "Too short."),  # 0-2
        _doc("k:1", passages[0]), _doc("k:2", _edit(passages[0])), _doc("k:1", passages[0]),  # 3-5
        _doc("k:3", _edit(passages[1])), _doc("k:0", passages[1]), _doc("k:3", _edit(passages[1])),  # 6-8
        _doc("k:4", passages[2]),  # 9
    ]  # fmt: skip
    for seed, per_unit, partitions in SPLITS[:3]:
        order = _shuffled(list(range(len(docs))), seed)
        drops = _drops(tmp_path, [docs[i] for i in order], exact=False, near=NEAR, per_unit=per_unit,
                       partitions=partitions)  # fmt: skip
        drops = {order[i]: drop for i, drop in drops.items()}  # by index in ``docs``
        # the second copy of s:1 and of k:1 by location (the first keeps its place)
        _, second_s1 = sorted((0, 2), key=order.index)
        _, second_k1 = sorted((3, 5), key=order.index)
        assert set(drops) == {second_s1, second_k1, 4, 6, 8}
        assert drops[second_s1] == ("near_duplicate", {"duplicate_of": "s:1", "jaccard": 1.0})
        assert drops[second_k1] == ("near_duplicate", {"duplicate_of": "k:1", "jaccard": 1.0})
        assert drops[4][0] == "near_duplicate" and drops[4][1]["duplicate_of"] == "k:1"
        assert 0.8 <= drops[4][1]["jaccard"] < 1.0
        assert drops[6] == drops[8] and drops[6][1]["duplicate_of"] == "k:0" and 0.8 <= drops[6][1]["jaccard"] < 1.0


@pytest.mark.parametrize("exact", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_partitions_and_units_change_no_drop(passages, tmp_path, exact):
    # A mix of every case: unrelated, edited copies, a chain, exact copies under other keys,
    # colliding keys, documents read twice, short ones. Drops (reasons and details) are compared
    # by document, so that splits into units compare too.
    a, b, c = _chain(passages)
    docs = [_doc(f"b:{i}", t) for i, t in enumerate(passages)]
    docs += [_doc("e:0", _edit(passages[0])), _doc("e:1", passages[1].upper()), _doc("b:3", _edit(passages[3], 0.85))]
    docs += [_doc("k:a", a), _doc("k:b", b), _doc("k:c", c), _doc("b:5", passages[5]), _doc("k:b", b)]
    docs += [_doc("s:0", "Too short."), _doc("s:1", "too short"), _doc("s:0", "Too short.")]
    docs = _shuffled(docs, 7)
    reference = _drops(tmp_path, docs, exact=exact, near=NEAR, per_unit=3, partitions=1)
    # exact copies: e:1 (b:1 re-cased), the second b:5, k:b and s:0, and s:1 (one normalised text
    # with s:0); near: e:0, the edited b:3, k:b and k:c. Without exact dedup, the copies are near
    # duplicates (k:b's both, with its cluster) but for s:1: short texts of other ids never meet.
    reasons = Counter(reason for reason, _ in reference.values())
    assert reasons == ({"exact_duplicate": 5, "near_duplicate": 4} if exact else {"near_duplicate": 8})
    for per_unit, partitions in [(3, 2), (3, 5), (1, 4), (100, 3)]:
        assert _drops(tmp_path, docs, exact=exact, near=NEAR, per_unit=per_unit, partitions=partitions) == reference


def test_residual_union_find_is_the_same_however_edges_are_split_and_merged():
    ids = [(f"w:{i % 7}", f"{i:032x}") for i in range(40)]  # keys collide, ids do not
    rng = random.Random(3)
    edges = [tuple(sorted(rng.sample(ids, 2), reverse=True)) for _ in range(30)]
    fn = _BoundedUnionFind(rounds=1)
    results = []
    for seed in range(5):
        shuffled = random.Random(seed).sample(edges, len(edges))
        accumulators = []
        for part in range(seed + 1):
            acc = fn.create_accumulator()
            for edge in shuffled[part :: seed + 1]:
                acc = fn.add_input(acc, edge)
            accumulators.append(acc)
        results.append(fn.extract_output(fn.merge_accumulators(accumulators[::-1])))
    assert all(r == results[0] for r in results)
    assert results[0] == {n: r for n, r in union_find_min(edges).items() if n != r}
