"""Stream pages out of a MediaWiki ``pages-articles`` XML export (plain or bz2).

Dumps are tens of gigabytes, so pages are read with ``iterparse`` and every finished ``<page>``
element is cleared together with the root's children: memory stays flat however long the dump
is. Tags are matched by local name, because export schemas 0.9, 0.10 and 0.11 carry different
``xmlns`` URIs and the page structure is the same in all of them. ``bz2.BZ2File`` reads every
stream of a multistream dump in sequence, so both dump layouts need no special handling here;
``iter_pages_in_range`` reads a range of streams on its own (``multistream`` finds the ranges).
Which pages are articles worth keeping is ``articles.page_drop_reason``.
"""

from __future__ import annotations

import bz2
import itertools
import re
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from electra_data import fsio
from electra_data.errors import CorpusError

__all__ = [
    "Page",
    "BadPage",
    "is_export",
    "is_dump",
    "iter_pages",
    "iter_pages_in_range",
]


@dataclass(frozen=True)
class Page:
    """One page of a dump.

    Attributes:
        id: The page id (``<page><id>``, not the revision's id).
        title: The page title with its namespace prefix, e.g. ``"Talk:Anarchism"``.
        ns: The namespace number; 0 is the article (main) namespace.
        redirect: True when the page carries a ``<redirect>`` element.
        text: Wikitext of the latest revision; ``""`` when the dump has none.
    """

    id: int
    title: str
    ns: int
    redirect: bool
    text: str


_HINT = "re-download the dump (check its size or sha1 against the mirror's checksum file)"


def _local(tag: str) -> str:
    """Return ``tag`` without its ``{namespace}`` prefix."""
    return tag.rpartition("}")[2]


def _page_from_element(elem: ET.Element, path: str) -> Page:
    fields: dict[str, str | None] = {}
    redirect = False
    text = ""
    for child in elem:
        name = _local(child.tag)
        if name == "revision":
            # pages-articles has one revision; history dumps list them oldest first.
            text = next((c.text or "" for c in child if _local(c.tag) == "text"), "")
        elif name == "redirect":
            redirect = True
        else:
            fields[name] = child.text
    title = (fields.get("title") or "").strip()
    try:
        page_id = int(fields.get("id") or "")
        ns = int(fields.get("ns") or "")
    except ValueError:
        raise CorpusError(
            f"{path}: page {title!r} has a missing or non-integer <id> or <ns>; "
            f"the file is not a valid MediaWiki export: {_HINT}"
        ) from None
    return Page(id=page_id, title=title, ns=ns, redirect=redirect, text=text)


def _open(path: str) -> tuple[IO[bytes], IO[bytes]]:
    """Return the raw file (its position is the compressed offset) and the decompressed stream
    (the raw file itself when it is not bz2).

    Local paths are opened directly; ``gs://`` and other Beam filesystems through
    ``FileSystems``, so that Dataflow workers read the dump where it lies.
    """
    if fsio.is_local(path) and not Path(path).is_file():
        raise CorpusError(f"{path}: no such file; pass the path of a pages-articles .xml or .xml.bz2 dump")
    try:
        raw = fsio.read_stream(path)
        # bz2 by its magic number, as the build chose this file for a dump by its content
        compressed = raw.read(3) == b"BZh"
        raw.seek(0)
    except Exception as err:  # noqa: BLE001 - each filesystem raises its own errors
        raise CorpusError(f"{path}: cannot open ({err})") from err
    return raw, (bz2.BZ2File(raw) if compressed else raw)


# What may come before a MediaWiki export's root element: a byte-order mark, an XML declaration,
# comments, a doctype, whitespace. The root may carry a namespace prefix, as the reader allows.
_EXPORT_HEAD = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*<(?:[\w.-]+:)?mediawiki[\s/>]", re.DOTALL
)
_SNIFF_BYTES = 4096
# bz2 decompresses whole blocks (up to 900 kB of text, ~250 kB compressed for a dump): a file whose
# first block has not come out of this much input is not a dump the sniff can recognise.
_SNIFF_MAX_COMPRESSED = 2 << 20


def is_export(head: bytes) -> bool:
    """Whether ``head``, the first bytes of a decompressed file, opens a MediaWiki export."""
    return _EXPORT_HEAD.match(head) is not None


def is_dump(path: str) -> bool:
    """Whether a local file is a MediaWiki export, plain or bz2, judged by its first bytes.

    A bz2 file is decompressed until a few KB of XML come out (its first block), so the check
    stays cheap whatever the size of the dump. Unreadable or corrupt data is no dump.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
            if head.startswith(b"BZh"):
                decompressor, data, read = bz2.BZ2Decompressor(), head, len(head)
                head = b""
                while data and len(head) < _SNIFF_BYTES and not decompressor.eof and read <= _SNIFF_MAX_COMPRESSED:
                    head += decompressor.decompress(data)
                    data = f.read(1 << 16)
                    read += len(data)
    except (OSError, EOFError, ValueError):
        return False
    return is_export(head)


# expat's "no element found": the document ended before its root element began
_EXPAT_NO_ELEMENTS = 3
# Bytes fed to the XML parser at a time; an error's line is found among the last two chunks.
_CHUNK = 1 << 16


@dataclass(frozen=True)
class BadPage:
    """What could not be read of a dump, yielded instead of raised when bad pages are skipped.

    Attributes:
        where: the file (and byte range) it is in, and the line (``path:line``) or compressed
            byte (``path@byte``) where it went wrong.
        reason: ``corrupt_page``, a page with malformed XML or bytes that are not UTF-8 (reading
            resumes at the next ``<page>``), or ``corrupt_stream``, corrupt compressed data (the
            rest of the file or range cannot be decompressed).
        message: what went wrong where, for the rejects report.
    """

    where: str
    reason: str
    message: str


def _line_start(tail: bytes, tail_line: int, line: int) -> int:
    """Offset in ``tail`` (whose first byte is on ``tail_line``) of the start of ``line``."""
    offset = 0
    for _ in range(line - tail_line):
        offset = tail.find(b"\n", offset) + 1
        if offset == 0:
            return len(tail)
    return offset


class _PageTags:
    """The line of every ``<page>`` tag fed to the parser, in order, for the pages' start events.

    expat's events carry no position, and its error position is where parsing stopped: for a page
    whose ``</page>`` is missing that is the end of the file, not the page.
    """

    _TAG = re.compile(rb"<page[\s>]")

    def __init__(self, first_line: int):
        self._lines: deque[int] = deque()
        self._tail = b""  # the end of the last chunk: a tag may span two chunks
        self._line = first_line  # the line of the tail's first byte

    def scan(self, chunk: bytes) -> None:
        window = self._tail + chunk
        pos, line = 0, self._line
        for match in self._TAG.finditer(window):
            line += window.count(b"\n", pos, match.start())
            pos = match.start()
            self._lines.append(line)
        # keep 5 bytes: a whole tag (6) never lies in them, so none is counted twice
        keep = len(window) - min(len(window), 5)
        self._line = line + window.count(b"\n", pos, keep)
        self._tail = window[keep:]

    def pop(self) -> int:
        """The line of the next page to start (the line being read, if a tag went unseen)."""
        return self._lines.popleft() if self._lines else self._line


def _describe(page: ET.Element) -> str:
    """``id N ('Title')`` of a page still being parsed, from the fields read so far."""
    fields = {_local(c.tag): (c.text or "").strip() for c in page}
    return f"id {fields.get('id') or 'unknown'} ({fields.get('title', '')!r})"


class _UnclosedPage(Exception):
    """A ``<page>`` started inside another: the open page has no ``</page>``."""


def _parse_pages(
    chunks: Iterator[bytes], where: str, *, skip: bool, wrapped: bool, decompressed: bool
) -> Iterator[Page | BadPage]:
    """The pages of an XML export arriving in ``chunks``, with the root element cleared as it goes.

    ``wrapped``: the chunks are bare ``<page>`` elements (a multistream range), parsed inside a
    synthetic root. ``skip``: malformed XML gives a BadPage and parsing resumes, inside a
    synthetic root, at the first ``<page>`` after the bad line (or, for a page without
    ``</page>``, at the page that starts inside it); otherwise a CorpusError.
    """
    last = "none (it fails before the first page)"
    xml = "decompressed XML" if decompressed else "XML"
    first_line = 1  # the line, in the whole input, of the current parse's first byte
    carry = b""  # what the current parse starts with: the input from a <page> after a bad one
    resumed = False
    while True:
        synthetic = wrapped or resumed
        parser = ET.XMLPullParser(events=("start", "end"))
        if synthetic:
            parser.feed(b"<mediawiki>")
        older, newer, older_line = b"", b"", first_line  # the last two chunks fed; older's first line
        tags = _PageTags(first_line)
        root: ET.Element | None = None
        open_page: tuple[ET.Element, int] | None = None  # the page being parsed and its first line
        try:
            for chunk in itertools.chain([carry], chunks, [b"</mediawiki>" if wrapped else b""]):
                older_line += older.count(b"\n")
                older, newer = newer, chunk
                tags.scan(chunk)
                parser.feed(chunk)
                for event, elem in parser.read_events():
                    if root is None:
                        root = elem
                        if _local(root.tag) != "mediawiki":
                            raise CorpusError(
                                f"{where}: root element is <{_local(root.tag)}>, not <mediawiki>; "
                                "pass a MediaWiki pages-articles export"
                            )
                    if _local(elem.tag) != "page":
                        continue
                    if event == "start":
                        line = tags.pop()
                        if open_page is not None:
                            raise _UnclosedPage(line)
                        open_page = (elem, line)
                        continue
                    page = _page_from_element(elem, where)
                    # Drop the finished page and its siblings so the tree never grows.
                    root.clear()
                    open_page = None
                    last = f"id {page.id} ({page.title!r})"
                    yield page
            parser.close()
            return
        except ET.ParseError as err:
            line, column = err.position
            if root is None and not synthetic:  # not one element opened: no dump to re-download
                if err.code == _EXPAT_NO_ELEMENTS and line == 1 and column == 0:
                    raise CorpusError(f"{where}: the file is empty (no XML); {_HINT}") from None
                raise CorpusError(
                    f"{where}: not XML ({err}); pass a MediaWiki pages-articles .xml or .xml.bz2 dump "
                    "(plain-text books are read with --corpus books)"
                ) from None
            if synthetic and line == 1:
                column -= len(b"<mediawiki>")  # the root added before the input's first line
            bad = first_line + line - 1
            inside = f", inside the page at line {open_page[1]} ({_describe(open_page[0])})" if open_page else ""
            message = f"{where}: malformed XML at line {bad}, column {column} of the {xml} ({err}){inside}; last good page: {last}"
            resume = bad + 1
        except _UnclosedPage as err:
            (resume,) = err.args
            bad = open_page[1]
            message = (
                f"{where}: the page at line {bad} of the {xml} ({_describe(open_page[0])}) has no </page>: "
                f"the next <page> starts inside it, at line {resume}"
            )
        if not skip:
            raise CorpusError(f"{message}; {_HINT}")
        yield BadPage(f"{where}:{bad}", "corrupt_page", message)
        # Resume at the first <page> that starts on line `resume` or after it.
        tail = older + newer
        search = _line_start(tail, older_line, resume)
        while (found := tail.find(b"<page>", search)) < 0:
            chunk = next(chunks, b"")
            if not chunk:
                return  # nothing after the bad page
            kept = min(len(tail), 5)  # "<page>" may span two chunks
            older_line += tail.count(b"\n", 0, len(tail) - kept)
            tail, search = tail[len(tail) - kept :] + chunk, 0
        first_line = older_line + tail.count(b"\n", 0, found)
        carry, resumed = tail[found:], True


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    return iter(lambda: stream.read(_CHUNK), b"")


# A reader's progress callback is called at most once per this many compressed bytes (and at the end).
_PROGRESS_EVERY = 1 << 20


class _Meter:
    """Tells a reader's progress callback how many compressed bytes were consumed since its last
    call: at most once per ``_PROGRESS_EVERY`` bytes, and once more at :meth:`finish`, so that
    the calls add up to the last count given."""

    def __init__(self, progress: Callable[[int], None] | None):
        self._progress = progress
        self._reported = 0

    def update(self, consumed: int, *, final: bool = False) -> None:
        """``consumed``: compressed bytes taken in since the start of the read."""
        if self._progress is None:
            return
        if consumed - self._reported >= _PROGRESS_EVERY or (final and consumed > self._reported):
            self._progress(consumed - self._reported)
            self._reported = consumed

    def finish(self, consumed: int) -> None:
        self.update(consumed, final=True)

    def follow(self, chunks: Iterator[tuple[bytes, int]]) -> Iterator[bytes]:
        """The chunks of ``(chunk, bytes consumed once it was read)``; each one counts once it
        has been parsed (when the parser asks for the next)."""
        for chunk, consumed in chunks:
            yield chunk
            self.update(consumed)


def iter_pages(
    path: str | Path, *, skip_bad_pages: bool = False, progress: Callable[[int], None] | None = None
) -> Iterator[Page | BadPage]:
    """Yield every page of a MediaWiki XML export, in file order, in constant memory.

    Args:
        path: A ``.xml`` file, or a ``.xml.bz2`` file (single- or multistream), told apart by
            their first bytes; local or on a Beam filesystem (``gs://...``).
        skip_bad_pages: Yield a :class:`BadPage` for a page with malformed XML or bytes that
            are not UTF-8 and read on from the next page, and one for corrupt compressed data
            (after which nothing more can be read), instead of raising.
        progress: Called with the number of compressed bytes of the file consumed since its
            previous call, about once per MB and once at the end: the calls of a read that ends
            (even at corrupt data skipped) add up to the file's size. It must not raise.

    Yields:
        One :class:`Page` per ``<page>`` element, redirects and all namespaces included (filter
        with :func:`page_drop_reason`).

    Raises:
        CorpusError: The file is missing, empty or not a MediaWiki export; without
            ``skip_bad_pages``, also malformed XML (the message gives line and column of the
            decompressed XML) or a truncated bz2 stream (the compressed byte offset and the last
            page read).
    """
    path = str(path)
    raw, stream = _open(path)
    last = "none (it fails before the first page)"
    meter = _Meter(progress)
    with raw, stream:
        try:
            # raw's position: the compressed bytes the bz2 decompressor has taken in so far
            chunks = meter.follow((chunk, raw.tell()) for chunk in _chunks(stream))
            for item in _parse_pages(chunks, path, skip=skip_bad_pages, wrapped=False, decompressed=stream is not raw):
                if isinstance(item, Page):
                    last = f"id {item.id} ({item.title!r})"
                yield item
        except (EOFError, OSError) as err:
            offset = raw.tell()
            if offset == 0:  # bz2 found not even a header: nothing there
                raise CorpusError(f"{path}: the file is empty; {_HINT}") from None
            message = f"{path}: truncated or corrupt compressed data near byte {offset} ({err}); last good page: {last}"
            if not skip_bad_pages:
                raise CorpusError(f"{message}; {_HINT}") from None
            size = fsio.size(path)
            rest = f"the rest, {size - offset:,} of {size:,} bytes, is unreadable"
            yield BadPage(f"{path}@{offset}", "corrupt_stream", f"{message}; {rest}")
            meter.finish(size)  # the unreadable rest is done with too
            return
        if progress is not None:
            # the whole file, even bytes bz2 ignored after the last stream
            meter.finish(fsio.size(path))


def iter_pages_in_range(
    path: str,
    start: int,
    end: int,
    *,
    skip_bad_pages: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Page | BadPage]:
    """Yield the pages of the bz2 streams in ``[start, end)`` of a multistream dump.

    The streams hold bare ``<page>`` elements; they are parsed inside a synthetic root, so that
    each range is read independently of the rest of the dump (one range per Beam worker).
    ``skip_bad_pages`` as for :func:`iter_pages`. ``progress`` too: its calls add up to
    ``end - start``. The range is decompressed at once, so its compressed bytes are counted
    in proportion to the decompressed XML parsed.

    Raises:
        CorpusError: for corrupt compressed data or (without ``skip_bad_pages``) malformed XML,
            naming the byte range.
    """
    where = f"{path} (bytes {start}-{end})"
    meter = _Meter(progress)
    try:
        with fsio.read_stream(path) as raw:
            raw.seek(start)
            xml = bz2.decompress(raw.read(end - start))
    except (EOFError, OSError, ValueError) as err:
        message = f"{where}: corrupt compressed stream ({err})"
        if not skip_bad_pages:
            raise CorpusError(f"{message}; {_HINT}") from None
        yield BadPage(f"{path}@{start}", "corrupt_stream", message)
        meter.finish(end - start)
        return
    xml = xml.rstrip()
    if xml.endswith(b"</mediawiki>"):  # the last range carries the dump's footer
        xml = xml[: -len(b"</mediawiki>")]
    # decompressed at once: the range's bytes count in proportion to the XML parsed
    size = end - start
    chunks = ((xml[i : i + _CHUNK], size * min(i + _CHUNK, len(xml)) // len(xml)) for i in range(0, len(xml), _CHUNK))
    yield from _parse_pages(meter.follow(chunks), where, skip=skip_bad_pages, wrapped=True, decompressed=True)
    meter.finish(size)
