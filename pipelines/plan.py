"""The build's plan, made by the driver before anything runs: read items, unit size, partitions.

The inputs are cut into *read items* of about equal size (a group of a multistream dump's bz2
streams, a whole dump without an index, a group of books, a domain file), named by their place
in the plan: the same inputs and config always give the same items, so a resumed build finds the
work of the interrupted one under the same names. A read item writes its documents, as read,
into *units* of about ``UNIT_BYTES`` of text; each unit is then cleaned, deduplicated and
packed on its own. ``partitions`` splits every shuffle that runs through files (dedup keys,
signatures), so that the records of one partition stay a bounded amount whatever the corpus.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

from electra_data import fsio
from electra_data.inputs import relative_names
from electra_data.multistream import multistream_index, stream_ranges

__all__ = ["ReadItem", "Plan", "plan_build"]

# bz2 packs wikitext about 4.5x (enwiki: ~22 GB of .bz2, ~90 GB of XML, ~20 GB of wikitext).
_BZ2_RATIO = 4.0
# Read items per corpus at least (so that every worker has work), and the largest one.
_MIN_ITEMS = 32
_MAX_ITEM_BYTES = 64 * 2**20
_MIN_ITEM_BYTES = 2**20
# Text in one unit: a unit's documents and examples are held in memory while it is worked on,
# so it is the same size whatever the corpus (enwiki: ~5,000 units).
UNIT_BYTES = 4 * 2**20
# Input text per dedup partition: one partition's keys and signatures (~10% of the text for
# near dedup) pass through one worker. A unit holds ~1/P of its rows in a partition, so a
# partition's worker holds about the same amount whatever the corpus.
_PARTITION_TEXT_BYTES = 64 * 2**20


class ReadItem(NamedTuple):
    """One piece of reading work.

    Attributes:
        name: ``<source>-<number>``, its place in the plan.
        source: ``wiki``, ``books`` or ``domain``.
        files: ``(path, name in document keys)`` pairs (several only for books).
        ranges: byte ranges of a multistream dump's streams, or None to read files whole.
        size: bytes of input on disk (compressed for .bz2), for progress.
    """

    name: str
    source: str
    files: tuple[tuple[str, str], ...]
    ranges: tuple[tuple[int, int], ...] | None
    size: int


class Plan(NamedTuple):
    items: tuple[ReadItem, ...]
    input_bytes: int  # on disk, what the items read
    text_bytes: int  # estimated, uncompressed
    unit_bytes: int
    partitions: int


def _text_bytes(path: str, size: int) -> int:
    return int(size * _BZ2_RATIO) if path.endswith(".bz2") else size


def _groups(pieces: list, size_of, target: int) -> list[list]:
    """Consecutive pieces in groups of about ``target`` bytes (a larger piece alone)."""
    groups: list[list] = []
    current: list = []
    total = 0
    for piece in pieces:
        if current and total + size_of(piece) > target:
            groups.append(current)
            current, total = [], 0
        current.append(piece)
        total += size_of(piece)
    if current:
        groups.append(current)
    return groups


def plan_build(files: dict[str, list[str]], *, sizes: bool = True) -> Plan:
    """The read items of the resolved inputs (``inputs.resolve``), in a fixed order.

    ``sizes=False`` plans without asking the filesystem for the inputs' sizes (taken as 0), as a
    dry run of a remote job must, offline; a multistream dump is then read whole.
    """
    paths = [path for source in ("wiki", "books", "domain") for path in files.get(source, ())]
    sizes = {path: fsio.size(path) if sizes else 0 for path in paths}
    target = min(_MAX_ITEM_BYTES, max(_MIN_ITEM_BYTES, sum(sizes.values()) // _MIN_ITEMS))
    items: list[ReadItem] = []

    def add(source: str, item_files, ranges, size: int) -> None:
        items.append(ReadItem(f"{source}-{len(items):05d}", source, tuple(item_files), ranges, size))

    wiki = files.get("wiki", [])
    names = relative_names(list(wiki))
    for dump in wiki:
        index = multistream_index(dump) if sizes[dump] else None
        if index is None:
            add("wiki", [(dump, names[dump])], None, sizes[dump])
            continue
        for group in _groups(stream_ranges(index, sizes[dump]), lambda r: r[1] - r[0], target):
            add("wiki", [(dump, names[dump])], tuple(group), sum(end - start for start, end in group))
    books = files.get("books", [])
    names = relative_names([*books, *files.get("not_books", ())])
    for group in _groups(list(books), sizes.__getitem__, target):
        add("books", [(path, names[path]) for path in group], None, sum(sizes[p] for p in group))
    domain = files.get("domain", [])
    # keys are relative to the corpus root, so they do not change when the corpus moves
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in domain]) if domain and fsio.is_local(domain[0]) else ""
    for path in domain:
        add("domain", [(path, os.path.relpath(path, root) if root else path)], None, sizes[path])
    text_bytes = sum(_text_bytes(path, size) for path, size in sizes.items())
    partitions = max(1, math.ceil(text_bytes / _PARTITION_TEXT_BYTES))
    # what the readers will report reading: a multistream dump's streams, not its header
    return Plan(tuple(items), sum(item.size for item in items), text_bytes, UNIT_BYTES, partitions)
