import random

import pytest

from electra_data import packing
from electra_data.packing import pack_document, tokenize_document
from electra_data.sentences import split_paragraphs, split_sentences
from electra_data.vocab import train_wordpiece
from corpus_text import book_paragraphs

CLS, SEP = 2, 3


@pytest.fixture(scope="module")
def alice_sentences():
    paragraphs = book_paragraphs(count=120)
    tokenizer = train_wordpiece(paragraphs, vocab_size=800, lowercase=True)
    sentences = [s for p in paragraphs for s in split_sentences(p)]
    return [e.ids for e in tokenizer.encode_batch(sentences, add_special_tokens=False)]


def _pack(sentences, max_len=128, seed=0):
    return list(pack_document(sentences, max_seq_length=max_len, cls_id=CLS, sep_id=SEP, rng=random.Random(seed)))


def _content(example):
    ids, seg_a = example
    return ids[1 : seg_a - 1] + ids[seg_a:-1] if len(ids) > seg_a else ids[1 : seg_a - 1]


@pytest.mark.parametrize("max_len", [16, 128, 512])
def test_no_token_is_lost_and_order_is_kept(alice_sentences, max_len):
    examples = _pack(alice_sentences, max_len)
    flat = [tok for ex in examples for tok in _content(ex)]
    assert flat == [tok for s in alice_sentences for tok in s]


def test_examples_are_well_formed(alice_sentences):
    for ids, seg_a in _pack(alice_sentences):
        assert 3 <= len(ids) <= 128
        assert ids[0] == CLS and ids[seg_a - 1] == SEP and ids[-1] == SEP
        assert ids.count(CLS) == 1 and ids.count(SEP) == (1 if seg_a == len(ids) else 2)


def test_packing_fills_examples_and_mixes_segment_modes(alice_sentences):
    examples = _pack(alice_sentences * 4)
    full = sum(len(ids) >= 127 for ids, _ in examples)
    single = sum(seg_a == len(ids) for ids, seg_a in examples)
    assert full / len(examples) > 0.85  # 5% random short targets, and the document's last example
    assert 0.03 < single / len(examples) < 0.3  # 10% forced single-segment, plus one-sentence chunks


def test_a_sentence_longer_than_an_example_is_split_not_dropped():
    long_sentence = list(range(10, 310))
    examples = _pack([long_sentence, [7, 8, 9]], max_len=64)
    assert [tok for ex in examples for tok in _content(ex)] == long_sentence + [7, 8, 9]
    assert all(len(ids) <= 64 for ids, _ in examples)


def test_same_seed_same_examples_other_seed_differs(alice_sentences):
    assert _pack(alice_sentences, seed=1) == _pack(alice_sentences, seed=1)
    assert _pack(alice_sentences, seed=1) != _pack(alice_sentences, seed=2)


def test_empty_document_gives_no_example():
    assert _pack([[], []]) == []


def test_too_short_max_length_is_refused():
    with pytest.raises(ValueError, match="at least 5"):
        _pack([[5, 6]], max_len=4)


def test_a_long_book_is_tokenized_in_batches_as_in_one(monkeypatch):
    # a book's first 400 paragraphs: several batches at the batch size set here
    paragraphs = book_paragraphs("11-0.txt", start=0, count=400)
    tokenizer = train_wordpiece(paragraphs, vocab_size=800, lowercase=True)
    text = "\n\n".join(paragraphs)
    sentences = [s for p in split_paragraphs(text) for s in split_sentences(p)]
    monkeypatch.setattr(packing, "_ENCODE_BATCH", 97)
    assert len(sentences) > 5 * 97
    whole = [e.ids for e in tokenizer.encode_batch(sentences, add_special_tokens=False)]
    assert tokenize_document(text, tokenizer) == whole
