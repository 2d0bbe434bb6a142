"""Tokenize + pack and shard writing as Beam transforms, on real text (local runner)."""

import random

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from electra_data.documents import Document
from electra_data.pipelines.tokenize import PackExamples, _SmallestWithinBudget
from electra_data.pipelines.write import WriteShards
from electra_data.shards import ids_dtype
from electra_data.sentences import split_paragraphs, split_sentences
from electra_data.vocab import train_wordpiece
from corpus_text import book_paragraphs


@pytest.fixture(scope="module")
def docs():
    paragraphs = book_paragraphs("219-0.txt", start=5, count=240)
    return [Document(f"b:{i}", "books", f"part {i}", "\n\n".join(paragraphs[i * 40 : (i + 1) * 40])) for i in range(6)]


@pytest.fixture(scope="module")
def tokenizer(docs):
    return train_wordpiece([d.text for d in docs], vocab_size=800, lowercase=True)


def _content_tokens(tokenizer, docs):
    sentences = [s for d in docs for p in split_paragraphs(d.text) for s in split_sentences(p)]
    return sum(len(e.ids) for e in tokenizer.encode_batch(sentences, add_special_tokens=False))


def test_pack_examples_splits_by_document_and_counts_every_token(docs, tokenizer):
    expected = _content_tokens(tokenizer, docs)
    with BeamTestPipeline(runner=FnApiRunner()) as p:
        tok = p | "Tok" >> beam.Create([tokenizer.to_str()])
        examples, stats = p | beam.Create(docs) | PackExamples(tok, max_seq_length=64, seed=5, validation_fraction=0.01)
        width = ids_dtype(tokenizer.get_vocab_size()).itemsize
        lengths = examples | beam.Map(lambda e: (e[0], len(e[1][1]) // width, e[1][2]))
        content = lengths | beam.Map(lambda e: (e[0], e[1] - (3 if e[2] < e[1] else 2)))
        # the smallest-hash document is held out, so both splits exist
        assert_that(content | beam.Map(lambda kv: kv[0]) | beam.Distinct(), equal_to(["train", "validation"]), label="splits")
        assert_that(content | beam.Values() | beam.CombineGlobally(sum), equal_to([expected]), label="tokens")
        sums = stats | beam.CombinePerKey(sum) | beam.Filter(lambda kv: kv[0] in ("tokens", "packed_tokens"))
        assert_that(sums, equal_to([("tokens", expected), ("packed_tokens", expected)]), label="stats")


@pytest.mark.parametrize("num_shards, expected", [(3, 3), (None, 1)])
def test_write_shards_names_every_shard_and_balances_them(docs, tokenizer, tmp_path, num_shards, expected):
    with BeamTestPipeline(runner=FnApiRunner()) as p:
        tok = p | "Tok" >> beam.Create([tokenizer.to_str()])
        examples, _ = p | beam.Create(docs) | PackExamples(tok, max_seq_length=64, seed=5, validation_fraction=0.0)
        infos = examples | WriteShards(str(tmp_path), tok, num_shards=num_shards, shard_size_mb=64)
        assert_that(infos | beam.Map(lambda i: i["path"]), equal_to(
            [f"train/shard-{i:05d}-of-{expected:05d}.arrow" for i in range(expected)] + ["validation/shard-00000-of-00001.arrow"]
        ))
    rows = [pa.ipc.open_stream(pa.memory_map(str(f))).read_all().num_rows for f in sorted((tmp_path / "train").iterdir())]
    assert min(rows) > 0.6 * max(rows)  # hash assignment: balanced in expectation
    assert pa.ipc.open_stream(pa.memory_map(str(tmp_path / "validation" / "shard-00000-of-00001.arrow"))).read_all().num_rows == 0


def test_shard_size_decides_the_count(docs, tokenizer, tmp_path):
    with BeamTestPipeline(runner=FnApiRunner()) as p:
        tok = p | "Tok" >> beam.Create([tokenizer.to_str()])
        examples, _ = p | beam.Create(docs) | PackExamples(tok, max_seq_length=64, seed=5, validation_fraction=0.0)
        infos = examples | WriteShards(str(tmp_path), tok, num_shards=None, shard_size_mb=0.01)  # ~10 KB shards
        train_shards = infos | beam.Filter(lambda i: i["split"] == "train") | beam.combiners.Count.Globally()

        def several(counts):
            assert counts[0] > 3, counts

        assert_that(train_shards, several)


def _combine(fn, elements, parts, rng):
    """Run a CombineFn as a runner may: inputs split into bundles in any order, then merged."""
    elements = list(elements)
    rng.shuffle(elements)
    accumulators = []
    for i in range(parts):
        acc = fn.create_accumulator()
        for element in elements[i::parts]:
            acc = fn.add_input(acc, element)
        accumulators.append(acc)
    rng.shuffle(accumulators)
    return fn.extract_output(fn.merge_accumulators(accumulators))


def test_vocab_sample_is_the_longest_hash_prefix_within_both_limits_whatever_the_order():
    texts = book_paragraphs("35-0.txt", start=10, count=300)
    elements = [(random.Random(i).getrandbits(64), t) for i, t in enumerate(texts)]
    by_hash = [t for _, t in sorted(elements)]
    sizes = [len(t.encode()) for t in by_hash]
    # A long text that just fails to fit: many shorter ones of larger hash would fit in its
    # place, and must not be taken (that would depend on the order the texts arrive in).
    k = next(i for i in range(10, len(sizes)) if sizes[i] > 3 * sorted(sizes)[len(sizes) // 2])
    budget = sum(sizes[: k + 1]) - 1
    for seed in range(10):
        for parts in (1, 3, 7):
            rng = random.Random(seed)
            assert _combine(_SmallestWithinBudget(max_docs=1000, max_bytes=budget), elements, parts, rng) == by_hash[:k]
            assert _combine(_SmallestWithinBudget(max_docs=40, max_bytes=10**9), elements, parts, rng) == by_hash[:40]
