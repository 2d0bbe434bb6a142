import numpy as np
import pytest

from electra_data.dedup import (
    band_keys,
    catch_probability,
    estimated_jaccard,
    exact_key,
    lsh_params,
    minhash_signature,
    shingles,
)
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
    assert len(set(keys)) == 16
    assert keys == band_keys(sig.copy(), 16, 8)
