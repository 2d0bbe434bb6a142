import random

import numpy as np
import pytest
from datasketch import MinHash

from electra_data.dedup import (
    MINHASH_SCHEME,
    band_keys,
    catch_probability,
    document_id,
    estimated_jaccard,
    exact_jaccard,
    exact_key,
    large_star,
    lsh_params,
    minhash_signature,
    normalize_for_dedup,
    normalized_words,
    shingle_hash,
    shingle_hashes,
    shingle_set,
    shingles,
    small_star,
    union_find_min,
    verify_margin,
)
from electra_data.documents import Document
from corpus_text import book_paragraphs

ARGS = dict(num_perm=128, seed=7, ngram=5)


@pytest.fixture(scope="module")
def passage():
    return " ".join(book_paragraphs("35-0.txt", start=20, count=12))


def test_exact_key_folds_case_punctuation_and_whitespace(passage):
    reformatted = passage.upper().replace(" ", "\n  ").replace(",", " ,")
    assert exact_key(reformatted) == exact_key(passage)
    assert exact_key(passage + " more") != exact_key(passage)


def test_shingles_need_n_words():
    assert shingles("only four words here", 5) == set()
    assert shingles("one two three four five six", 5) == {b"one two three four five", b"two three four five six"}


def test_short_documents_get_no_signature():
    assert minhash_signature("Too short to shingle.", **ARGS) is None


def test_estimated_jaccard_tracks_true_jaccard(passage):
    words = passage.split()
    edited = " ".join(words[: int(len(words) * 0.9)])  # truncation keeps ~90% of the shingles
    a, b = shingles(passage, 5), shingles(edited, 5)
    true = len(a & b) / len(a | b)
    estimate = estimated_jaccard(minhash_signature(passage, **ARGS), minhash_signature(edited, **ARGS))
    assert abs(estimate - true) < 0.12


def test_exact_jaccard_of_shingle_sets_equals_jaccard_of_shingles(passage):
    edited = " ".join(passage.split()[40:])
    a, b = shingles(passage, 5), shingles(edited, 5)
    assert exact_jaccard(shingle_set(passage, 5), shingle_set(edited, 5)) == pytest.approx(len(a & b) / len(a | b))
    assert len(shingle_set(passage, 5)) == len(a)  # distinct shingles, no 32-bit collisions here
    assert exact_jaccard(shingle_set("too short", 5), shingle_set("also short", 5)) == 1.0


def test_verify_margin_is_three_deviations_of_the_estimate():
    assert verify_margin(0.8, 128) == pytest.approx(0.106, abs=5e-4)
    assert verify_margin(0.8, 256) < verify_margin(0.8, 128)


def test_signature_is_deterministic_across_calls(passage):
    assert np.array_equal(minhash_signature(passage, **ARGS), minhash_signature(passage, **ARGS))


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_lsh_params_reach_recall_at_threshold(threshold):
    bands, rows = lsh_params(threshold, 128)
    assert bands * rows <= 128
    assert catch_probability(threshold, bands, rows) >= 0.9
    # and they beat datasketch's default banding for 0.8 (9 x 13, ~0.4 recall at the threshold)
    assert catch_probability(0.8, 9, 13) < 0.5


def test_lsh_params_at_08_is_16_by_8_with_few_false_candidates():
    assert lsh_params(0.8, 128) == (16, 8)
    assert catch_probability(0.5, 16, 8) < 0.1


def test_lsh_params_errors():
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        lsh_params(1.5, 128)
    with pytest.raises(ValueError, match="more permutations"):
        lsh_params(0.8, 1)


def test_band_keys_differ_by_band_and_match_for_equal_signatures(passage):
    sig = minhash_signature(passage, **ARGS)
    keys = band_keys(sig, 16, 8)
    assert len(set(keys)) == 16 and all(len(k) == 10 for k in keys)
    assert keys == band_keys(sig.copy(), 16, 8)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello,  WORLD!\nfoo_bar", "hello world foo bar"),
        ("“Quoted” — and…  ﬁne", "quoted and fine"),  # Unicode punctuation folds, NFKC unties ligatures
        ("Straße Café ＦＵＬＬ", "strasse café full"),  # case folding, accents kept, full width folded
        ("日本語のテキスト、です。", "日本語のテキスト です"),
        ("", ""),
    ],
)
def test_normalize_for_dedup(text, expected):
    assert normalize_for_dedup(text) == expected


def test_normalized_words_match_the_regex_definition(passage):
    import re
    import unicodedata

    text = passage + " «Über» naïve — x² ½ e\u0301 İ \u00a0 tab\tend"
    reference = re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).split()
    assert normalized_words(text) == [w.encode() for w in reference]


@pytest.mark.parametrize("repeat", [1, 12])  # 12: over 4096 shingles, so several chunks
def test_signature_is_datasketch_minhash_with_our_shingle_hash(passage, repeat):
    text = " ".join(f"{passage} part{i}" for i in range(repeat))
    reference = MinHash(num_perm=128, seed=7, scheme=MINHASH_SCHEME, hashfunc=shingle_hash)
    reference.update_batch(shingles(text, 5))
    assert np.array_equal(minhash_signature(text, **ARGS), reference.hashvalues)


def test_shingle_hashes_match_the_scalar_hash(passage):
    words = normalized_words(passage)
    assert shingle_hashes(words, 5).tolist() == [shingle_hash(b" ".join(words[i : i + 5])) for i in range(len(words) - 4)]
    assert shingle_hashes(words[:4], 5).size == 0


def test_large_star_links_larger_neighbours_to_the_minimum():
    assert sorted(large_star("c", ["e", "a", "d", "b"])) == [("d", "a"), ("e", "a")]
    assert list(large_star("a", [])) == []


def test_small_star_links_node_and_smaller_neighbours_to_the_minimum():
    assert sorted(small_star("e", ["c", "a", "b"])) == [("b", "a"), ("c", "a"), ("e", "a")]


def _star_rounds(edges, rounds):
    """Run the rounds as the Beam transform does, with dicts for GroupByKey."""
    for _ in range(rounds):
        groups = {}
        for u, v in edges:
            groups.setdefault(u, []).append(v)
            groups.setdefault(v, []).append(u)
        edges = [e for node, ns in groups.items() for e in large_star(node, ns)]
        groups = {}
        for u, v in edges:
            groups.setdefault(u, []).append(v)
        edges = [e for node, ns in groups.items() for e in small_star(node, ns)]
    return edges


def test_star_rounds_turn_a_scrambled_path_into_one_star():
    nodes = [f"n{i:04d}" for i in random.Random(0).sample(range(10_000), 300)]
    path = [tuple(sorted(p, reverse=True)) for p in zip(nodes, nodes[1:])]
    edges = _star_rounds(path, 8)
    assert len(edges) <= len(path)  # rounds never grow the edge set
    assert set(edges) == {(n, min(nodes)) for n in nodes if n != min(nodes)}


def test_union_find_min_labels_components_by_their_smallest_node():
    labels = union_find_min([("d", "c"), ("c", "b"), ("z", "y"), ("b", "e")])
    assert labels == {"b": "b", "c": "b", "d": "b", "e": "b", "y": "y", "z": "y"}


def test_document_id_orders_by_key_then_tells_apart_every_field():
    doc = Document("wiki:12", "wiki", "Title", "Some text.")
    assert document_id(doc) == document_id(Document(*doc))  # copies of one document share it
    assert document_id(doc) < document_id(doc._replace(key="wiki:13", text="A"))  # the key first
    # documents that share a key (two dumps) differ in it by any field, parts' boundaries included
    variants = [doc._replace(text="Other text."), doc._replace(title="Title2"), doc._replace(source="books"),
                doc._replace(title="TitleS", text="ome text.")]
    assert len({document_id(d) for d in [doc, *variants]}) == 5
