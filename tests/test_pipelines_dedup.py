"""The dedup transforms on real text, with TestPipeline on the local runner (FnApiRunner)."""

import json
import random

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
    ExactDedup,
    NearDedup,
    _BoundedUnionFind,
    _ConnectedComponents,
    _link_to_anchors,
)
from electra_data.pipelines.duplicates_report import DuplicatesReport
from corpus_text import book_paragraphs

NEAR = dict(threshold=0.8, num_perm=128, seed=1, ngram=5)


def _pipeline():
    return BeamTestPipeline(runner=FnApiRunner())


def _doc(key, text):
    return Document(key, "books", key, text)


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


def _keys(pcoll, label):
    return pcoll | label >> beam.Map(lambda d: d.key)


def _edit(text, keep=0.9):
    """Cut off the end of a text: a realistic near duplicate (shingle Jaccard ~ ``keep``)."""
    words = text.split()
    return " ".join(words[: int(len(words) * keep)])


def test_exact_dedup_keeps_smallest_key_whatever_the_order(passages):
    copy = passages[0].upper().replace("\n\n", "\n\n\n")  # same text once normalised
    docs = [_doc("b:2", passages[0]), _doc("b:1", copy), _doc("b:3", passages[1]), _doc("b:0", passages[0])]
    docs += [_doc("s:1", "Too short!"), _doc("s:0", "too  SHORT"), _doc("s:2", "Short, but other.")]
    random.Random(3).shuffle(docs)
    with _pipeline() as p:
        kept, rejected = p | beam.Create(docs) | ExactDedup()
        assert_that(_keys(kept, "K"), equal_to(["b:0", "b:3", "s:0", "s:2"]), label="kept")
        assert_that(
            rejected | beam.Map(lambda r: (r.key, r.reason, r.detail["duplicate_of"])),
            equal_to(
                [("b:1", "exact_duplicate", "b:0"), ("b:2", "exact_duplicate", "b:0"), ("s:1", "exact_duplicate", "s:0")]
            ),
            label="rejected",
        )


def test_near_dedup_finds_edited_copies_and_keeps_unrelated_and_short(passages):
    docs = [_doc(f"b:{i}", t) for i, t in enumerate(passages)]
    docs += [_doc("c:0", _edit(passages[0])), _doc("c:1", _edit(passages[1]))]
    docs += [_doc("s:0", "Too short."), _doc("s:1", "Too short.")]  # no signature: never near duplicates
    with _pipeline() as p:
        kept, rejected = p | beam.Create(docs) | NearDedup(**NEAR)
        assert_that(_keys(kept, "K"), equal_to([f"b:{i}" for i in range(6)] + ["s:0", "s:1"]), label="kept")

        def check(records):
            assert sorted((r.key, r.reason, r.detail["duplicate_of"]) for r in records) == [
                ("c:0", "near_duplicate", "b:0"),
                ("c:1", "near_duplicate", "b:1"),
            ]
            assert all(0.8 <= r.detail["jaccard"] <= 1.0 for r in records)

        assert_that(rejected, check, label="rejected")


def _chain(passages):
    # Windows shifted by 8% of their length: a~b and b~c (Jaccard ~0.85), a and c apart (~0.72).
    words = " ".join(passages[2:5]).split()
    n, shift = 800, 64
    return [" ".join(words[i * shift : i * shift + n]) for i in range(3)]


def test_near_dedup_resolves_a_chain_into_one_component(passages):
    a, b, c = _chain(passages)
    docs = [_doc("k:a", a), _doc("k:b", b), _doc("k:c", c), _doc("k:z", passages[5])]
    with _pipeline() as p:
        kept, rejected = p | beam.Create(docs) | NearDedup(**NEAR)
        assert_that(_keys(kept, "K"), equal_to(["k:a", "k:z"]), label="kept")

        def check(records):
            details = {r.key: r.detail for r in records}
            assert set(details) == {"k:b", "k:c"}
            assert details["k:b"]["duplicate_of"] == "k:a" and details["k:b"]["jaccard"] >= 0.8
            # c only matched b: its similarity to the kept a is unknown, and the report says via whom
            assert details["k:c"] == {"duplicate_of": "k:a", "jaccard": None, "via": ["k:b", pytest.approx(0.85, abs=0.08)]}

        assert_that(rejected, check, label="rejected")


def test_near_dedup_is_deterministic_under_shuffling(passages):
    docs = [_doc(f"b:{i}", t) for i, t in enumerate(passages)] + [_doc("a:9", _edit(passages[4]))]
    docs += [_doc(f"k:{x}", t) for x, t in zip("abc", _chain(passages))]
    for seed in (0, 1):
        random.Random(seed).shuffle(docs)
        with _pipeline() as p:
            kept, _ = p | beam.Create(docs) | NearDedup(**NEAR)
            # a:9 has the smallest key, so it is the one kept and b:4 is dropped
            assert_that(_keys(kept, "K"), equal_to(["a:9", "k:a"] + [f"b:{i}" for i in range(6) if i != 4]))


def _sig(values):
    return np.array(values, dtype=np.uint32).tobytes()


def test_link_to_anchors_links_sure_pairs_and_keeps_borderline_ones_for_checking():
    base = list(range(10))
    members = [
        ("a", _sig(base)),
        ("b", _sig(base[:7] + [0, 0, 0])),  # 0.7 to a: below the band
        ("c", _sig(base[:9] + [0])),  # 0.9 to a: above it
        ("d", _sig(base[:8] + [0, 0])),  # 0.8 to a: borderline, so b is tried too (0.9)
    ]
    assert list(_link_to_anchors((b"k", members), 0.8, 0.05)) == [
        (("c", "a"), 0.9), (("d", "a"), 0.8), (("d", "b"), 0.9),
    ]
    unchecked = list(_link_to_anchors((b"k", members), 0.8, None))
    assert unchecked == [(("b", "a"), 0.7), (("c", "a"), 0.9), (("d", "a"), 0.8)]
    assert list(_link_to_anchors((b"k", members[:1]), 0.8, 0.05)) == []


def test_near_dedup_settles_borderline_estimates_by_exact_jaccard(passages):
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
    with _pipeline() as p:
        kept, rejected = p | beam.Create(docs) | NearDedup(**NEAR)
        assert_that(_keys(kept, "K"), equal_to(["a:0", "b:0", "b:1"]), label="kept")
        assert_that(
            rejected | beam.Map(lambda r: (r.key, r.detail)),
            equal_to([("a:1", {"duplicate_of": "a:0", "jaccard": round(exact["a"], 3)})]),
            label="rejected",
        )


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
        NearDedup(**NEAR, rounds=0)


def test_duplicates_report_samples_clusters_with_excerpts(passages, tmp_path):
    a, b, c = _chain(passages)
    docs = [_doc("k:a", a), _doc("k:b", b), _doc("k:c", c), _doc("k:z", passages[5]), _doc("k:y", passages[5].upper())]
    path = tmp_path / "duplicates.jsonl"
    with _pipeline() as p:
        docs_in = p | beam.Create(docs)
        kept, exact = docs_in | ExactDedup()
        _, near = kept | NearDedup(**NEAR)
        _ = (docs_in, (exact, near) | beam.Flatten()) | DuplicatesReport(str(path), members=1)
    clusters = [json.loads(line) for line in path.read_text().splitlines()]
    assert [c["kept"]["key"] for c in clusters] == ["k:a", "k:y"]
    near_cluster, exact_cluster = clusters
    assert near_cluster["kept"]["excerpt"] == a[:200] and near_cluster["removed_count"] == 2
    assert [(r["key"], r["reason"]) for r in near_cluster["removed"]] == [("k:b", "near_duplicate")]
    assert near_cluster["removed"][0]["jaccard"] >= 0.8 and near_cluster["removed"][0]["excerpt"] == b[:200]
    assert exact_cluster["removed"] == [
        {"key": "k:z", "title": "k:z", "reason": "exact_duplicate", "jaccard": 1.0, "excerpt": passages[5][:200]}
    ]


def _rejects(pcoll, label):
    return pcoll | label >> beam.Map(lambda r: (r.key, r.excerpt[:20], r.reason, r.detail["duplicate_of"]))


def test_exact_dedup_with_colliding_keys_loses_no_text_whatever_the_order(passages):
    # Two dumps of one wiki: page ids collide. Before documents were told apart by content too,
    # w:2's other text went with its duplicate, and the copy kept among equal keys was the runner's.
    a, b, c = passages[:3]
    docs = [_doc("w:1", a), _doc("w:2", a.upper()), _doc("w:2", b)]
    docs += [_doc("w:3", c), _doc("w:3", c.replace("\n\n", "\n\n\n"))]
    docs.append(_doc("w:2", b))  # the same document read twice
    kept_c, dropped_c = sorted(docs[3:5], key=document_id)  # one normalised text, one key
    for seed in (0, 1, 2):
        random.Random(seed).shuffle(docs)
        with _pipeline() as p:
            kept, rejected = p | beam.Create(docs) | ExactDedup()
            assert_that(kept | beam.Map(lambda d: d.text), equal_to([a, b, kept_c.text]), label="kept")
            assert_that(_rejects(rejected, "R"), equal_to([
                ("w:2", a.upper()[:20], "exact_duplicate", "w:1"),
                ("w:2", b[:20], "exact_duplicate", "w:2"),
                ("w:3", dropped_c.text[:20], "exact_duplicate", "w:3"),
            ]), label="rejected")


def test_near_dedup_with_colliding_keys_keeps_the_smallest_id_and_loses_no_text(passages):
    # k:5 holds an unrelated text and one near k:1's; k:7 holds a text and its edited copy.
    docs = [_doc("k:5", passages[0]), _doc("k:5", _edit(passages[1])), _doc("k:1", passages[1])]
    pair = [_doc("k:7", passages[2]), _doc("k:7", _edit(passages[2]))]
    docs += pair + [_doc("k:9", passages[3]), _doc("k:9", passages[3])]  # and a document read twice
    kept_pair, dropped_pair = sorted(pair, key=document_id)
    for seed in (0, 1):
        random.Random(seed).shuffle(docs)
        with _pipeline() as p:
            kept, rejected = p | beam.Create(docs) | NearDedup(**NEAR)
            assert_that(kept | beam.Map(lambda d: d.text), equal_to(
                [passages[0], passages[1], kept_pair.text, passages[3]]), label="kept")
            assert_that(_rejects(rejected, "R"), equal_to([
                ("k:5", passages[1][:20], "near_duplicate", "k:1"),
                ("k:7", dropped_pair.text[:20], "near_duplicate", "k:7"),
                ("k:9", passages[3][:20], "near_duplicate", "k:9"),
            ]), label="rejected")


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
