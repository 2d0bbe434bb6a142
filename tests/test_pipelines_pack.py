"""Vocab sampling, tokenize + pack and shard writing over units on disk, on real text (local runner)."""

import itertools
import random
from operator import itemgetter

import pyarrow as pa
import pytest

from electra_data.dedup import document_id
from electra_data.documents import Document, stable_hash
from electra_data.pipelines.tokenize import _SmallestWithinBudget
from electra_data.shards import ids_dtype
from electra_data.sentences import split_paragraphs, split_sentences
from electra_data.vocab import train_wordpiece
from corpus_text import book_paragraphs
from spilled import pack_and_write, select, write_units

MAX_SEQ = 64
SEED = 5


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


def _rows_of(packed):
    return [row for rows in packed.examples.values() for row in rows]


def _train_shard_bytes(out):
    return {f.name: f.read_bytes() for f in sorted((out / "train").iterdir())}


def _shard_rows(path):
    return pa.ipc.open_stream(pa.memory_map(str(path))).read_all().num_rows


def test_pack_units_splits_by_document_and_counts_every_token(docs, tokenizer, tmp_path):
    expected = _content_tokens(tokenizer, docs)
    packed = pack_and_write(tmp_path / "work", tmp_path / "out", docs, tokenizer.to_str(), per_unit=4, num_shards=2,
                            seed=SEED, validation_fraction=0.01, max_seq_length=MAX_SEQ)  # fmt: skip
    width = ids_dtype(tokenizer.get_vocab_size()).itemsize
    rows = _rows_of(packed)
    lengths = [(len(ids) // width, seg) for _, ids, seg, _ in rows]
    assert max(n for n, _ in lengths) <= MAX_SEQ
    content = sum(n - (3 if seg < n else 2) for n, seg in lengths)
    assert content == expected
    assert packed.tallies["tokens"] == packed.tallies["packed_tokens"] == expected
    # every example of a document is in that document's split; the smallest-hash document is
    # held out, so both splits exist
    split_of = {}
    for doc in docs:
        doc_id = document_id(doc)
        orders = {stable_hash(SEED, *doc_id, i) for i in range(len(rows))}
        flags = {validation for order, _, _, validation in rows if order in orders}
        assert len(flags) == 1, doc.key
        split_of[doc.key] = flags.pop()
    holdout = min(docs, key=lambda d: stable_hash(SEED, "split", d.key)).key
    assert split_of[holdout] is True and not all(split_of.values())
    # the shards hold exactly the examples of their split
    by_split = {s: sum(i["examples"] for i in packed.shards if i["split"] == s) for s in ("train", "validation")}
    assert by_split == {"validation": sum(r[3] for r in rows), "train": sum(not r[3] for r in rows)}
    assert sum(i["tokens"] for i in packed.shards) == sum(n for n, _ in lengths)


@pytest.mark.parametrize("num_shards, expected", [(3, 3), (None, 1)])
def test_write_shards_names_every_shard_and_balances_them(docs, tokenizer, tmp_path, num_shards, expected):
    out = tmp_path / "out"
    packed = pack_and_write(tmp_path / "work", out, docs, tokenizer.to_str(), per_unit=2, num_shards=num_shards,
                            shard_size_mb=64, seed=SEED, max_seq_length=MAX_SEQ)  # fmt: skip
    assert [i["path"] for i in packed.shards] == [
        f"train/shard-{i:05d}-of-{expected:05d}.arrow" for i in range(expected)
    ] + ["validation/shard-00000-of-00001.arrow"]
    rows = [_shard_rows(f) for f in sorted((out / "train").iterdir())]
    assert rows == [i["examples"] for i in packed.shards if i["split"] == "train"]
    assert sum(rows) == len(_rows_of(packed))
    assert min(rows) > 0.6 * max(rows)  # hash assignment: balanced in expectation
    assert _shard_rows(out / "validation" / "shard-00000-of-00001.arrow") == 0


def test_shard_size_decides_the_count(docs, tokenizer, tmp_path):
    out = tmp_path / "out"
    packed = pack_and_write(tmp_path / "work", out, docs, tokenizer.to_str(), per_unit=3, num_shards=None,
                            shard_size_mb=0.01, seed=SEED, max_seq_length=MAX_SEQ)  # ~10 KB shards  # fmt: skip
    train = [i for i in packed.shards if i["split"] == "train"]
    assert len(train) > 3
    assert sorted(p.name for p in (out / "train").iterdir()) == [i["path"].split("/")[1] for i in train]
    assert all(i["examples"] > 0 for i in train)


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
    # (rank, (bytes, location)): the location of text i is ("unit-<i // 7>", i % 7)
    elements = [(random.Random(i).getrandbits(64), (len(t.encode()), (f"unit-{i // 7}", i % 7))) for i, t in enumerate(texts)]
    by_hash = [location for _, (_, location) in sorted(elements)]
    sizes = [size for _, (size, _) in sorted(elements)]
    # A long text that just fails to fit: many shorter ones of larger hash would fit in its
    # place, and must not be taken (that would depend on the order the texts arrive in).
    k = next(i for i in range(10, len(sizes)) if sizes[i] > 3 * sorted(sizes)[len(sizes) // 2])
    budget = sum(sizes[: k + 1]) - 1
    for seed in range(10):
        for parts in (1, 3, 7):
            rng = random.Random(seed)
            assert _combine(_SmallestWithinBudget(max_docs=1000, max_bytes=budget), elements, parts, rng) == by_hash[:k]
            assert _combine(_SmallestWithinBudget(max_docs=40, max_bytes=10**9), elements, parts, rng) == by_hash[:40]


def _whole_groups_within(elements, max_docs, max_bytes):
    """The reference for the vocab sample: sort by rank and take whole groups of equal rank (copies
    of one document) while both limits hold; their locations."""
    taken, size = [], 0
    for _, group in itertools.groupby(sorted(elements, key=itemgetter(0)), key=itemgetter(0)):
        group = [candidate for _, candidate in group]
        size += sum(n for n, _ in group)
        if len(taken) + len(group) > max_docs or size > max_bytes:
            break
        taken += [location for _, location in group]
    return taken


def test_vocab_sample_with_colliding_keys_is_a_sort_whatever_the_partition(tmp_path):
    # Two dumps of one wiki give the same page ids: 3 documents per key, and some documents twice.
    texts = book_paragraphs("35-0.txt", start=10, count=150)
    docs = [Document(f"wiki:{i % 50}", "wiki", f"page {i % 50}", t) for i, t in enumerate(texts)]
    docs += docs[:12]
    units = write_units(tmp_path, docs, per_unit=7, exact=False)
    # the candidates as the build makes them (the kept documents of each unit, as SelectDocuments sees them)
    elements = select(tmp_path, units, seed=7)["sample"]
    text_at = {(units[i // 7], i % 7): d.text for i, d in enumerate(docs)}
    assert sorted(location for _, (_, location) in elements) == sorted(text_at)
    assert all(size == len(text_at[location].encode()) for _, (size, location) in elements)
    sizes = sorted(len(t.encode()) for t in texts)
    # at seed 7 the 37th and 38th documents by rank are copies of one: neither is taken
    assert len(_whole_groups_within(elements, 37, 10**9)) == 36
    for max_docs, max_bytes in [(50, 10**9), (1000, sum(sizes[:60])), (37, 10**9)]:
        expected = _whole_groups_within(elements, max_docs, max_bytes)
        assert 10 < len(expected) < len(docs)  # a limit binds
        for seed in range(8):
            for parts in (1, 2, 5, 13):
                got = _combine(_SmallestWithinBudget(max_docs, max_bytes), elements, parts, random.Random(seed))
                # copies (equal rank) are the same text at two locations, in either order
                assert sorted(got) == sorted(expected), (max_docs, seed, parts)
                assert [text_at[loc] for loc in got] == [text_at[loc] for loc in expected], (max_docs, seed, parts)


def test_documents_sharing_a_key_get_distinct_order_keys_and_the_same_shards_in_any_order_and_units(docs, tokenizer, tmp_path):
    shared = [d._replace(key="b:0") for d in docs]  # colliding keys: order keys must still differ
    results = []
    for i, (order, per_unit) in enumerate([(shared, 2), (shared[::-1], 2), (shared[::-1], 1), (shared[2:] + shared[:2], 5)]):
        packed = pack_and_write(tmp_path / f"w{i}", tmp_path / f"o{i}", order, tokenizer.to_str(), per_unit=per_unit,
                                num_shards=2, seed=SEED, max_seq_length=MAX_SEQ)  # fmt: skip
        keys = [row[0] for row in _rows_of(packed)]
        assert len(keys) == len(set(keys)) > 20
        results.append(_train_shard_bytes(tmp_path / f"o{i}"))
    assert len(results[0]) == 2
    assert all(r == results[0] for r in results[1:])
