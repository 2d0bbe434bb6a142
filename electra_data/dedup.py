"""Pure functions for exact and MinHash near-duplicate detection.

Exact duplicates share the hash of their *normalised* text: case-folded, punctuation removed,
whitespace collapsed, so that copies which differ only in formatting are caught.

Near duplicates are found with MinHash (datasketch) over word n-gram shingles and LSH banding. The
banding (b bands of r rows, b*r <= num_perm) is chosen so that a pair at the Jaccard threshold is
caught with probability >= ``min_recall`` (P(s) = 1 - (1 - s^r)^b), taking the largest r that
does so to keep false candidates rare; candidates are then verified by their estimated Jaccard.
datasketch's own ``_optimal_param`` minimises a weighted FP/FN area instead and, at 128
permutations and 0.8, picks 9 bands of 13 rows, which catches a pair at the threshold only ~40%
of the time.

The Beam transforms that use these live in ``electra_data.pipelines.dedup``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np
from datasketch import MinHash

__all__ = [
    "MINHASH_SCHEME",
    "normalize_for_dedup",
    "exact_key",
    "shingles",
    "minhash_signature",
    "lsh_params",
    "catch_probability",
    "band_keys",
    "estimated_jaccard",
]

# datasketch 2.x hash schemes produce mutually incompatible signatures: name the one we use and
# record it in the manifest, so signatures are never compared across schemes.
MINHASH_SCHEME = "affine32"

_PUNCT_OR_SPACE = re.compile(r"[\W_]+", re.UNICODE)


def normalize_for_dedup(text: str) -> str:
    """Case-fold, strip accents' compatibility forms, drop punctuation and collapse whitespace.

    Two documents that differ only in case, punctuation, line wrapping or spacing normalise to the
    same string. Word characters of every script are kept, so non-Latin text is not erased.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return _PUNCT_OR_SPACE.sub(" ", text).strip()


def exact_key(text: str) -> str:
    """Hex digest identifying the normalised text (BLAKE2b, 128 bits: collisions are negligible)."""
    return hashlib.blake2b(normalize_for_dedup(text).encode("utf-8"), digest_size=16).hexdigest()


def shingles(text: str, n: int) -> set[bytes]:
    """Word n-grams of the normalised text, as UTF-8 bytes; empty if the text has < n words."""
    words = normalize_for_dedup(text).split()
    return {" ".join(words[i : i + n]).encode("utf-8") for i in range(len(words) - n + 1)}


def minhash_signature(text: str, *, num_perm: int, seed: int, ngram: int) -> np.ndarray | None:
    """MinHash signature (uint32, length ``num_perm``) of the text's shingles.

    Returns None for a document with fewer than ``ngram`` words: every such document would get the
    same empty-set signature and collide with all the others, so short documents are left to
    exact dedup.
    """
    grams = shingles(text, ngram)
    if not grams:
        return None
    mh = MinHash(num_perm=num_perm, seed=seed, scheme=MINHASH_SCHEME)
    mh.update_batch(grams)
    return mh.hashvalues.astype(np.uint32)


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
    """One bucket key per band: the band's index followed by its rows' bytes."""
    return [
        i.to_bytes(2, "big") + signature[i * rows : (i + 1) * rows].tobytes() for i in range(bands)
    ]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal MinHash values: an unbiased estimate of the shingle sets' Jaccard."""
    return float(np.count_nonzero(a == b)) / len(a)
