"""Wikimedia's multistream dump layout: the index beside a dump, the byte ranges of its bz2
streams (each decompresses on its own, so a dump is read in parallel by range with
``wiki.iter_pages_in_range``), and re-packing an export into that layout.
"""

from __future__ import annotations

import bz2
import re

from electra_data import fsio
from electra_data.errors import CorpusError

__all__ = ["multistream_index", "stream_ranges", "write_multistream"]


def multistream_index(dump: str) -> str | None:
    """The index that Wikimedia publishes beside a multistream dump, if it is there.

    ``X-pages-articles-multistream.xml.bz2`` -> ``X-pages-articles-multistream-index.txt.bz2``.
    """
    if not dump.endswith("multistream.xml.bz2"):
        return None
    index = dump[: -len(".xml.bz2")] + "-index.txt.bz2"
    return index if fsio.exists(index) else None


def stream_ranges(index: str, dump_size: int) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` of the dump's bz2 streams that hold pages.

    Each index line is ``offset:page_id:title``; every distinct offset starts a stream of (up to
    100) pages, which decompresses on its own. The last range runs to the end of the file and so
    also holds the ``</mediawiki>`` footer stream.

    Raises:
        CorpusError: if the index is unreadable or a line has no integer offset.
    """
    offsets: set[int] = set()
    try:
        with bz2.open(fsio.read_stream(index), "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                head = line.split(":", 1)[0]
                if not head.isdigit():
                    raise CorpusError(f"{index}: line {number} is not offset:page_id:title; re-download the index")
                offsets.add(int(head))
    except (EOFError, OSError, UnicodeDecodeError) as err:
        raise CorpusError(f"{index}: unreadable multistream index ({err}); re-download it") from None
    starts = sorted(offsets)
    return list(zip(starts, [*starts[1:], dump_size]))


def write_multistream(xml: bytes, dump: str, *, pages_per_stream: int = 100) -> str:
    """Re-pack an export (decompressed XML) in Wikimedia's multistream layout; returns the index path.

    The layout: one bz2 stream for everything before the first ``<page>``, one per
    ``pages_per_stream`` pages, one for the ``</mediawiki>`` footer, and a trailing empty stream;
    the index (``...-index.txt.bz2``) lists ``offset:page_id:title`` for every page. A dump
    without multistream layout can so be read in parallel.
    """
    starts = [m.start() for m in re.finditer(rb"<page>", xml)]
    if not starts:
        raise CorpusError(f"{dump}: no <page> to re-pack")
    starts = [xml.rindex(b"\n", 0, s) + 1 for s in starts]  # keep each page's indentation
    footer = xml.rindex(b"</mediawiki>")
    cuts = [0, *starts[::pages_per_stream], footer]
    pieces = [xml[a:b] for a, b in zip(cuts, cuts[1:])] + [xml[footer:], b""]
    index, offset = [], 0
    with open(dump, "wb") as out:
        for piece in pieces:
            for page in re.finditer(rb"<title>(.*?)</title>\s*<ns>-?\d+</ns>\s*<id>(\d+)</id>", piece):
                index.append(f"{offset}:{int(page.group(2))}:{page.group(1).decode('utf-8')}\n")
            data = bz2.compress(piece)
            out.write(data)
            offset += len(data)
    index_path = dump[: -len(".xml.bz2")] + "-index.txt.bz2"
    with open(index_path, "wb") as out:
        out.write(bz2.compress("".join(index).encode("utf-8")))
    return index_path
