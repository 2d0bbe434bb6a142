"""Pack a tokenized document into ELECTRA pre-training examples.

Follows the reference ELECTRA packing (``build_pretraining_dataset.py``), with two changes:

* Tokens never get lost. The reference fills an example past its target length and then cuts
  off what does not fit; here the overflow, and any sentence longer than the whole budget, is
  carried over to start the next example of the same document.
* Sentences always stay in order. In the reference a short sentence can join segment A after a
  longer one already went to segment B.

What is kept: examples never cross documents; 10% of examples have a single segment; otherwise
segment A targets ``(target - 3) // 2`` tokens and the sentence that straddles that target joins A
with probability 0.5; after each example there is a 5% chance that the next target length is
drawn uniformly from ``[5, max_seq_length]``.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator, Sequence

from tokenizers import Tokenizer

from electra_data.sentences import split_paragraphs, split_sentences

__all__ = ["MIN_SEQ_LENGTH", "pack_document", "tokenize_document"]

# [CLS] A [SEP] B [SEP] needs 3 special tokens; 5 is also the reference's shortest random target.
MIN_SEQ_LENGTH = 5
_SINGLE_SEGMENT_PROB = 0.1
_RANDOM_LENGTH_PROB = 0.05


def pack_document(
    sentences: Sequence[Sequence[int]],
    *,
    max_seq_length: int,
    cls_id: int,
    sep_id: int,
    rng: random.Random,
) -> Iterator[tuple[list[int], int]]:
    """Yield ``(input_ids, segment_a_length)`` examples covering every token of the document.

    Args:
        sentences: the document's sentences as token ids, without special tokens.
        max_seq_length: the longest example, special tokens included.
        cls_id: id of ``[CLS]``.
        sep_id: id of ``[SEP]``.
        rng: the source of randomness; seed it per document for reproducible shards.

    Yields:
        ``input_ids`` as ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``, and the number of leading
        positions that belong to segment A (``[CLS]`` and the first ``[SEP]`` included), from
        which ``token_type_ids`` are rebuilt.
    """
    if max_seq_length < MIN_SEQ_LENGTH:
        raise ValueError(f"max_seq_length must be at least {MIN_SEQ_LENGTH}, got {max_seq_length}")
    queue = deque(list(s) for s in sentences if len(s))
    target = max_seq_length
    while queue:
        single_segment = rng.random() < _SINGLE_SEGMENT_PROB
        budget = target - (2 if single_segment else 3)
        chunk = _take(queue, budget)
        if single_segment or len(chunk) == 1:
            a, b = [tok for s in chunk for tok in s], []
        else:
            a, b = _split_segments(chunk, (target - 3) // 2, rng)
        input_ids = [cls_id, *a, sep_id]
        if b:
            input_ids += [*b, sep_id]
        yield input_ids, len(a) + 2
        target = (
            rng.randint(MIN_SEQ_LENGTH, max_seq_length)
            if rng.random() < _RANDOM_LENGTH_PROB
            else max_seq_length
        )


def _take(queue: deque[list[int]], budget: int) -> list[list[int]]:
    """Pop whole sentences up to ``budget`` tokens; the part of a sentence that overflows goes back."""
    chunk: list[list[int]] = []
    size = 0
    while queue and size < budget:
        sentence = queue.popleft()
        room = budget - size
        if len(sentence) > room:
            queue.appendleft(sentence[room:])
            sentence = sentence[:room]
        chunk.append(sentence)
        size += len(sentence)
    return chunk


def _split_segments(
    chunk: list[list[int]], a_target: int, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Split consecutive sentences into segments A and B at a sentence boundary."""
    a: list[int] = []
    b: list[int] = []
    for sentence in chunk:
        fits = len(a) + len(sentence) < a_target
        straddles = len(a) < a_target and rng.random() < 0.5
        if not b and (not a or fits or straddles):
            a += sentence
        else:
            b += sentence
    return a, b


_ENCODE_BATCH = 4096  # sentences


def tokenize_document(text: str, tokenizer: Tokenizer) -> list[list[int]]:
    """Token ids of each sentence of a cleaned document (paragraphs split on blank lines)."""
    sentences = [s for p in split_paragraphs(text) for s in split_sentences(p)]
    # encode_batch_fast skips character offsets, which packing never needs: ~1.4x faster. In
    # batches: an Encoding holds its tokens as strings and more, ~100 bytes a token, and a book
    # of 50 MB has 13 M tokens.
    ids: list[list[int]] = []
    for start in range(0, len(sentences), _ENCODE_BATCH):
        batch = sentences[start : start + _ENCODE_BATCH]
        ids.extend(e.ids for e in tokenizer.encode_batch_fast(batch, add_special_tokens=False))
    return ids
