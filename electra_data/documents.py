"""The records that flow through the build: documents, and the documents dropped on the way."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import zstandard

__all__ = ["Document", "Rejected", "stable_hash", "stable_unit"]


class Document(NamedTuple):
    """A document of the corpus.

    Attributes:
        key: unique across all inputs and sortable, ``<source>:<file>[:<id>]`` where ``<file>``
            is the file's path below the directory the source's files share
            (``wiki:enwiki-...xml.bz2:12`` is page id 12 of that dump, ``books:11-0.txt`` a book).
            Every deterministic choice (which duplicate is kept, splits, shard order) is made on it.
        source: the corpus it came from (``wiki``).
        title: page or book title, for reports.
        text: the document; paragraphs are separated by a blank line.
    """

    key: str
    source: str
    title: str
    text: str

    def __reduce__(self):
        # Beam's coder pickles documents at every stage boundary: the local runner holds a stage's
        # whole input and output as those bytes, and Dataflow shuffles them. Compressed, the text
        # is ~2.4x smaller, at ~280 MB/s to compress and ~1 GB/s to decompress. surrogatepass:
        # any str pickles, as it did before.
        return _unpickle_document, (self.key, self.source, self.title, zstandard.compress(self.text.encode("utf-8", "surrogatepass"), 1))


def _unpickle_document(key: str, source: str, title: str, text: bytes) -> Document:
    return Document(key, source, title, zstandard.decompress(text).decode("utf-8", "surrogatepass"))


class Rejected(NamedTuple):
    """A document that was dropped, with the one reason why (and details such as ``duplicate_of``)."""

    key: str
    source: str
    title: str
    reason: str
    excerpt: str
    detail: dict | None = None

    @classmethod
    def of(cls, doc: Document, reason: str, detail: dict | None = None) -> Rejected:
        return cls(doc.key, doc.source, doc.title, reason, doc.text[:300], detail)


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is the same in every process and run (unlike ``hash()``)."""
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def stable_unit(*parts: object) -> float:
    """``stable_hash`` mapped to a float in [0, 1)."""
    return stable_hash(*parts) / 2**64
