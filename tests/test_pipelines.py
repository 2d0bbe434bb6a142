"""The Beam transforms of the build, each on real text with TestPipeline on the local runner."""

import random

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from electra_data.documents import Document
from electra_data.pipelines.dedup import ExactDedup, NearDedup
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


def test_exact_dedup_keeps_smallest_key_whatever_the_order(passages):
    copy = passages[0].upper().replace("\n\n", "\n\n\n")  # same text once normalised
    docs = [_doc("b:2", passages[0]), _doc("b:1", copy), _doc("b:3", passages[1]), _doc("b:0", passages[0])]
    random.Random(3).shuffle(docs)
    with _pipeline() as p:
        kept, rejected = p | beam.Create(docs) | ExactDedup()
        assert_that(_keys(kept, "K"), equal_to(["b:0", "b:3"]), label="kept")
        assert_that(
            rejected | beam.Map(lambda r: (r.key, r.reason, r.detail["duplicate_of"])),
            equal_to([("b:1", "exact_duplicate", "b:0"), ("b:2", "exact_duplicate", "b:0")]),
            label="rejected",
        )


def _edit(text, keep=0.9):
    """Cut off the end of a text: a realistic near duplicate (shingle Jaccard ~ ``keep``)."""
    words = text.split()
    return " ".join(words[: int(len(words) * keep)])


def test_near_dedup_finds_edited_copies_and_keeps_unrelated(passages):
    docs = [_doc(f"b:{i}", t) for i, t in enumerate(passages)]
    docs += [_doc("c:0", _edit(passages[0])), _doc("c:1", _edit(passages[1])), _doc("s:0", "Too short.")]
    with _pipeline() as p:
        kept, rejected = p | beam.Create(docs) | NearDedup(**NEAR)
        assert_that(_keys(kept, "K"), equal_to([f"b:{i}" for i in range(6)] + ["s:0"]), label="kept")
        assert_that(
            rejected | beam.Map(lambda r: (r.key, r.detail["duplicate_of"])),
            equal_to([("c:0", "b:0"), ("c:1", "b:1")]),
            label="rejected",
        )


def test_near_dedup_chain_keeps_only_the_head(passages):
    # Windows shifted by 8% of their length: a~b and b~c (Jaccard ~0.85), a and c apart (~0.72).
    words = " ".join(passages[2:5]).split()
    n, shift = 800, 64
    a, b, c = (" ".join(words[i * shift : i * shift + n]) for i in range(3))
    docs = [_doc("k:a", a), _doc("k:b", b), _doc("k:c", c), _doc("k:z", passages[3])]
    with _pipeline() as p:
        kept, _ = p | beam.Create(docs) | NearDedup(**NEAR)
        assert_that(_keys(kept, "K"), equal_to(["k:a", "k:z"]))


def test_near_dedup_is_deterministic_under_shuffling(passages):
    docs = [_doc(f"b:{i}", t) for i, t in enumerate(passages)] + [_doc("a:9", _edit(passages[4]))]
    for seed in (0, 1):
        random.Random(seed).shuffle(docs)
        with _pipeline() as p:
            kept, _ = p | beam.Create(docs) | NearDedup(**NEAR)
            # a:9 has the smallest key, so it is the one kept and b:4 is dropped
            assert_that(_keys(kept, "K"), equal_to(["a:9"] + [f"b:{i}" for i in range(6) if i != 4]))
