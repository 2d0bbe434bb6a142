"""Domain corpora: text, JSON Lines, Parquet and documentation files, read as raw documents.

JSONL and blank-line separated text are read line by line, Parquet batch by batch: memory follows
the largest document, not the file. A bad record (not JSON, no text field, not UTF-8) stops the
read with a message naming file and line (``on_error="fail"``) or comes out as a BadRecord that
the caller counts under its reason (``on_error="skip"``).
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import zstandard

from electra_data import fsio
from electra_data.books import decode_text, decode_utf8, text_encoding
from electra_data.errors import CorpusError, UserError
from electra_data.markup import markdown_title, markdown_to_text, rst_title, rst_to_text

__all__ = ["FORMATS", "RawDocument", "BadRecord", "infer_format", "iter_documents"]

FORMATS = ("text", "jsonl", "parquet", "rst", "markdown")
_SUFFIXES = {  # in match order: ".rst.txt" is reStructuredText, not text
    ".jsonl.gz": "jsonl", ".jsonl.zst": "jsonl", ".jsonl": "jsonl", ".parquet": "parquet",
    ".rst.txt": "rst", ".txt": "text", ".rst": "rst", ".markdown": "markdown", ".md": "markdown",
}


@dataclass(frozen=True)
class RawDocument:
    """A document as read, before cleaning.

    Attributes:
        id: ``"<file>"`` (one document per file), ``"<file>:<line>"`` (1-based line where it
            starts: JSONL, blank-line separated text) or ``"<file>:<row>"`` (0-based: Parquet).
        title: A record's ``title`` field if it is a string (else ""), a documentation file's
            first heading, a text file's name.
        text: The document's text.
    """

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BadRecord:
    """A record skipped under ``on_error="skip"``.

    Attributes:
        id: Where it is, as in :attr:`RawDocument.id`.
        reason: ``"invalid_utf8"`` (``"invalid_utf16"``, ``"invalid_utf32"`` for a whole file
            with that byte-order mark), ``"bad_json"``, ``"missing_text_field"`` or
            ``"corrupt_file"`` (truncated or unreadable data: the rest of the file is skipped).
        message: What the ``"fail"`` policy would have raised.
    """

    id: str
    reason: str
    message: str


_Records = Iterator["RawDocument | BadRecord"]


def infer_format(path: str) -> str:
    """Return the format of ``path`` from its extension (one of :data:`FORMATS`).

    Raises:
        UserError: The extension is not one this reader knows.
    """
    name = str(path).lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    choices = ", ".join(FORMATS)
    raise UserError(f"{path}: cannot tell the format from the name; pass --format ({choices})")


class _Zstd(io.RawIOBase):
    """Concatenated zstd frames, decompressed as read; EOFError where a truncated file ends.

    zstandard's own ``stream_reader`` ends silently there: a cut-off download would pass.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw, self._out, self._rest = raw, b"", b""
        self._frame = zstandard.ZstdDecompressor().decompressobj()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out:
            chunk, self._rest = self._rest or self._raw.read(1 << 20), b""
            if not chunk:
                if not self._frame.eof:
                    raise EOFError("the zstd stream ends inside a frame")
                return 0
            if self._frame.eof:  # the next frame of a multi-frame file
                self._frame = zstandard.ZstdDecompressor().decompressobj()
            self._out = self._frame.decompress(chunk)
            self._rest = self._frame.unused_data if self._frame.eof else b""
        size = min(len(buffer), len(self._out))
        buffer[:size], self._out = self._out[:size], self._out[size:]
        return size

    def close(self) -> None:
        self._raw.close()
        super().close()


def _open(path: str) -> IO[bytes]:
    """Open a local or Beam-filesystem file, decompressing gzip and zstd (by magic number)."""
    if not fsio.exists(path) or os.path.isdir(path):
        raise CorpusError(f"{path}: no such file; pass the path of an existing corpus file")
    if fsio.is_local(path):
        try:
            raw: IO[bytes] = open(path, "rb")
        except OSError as err:
            raise CorpusError(f"{path}: cannot open it ({err.strerror}); check its permissions") from None
    else:  # gs:// and other Beam filesystems: Dataflow workers read the corpus where it lies
        from apache_beam.io.filesystems import FileSystems

        raw = FileSystems.open(path, compression_type="uncompressed")
    stream = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    magic = stream.peek(4)[:4]
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream)
    if magic == b"\x28\xb5\x2f\xfd":
        return io.BufferedReader(_Zstd(stream), 1 << 20)
    return stream


# What reading a damaged gzip or zstd stream raises.
_CORRUPT = (EOFError, OSError, zlib.error, zstandard.ZstdError)


def _bad(where: str, reason: str, detail: str, on_error: str) -> BadRecord:
    """The BadRecord for a bad record under ``skip``; under ``fail``, the CorpusError instead."""
    if on_error == "fail":
        raise CorpusError(f"{where}: {detail}; fix it, or pass --on-error skip to skip bad records")
    return BadRecord(where, reason, f"{where}: {detail}")


def _lines(path: str, on_error: str) -> Iterator[tuple[int, bytes | BadRecord]]:
    """Yield ``(line number, line without its newline)``; a corrupt stream ends with a BadRecord,
    and a UTF-16 or UTF-32 file is one (split at its newline bytes, its lines would end inside a
    character)."""
    number = 0
    with _open(path) as stream:
        try:
            encoding = text_encoding(stream.peek(4)[:4]).upper()
            if encoding != "UTF-8":
                detail = (f"{encoding} text (it starts with a byte-order mark), but this format is read line by line "
                          f"as UTF-8; convert it (`iconv -f {encoding} -t UTF-8`)")  # fmt: skip
                yield 1, _bad(f"{path}:1", "invalid_utf8", detail, on_error)
                return
            for number, line in enumerate(stream, 1):
                yield number, line.rstrip(b"\r\n")
        except _CORRUPT as err:
            where = f"{path}:{number + 1}"
            yield number + 1, _bad(where, "corrupt_file", f"corrupt data ({err})", on_error)


def _decode(data: bytes, where: str, on_error: str, unit: str = "file") -> str | BadRecord:
    """Decode a whole file (UTF-8, or UTF-16/32 after a byte-order mark) or a ``unit`` of one (a
    line: UTF-8); bad bytes give a BadRecord (or CorpusError) with their offset in ``unit``."""
    try:
        return decode_text(data, where) if unit == "file" else decode_utf8(data, where, unit)
    except CorpusError as err:
        encoding = text_encoding(data) if unit == "file" else "utf-8"
        detail = str(err)[len(where) + 2 :]  # the message without the "where: " it starts with
        return _bad(where, f"invalid_{encoding.replace('-', '')}", detail, on_error)


# JSON can escape half of a character ("\ud83d", an emoji cut in two by a scraper) and json.loads
# keeps it as a lone surrogate, which UTF-8 cannot encode: nothing downstream could write it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _jsonl(path: str, text_field: str, on_error: str) -> _Records:
    for number, line in _lines(path, on_error):
        where = f"{path}:{number}"
        text = line if isinstance(line, BadRecord) else _decode(line, where, on_error, "line")
        if isinstance(text, BadRecord):
            yield text
            continue
        if not text.strip():
            continue  # blank lines (a trailing newline, padding) are no records
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            yield _bad(where, "bad_json", f"not JSON ({err})", on_error)
            continue
        value = record.get(text_field) if isinstance(record, dict) else None
        if isinstance(value, str):
            title = record.get("title")
            title = title if isinstance(title, str) else ""
            yield RawDocument(where, _LONE_SURROGATE.sub("", title), _LONE_SURROGATE.sub("", value))
        else:
            yield _bad(where, "missing_text_field", f"no text in field {text_field!r}", on_error)


def _blank_line_blocks(path: str, on_error: str) -> _Records:
    """One document per run of non-blank lines; a block with bad bytes is its first bad line."""
    block: list[str | BadRecord] = []
    start = 0
    # A blank line after the last line ends the last block.
    for number, line in itertools.chain(_lines(path, on_error), [(0, b"")]):
        if isinstance(line, BadRecord):
            yield line
            return
        if line.strip():
            start = start if block else number
            block.append(_decode(line, f"{path}:{number}", on_error, "line"))
        elif block:
            bad = [b for b in block if isinstance(b, BadRecord)]
            text = "\n".join(b for b in block if isinstance(b, str))
            yield bad[0] if bad else RawDocument(f"{path}:{start}", os.path.basename(path), text)
            block = []


def _parquet(path: str, text_field: str, on_error: str) -> _Records:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = 0
    with _open(path) as stream:
        try:
            table = pq.ParquetFile(stream)
            schema = table.schema_arrow
            if text_field not in schema.names:
                raise UserError(
                    f"{path}: no column {text_field!r} (columns: {', '.join(schema.names)}); "
                    "pass --text-field with the column that holds the text"
                )
            has_title = "title" in schema.names and text_field != "title"
            columns = [text_field, "title"] if has_title else [text_field]
            # 256 rows a batch: a few MB of text in memory, whatever the row group size.
            for batch in table.iter_batches(batch_size=256, columns=columns):
                titles = batch.column("title").to_pylist() if has_title else itertools.repeat("")
                for value, title in zip(batch.column(text_field).to_pylist(), titles):
                    where, row = f"{path}:{row}", row + 1
                    if isinstance(value, str):
                        yield RawDocument(where, title if isinstance(title, str) else "", value)
                    else:
                        yield _bad(where, "missing_text_field", f"null {text_field!r}", on_error)
        except (pa.ArrowException, OSError) as err:
            yield _bad(f"{path}:{row}", "corrupt_file", f"corrupt data ({err})", on_error)


def _whole_file(path: str, fmt: str, on_error: str, keep_code: bool) -> _Records:
    try:
        with _open(path) as stream:
            data = stream.read()
    except _CORRUPT as err:
        yield _bad(path, "corrupt_file", f"corrupt data ({err})", on_error)
        return
    text = _decode(data, path, on_error)
    if isinstance(text, BadRecord):
        yield text
        return
    title = os.path.basename(path)
    if fmt == "rst":
        title, text = rst_title(text) or title, rst_to_text(text, keep_code=keep_code)
    elif fmt == "markdown":
        title, text = markdown_title(text) or title, markdown_to_text(text, keep_code=keep_code)
    if text.strip():
        yield RawDocument(path, title, text)


def iter_documents(
    path: str,
    fmt: str,
    *,
    text_field: str = "text",
    doc_separator: str = "file",
    on_error: str = "fail",
    keep_code: bool = False,
) -> _Records:
    """Return an iterator over the documents of one corpus file, in file order.

    Args:
        path: A local file or a Beam filesystem path (``gs://...``). JSONL and text may be
            gzip or zstd compressed (recognised by their magic number, whatever the name).
        fmt: One of :data:`FORMATS` (see :func:`infer_format`).
        text_field: The JSONL field or Parquet column holding the text (default ``"text"``).
        doc_separator: For text: ``"file"`` (one document per file, the default) or
            ``"blank-line"`` (one per block of lines between blank lines).
        on_error: ``"fail"`` (default) raises on the first bad record; ``"skip"`` yields a
            :class:`BadRecord` for it and goes on (corrupt data ends the file, though).
        keep_code: For rst and markdown: keep code blocks (default False).

    Returns:
        A RawDocument per document, a BadRecord per skipped record; none from an empty file.

    Raises:
        UserError: An unknown option value (at once); no ``text_field`` column in a Parquet file.
        CorpusError: No such file (at once); under ``fail``, a bad record or corrupt data (the
            message names the file and line or row).
    """
    separators = ("file", "blank-line")
    for name, value, allowed in (("format", fmt, FORMATS), ("on-error", on_error, ("fail", "skip")),
                                 ("doc-separator", doc_separator, separators)):
        if value not in allowed:
            raise UserError(f"unknown {name} {value!r}; use one of {', '.join(allowed)}")
    path = str(path)
    with _open(path) as stream:  # at once: a missing file fails here, not at the first next()
        try:
            if not stream.peek(1):
                return iter(())  # an empty file has no documents, whatever its format
        except _CORRUPT as err:  # a compressed file damaged at its start
            return iter([_bad(path, "corrupt_file", f"corrupt data at its start ({err})", on_error)])
    if fmt in ("jsonl", "parquet"):
        return (_jsonl if fmt == "jsonl" else _parquet)(path, text_field, on_error)
    if fmt == "text" and doc_separator == "blank-line":
        return _blank_line_blocks(path, on_error)
    return _whole_file(path, fmt, on_error, keep_code)
