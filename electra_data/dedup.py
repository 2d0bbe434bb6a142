"""Pure functions for exact and MinHash near-duplicate detection.

**Normalisation** (both kinds of dedup): NFKC, case folding, then every run of characters that
are not letters or digits of any script (punctuation, symbols, ``_``, whitespace, line breaks)
becomes one space, trimmed at both ends. Documents that differ only in case, punctuation, line
wrapping, spacing or compatibility forms (ligatures, full-width letters) normalise alike; accents
are kept (``café`` stays distinct from ``cafe``).

**Exact** duplicates share the 128-bit BLAKE2b hash of the normalised text.

**Near** duplicates: MinHash (datasketch, scheme ``affine32``) over word n-gram shingles of the
normalised text, with a fast, vectorised shingle hash (:data:`SHINGLE_HASH`): every word is hashed
once with xxh3-64, the n word hashes of a shingle are combined as a polynomial mod 2^64 and folded
to 32 bits. A signature equals what ``datasketch.MinHash(num_perm, seed, scheme="affine32",
hashfunc=shingle_hash)`` gives after ``update_batch(shingles(text, n))`` (a test holds them
equal); it is computed here in chunks of shingles, so memory stays bounded on book-length texts.

**LSH banding**: b bands of r rows (b*r <= num_perm) such that a pair at the Jaccard threshold is
caught with probability >= ``min_recall`` (P(s) = 1 - (1 - s^r)^b), taking the largest r that
does so to keep false candidates rare. datasketch's ``_optimal_param`` minimises a weighted FP/FN
area instead and, at 128 permutations and 0.8, picks 9 bands of 13 rows, which catches a pair at
the threshold only ~40% of the time. The S-curve of the default, 16 bands x 8 rows (threshold
0.8, 128 permutations):

    ======================  =====  =====  =====  =====  =====  =====  =====  =====
    Jaccard s               0.50   0.60   0.70   0.75   0.80   0.85   0.90   0.95
    P(shares a bucket)      0.061  0.237  0.613  0.815  0.947  0.994  1.000  1.000
    ======================  =====  =====  =====  =====  =====  =====  =====  =====

Candidates are then verified. The estimated Jaccard (the share of equal MinHash values) has a
standard deviation of sqrt(s(1 - s)/num_perm), 0.035 at 0.8 with 128 permutations, so it decides
alone only outside :func:`verify_margin` (three of those deviations) around the threshold; a pair
inside that band, where the estimate would be a coin toss, is settled by the exact Jaccard of the
two documents' shingle-hash sets (:func:`shingle_set`, :func:`exact_jaccard`). On the quality
benchmark, estimates alone linked 56% of the pairs at true Jaccard 0.78-0.80 and only 69% of
those at 0.80-0.82.

**Document ids**: a document is identified by :func:`document_id`, (key, content hash), so that
"keep the smallest" is a total order even when two inputs give documents the same key; only
copies of one identical document share an id.

**Connected components** of the duplicate graph (``large_star``/``small_star`` are the two
alternating steps of Kiveris et al., "Connected Components in MapReduce and Beyond", 2014;
``union_find_min`` settles what is left after a fixed number of rounds). The Beam transforms
that use all this live in ``electra_data.pipelines.dedup``.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np
import xxhash
from datasketch import MinHash

from electra_data.documents import Document

__all__ = [
    "MINHASH_SCHEME",
    "SHINGLE_HASH",
    "document_id",
    "normalized_words",
    "normalize_for_dedup",
    "exact_key",
    "shingles",
    "shingle_hash",
    "shingle_hashes",
    "minhash_signature",
    "lsh_params",
    "catch_probability",
    "band_keys",
    "estimated_jaccard",
    "verify_margin",
    "shingle_set",
    "exact_jaccard",
    "large_star",
    "small_star",
    "union_find_min",
]

# datasketch 2.x hash schemes produce mutually incompatible signatures: name the one we use and
# record it in the manifest, so signatures are never compared across schemes.
MINHASH_SCHEME = "affine32"
# The hash that turns a shingle into datasketch's 32-bit input; signatures made with another one
# are incomparable too, so the manifest records it beside the scheme.
SHINGLE_HASH = "xxh3_64 per word, polynomial mod 2^64 over the n-gram, xor-folded to 32 bits"

_PUNCT_OR_SPACE = re.compile(r"[\W_]+", re.UNICODE)
# ASCII bytes: letters lower-cased, digits and every byte >= 0x80 (UTF-8 of non-ASCII) kept,
# everything else (punctuation, '_', whitespace, controls) a space.
_ASCII_FOLD = bytes(
    (c + 32 if 65 <= c <= 90 else c) if chr(c).isalnum() or c >= 128 else 32 for c in range(256)
)
_POLY = np.uint64(0x9E3779B97F4A7C15)  # odd, so the combination is invertible per position
_MASK32 = np.uint64(0xFFFFFFFF)
_CHUNK = 4096  # shingles per permutation step: bounds the (chunk x num_perm) scratch to 2 MB
# A node of the duplicate graph: any sortable, hashable id (the build uses ``document_id``).
Node = TypeVar("Node")


def document_id(doc: Document) -> tuple[str, str]:
    """(key, content hash): documents ordered by key, then by their content.

    Every "keep the smallest" choice of dedup is made on it: keys alone may collide (the same
    page id in two dumps), and a choice among equal keys would depend on the runner. The hash
    covers source, title and text, so documents with equal ids are identical in every field.
    """
    digest = hashlib.blake2b(digest_size=16)
    for part in (doc.source, doc.title, doc.text):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))  # the lengths keep the parts' boundaries
        digest.update(data)
    return doc.key, digest.hexdigest()


def normalized_words(text: str) -> list[bytes]:
    """The words of the normalised text (see the module docstring), as UTF-8 bytes.

    Equal to ``normalize_for_dedup(text).encode().split()``, about 3x faster: ASCII is folded with
    one ``bytes.translate``, and only the few distinct non-ASCII characters of a text are tested
    for being punctuation, instead of running a Unicode regex over every character.
    """
    if text.isascii():
        data = text.encode("ascii")
    else:
        text = unicodedata.normalize("NFKC", text).casefold()
        data = text.encode("utf-8")
        for char in set(text):
            if ord(char) > 127 and _PUNCT_OR_SPACE.match(char):
                data = data.replace(char.encode("utf-8"), b" ")
    return data.translate(_ASCII_FOLD).split()


def normalize_for_dedup(text: str) -> str:
    """The normalised text: words of any script, lower-cased, joined by single spaces."""
    return b" ".join(normalized_words(text)).decode("utf-8")


def exact_key(text: str) -> str:
    """Hex digest identifying the normalised text (BLAKE2b, 128 bits: collisions are negligible)."""
    return hashlib.blake2b(b" ".join(normalized_words(text)), digest_size=16).hexdigest()


def shingles(text: str, n: int) -> set[bytes]:
    """Word n-grams of the normalised text, as UTF-8 bytes; empty if the text has < n words."""
    words = normalized_words(text)
    return {b" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def _combine(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """32-bit hash of every n-gram of a sequence of 64-bit word hashes (uint64 wraps mod 2^64)."""
    count = len(word_hashes) - n + 1
    acc = word_hashes[:count].copy()
    for j in range(1, n):
        acc = acc * _POLY + word_hashes[j : j + count]
    return ((acc >> np.uint64(32)) ^ (acc & _MASK32)).astype(np.uint32)


def shingle_hash(shingle: bytes) -> int:
    """32-bit hash of one shingle (space-separated words): the ``hashfunc`` for datasketch.

    The scalar reference of :func:`shingle_hashes`, which computes the same values for all the
    shingles of a text at once.
    """
    words = shingle.split(b" ")
    hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, words), dtype=np.uint64, count=len(words))
    return int(_combine(hashes, len(words))[0])


def shingle_hashes(words: list[bytes], n: int) -> np.ndarray:
    """:func:`shingle_hash` of every word n-gram of ``words`` in order (uint32; may repeat)."""
    if len(words) < n:
        return np.empty(0, dtype=np.uint32)
    hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, words), dtype=np.uint64, count=len(words))
    return _combine(hashes, n)


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=MINHASH_SCHEME).permutations
    return a.reshape(1, -1), b.reshape(1, -1)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer, which datasketch's affine32 applies to its input hashes."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhash_signature(text: str, *, num_perm: int, seed: int, ngram: int) -> np.ndarray | None:
    """MinHash signature (uint32, length ``num_perm``) of the text's shingles.

    Returns None for a document with fewer than ``ngram`` words: every such document would get the
    same empty-set signature and collide with all the others, so short documents are left to
    exact dedup.
    """
    hashes = shingle_hashes(normalized_words(text), ngram)
    if not len(hashes):
        return None
    a, b = _permutations(num_perm, seed)
    signature = np.full(num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
    for start in range(0, len(hashes), _CHUNK):
        mixed = _fmix32(hashes[start : start + _CHUNK]).reshape(-1, 1)
        np.minimum(signature, (mixed * a + b).min(axis=0), out=signature)
    return signature


def catch_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that a pair with this Jaccard similarity shares at least one LSH bucket."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def lsh_params(threshold: float, num_perm: int, min_recall: float = 0.9) -> tuple[int, int]:
    """Bands and rows for LSH so that a pair at ``threshold`` is caught with >= ``min_recall``.

    Takes the largest number of rows per band (fewest false candidates) that still reaches the
    recall target with ``num_perm // rows`` bands.

    Raises:
        ValueError: if no banding of ``num_perm`` permutations reaches the target.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"dedup threshold must be in (0, 1), got {threshold}")
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if catch_probability(threshold, bands, rows) >= min_recall:
            return bands, rows
    raise ValueError(
        f"no LSH banding of {num_perm} permutations catches pairs at Jaccard {threshold} with "
        f"probability {min_recall}: use more permutations (--minhash-perms)"
    )


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One 10-byte bucket key per band: the band's index and a 64-bit hash of its rows.

    Hashing the rows keeps the shuffled keys small; a (2^-64) collision only adds a candidate
    that verification rejects.
    """
    return [
        i.to_bytes(2, "big") + xxhash.xxh3_64_digest(signature[i * rows : (i + 1) * rows].tobytes())
        for i in range(bands)
    ]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal MinHash values: an unbiased estimate of the shingle sets' Jaccard."""
    return float(np.count_nonzero(a == b)) / len(a)


def verify_margin(threshold: float, num_perm: int) -> float:
    """Half-width of the band around the threshold where estimates are checked exactly.

    Three standard deviations of the estimate at the threshold: a pair whose estimate lies
    outside the band is on that side of the threshold with probability > 0.998.
    """
    return 3.0 * math.sqrt(threshold * (1.0 - threshold) / num_perm)


def shingle_set(text: str, ngram: int) -> np.ndarray:
    """The distinct shingle hashes of the text, sorted (uint32; empty below ``ngram`` words).

    The exact counterpart of the signature: 4 bytes per shingle, only computed for the few
    documents whose estimate is too close to the threshold to decide.
    """
    return np.unique(shingle_hashes(normalized_words(text), ngram))


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two :func:`shingle_set` results (1.0 for two empty sets)."""
    common = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - common
    return common / union if union else 1.0


def large_star(node: Node, neighbours: Iterable[Node]) -> Iterator[tuple[Node, Node]]:
    """Link every neighbour larger than ``node`` to the smallest of node and neighbours.

    ``neighbours`` is iterated twice (a Beam group is re-iterable), so a hub's neighbourhood is
    never held in memory. Yields (larger, smaller) edges; never more than it was given.
    """
    smallest = min(neighbours, default=node)
    smallest = min(smallest, node)
    for other in neighbours:
        if other > node:
            yield other, smallest


def small_star(node: Node, smaller: Iterable[Node]) -> Iterator[tuple[Node, Node]]:
    """Link ``node`` and its smaller neighbours to the smallest of them. Yields (larger, smaller)."""
    smallest = min(smaller, default=node)
    smallest = min(smallest, node)
    if node != smallest:
        yield node, smallest
    for other in smaller:
        if other != smallest:
            yield other, smallest


def union_find_min(edges: Iterable[tuple[Node, Node]]) -> dict[Node, Node]:
    """Label every node of the edges with the smallest node of its connected component."""
    parent: dict[Node, Node] = {}

    def root(x: Node) -> Node:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]  # path halving keeps the trees shallow
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the smaller root wins, so a root is its tree's min
    return {x: root(x) for x in parent}
