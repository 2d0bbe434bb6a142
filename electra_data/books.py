"""Plain-text books (Project Gutenberg e-texts and the like) turned into clean documents.

A Gutenberg file wraps the book in a header (title, author, release date, a "START" marker) and a
licence footer that is longer than some books. Both go, in every style the archive has used:
``*** START OF THE/THIS PROJECT GUTENBERG EBOOK ...`` (with or without the space after the stars,
the title sometimes wrapped onto a second line), the 1990s ``*END*THE SMALL PRINT! ...`` line that
closes the old licence header, and the footers ``*** END OF ...``, ``End of the Project Gutenberg
EBook/Etext of ...``, ``End of Project Gutenberg's ...``; the producer credit ("Produced by ...")
that opens the body is dropped too. Books are hard-wrapped at ~70 columns, so wrapped lines are
rejoined into paragraphs, while verse, tables of contents and headings keep their lines.
"""

from __future__ import annotations

import re

from electra_data.errors import CorpusError
from electra_data.wiki import is_export

__all__ = [
    "text_encoding", "decode_utf8", "decode_text", "not_text", "strip_gutenberg", "unwrap_paragraphs", "book_title",
    "read_book",
]

# Byte-order marks, UTF-32 first: the UTF-32LE mark begins with the UTF-16LE one.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"), (b"\xef\xbb\xbf", "utf-8"),
)
# What a file holds when it starts with these bytes, and how to get text out of it.
_NOT_TEXT = (
    (b"\x1f\x8b", "gzip-compressed data", "decompress it (gunzip)"),
    (b"BZh", "bz2-compressed data", "decompress it (bunzip2); if it is a MediaWiki dump, read it with --corpus wiki or wiki+books"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data", "decompress it (unzstd)"),
    (b"\xfd7zXZ\x00", "xz-compressed data", "decompress it (unxz)"),
    (b"PK\x03\x04", "a zip archive", "extract it (unzip)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive", "extract it (7z x)"),
    (b"%PDF-", "a PDF document", "extract its text first (e.g. pdftotext)"),
)


def text_encoding(data: bytes) -> str:
    """The encoding a byte-order mark names (``utf-8``, ``utf-16``, ``utf-32``); ``utf-8`` without one."""
    return next((encoding for bom, encoding in _BOMS if data.startswith(bom)), "utf-8")


def not_text(data: bytes) -> tuple[str, str] | None:
    """Say what a file is when it is no plain text: ``(what it is, what to do)``, else None.

    Judged by its first bytes: an archive or compressed file by its magic number, a MediaWiki
    export by its root element, other binary data by NUL bytes (which no text file holds).
    """
    for magic, what, advice in _NOT_TEXT:
        if data.startswith(magic):
            return what, advice
    if is_export(data[:4096]):
        return "a MediaWiki XML dump", "read dumps with --corpus wiki, or with --corpus wiki+books beside books"
    if text_encoding(data) == "utf-8" and b"\x00" in data[:4096]:
        return "binary data (it holds NUL bytes)", (
            "give a plain-text file; if it is UTF-16 text without a byte-order mark, "
            "convert it first (`iconv -f UTF-16LE -t UTF-8`)"
        )
    return None


def decode_utf8(data: bytes, source: str, unit: str = "file") -> str:
    """Decode UTF-8 bytes, dropping a leading UTF-8 byte-order mark.

    For what is read piece by piece (a line of JSONL): only a whole file can be UTF-16 or UTF-32.

    Args:
        data: The bytes of a file, or of a ``unit`` of one (``"line"``).
        source: Where the bytes are, for the error message.
        unit: What ``data`` is, for the error message.

    Returns:
        The text, line endings untouched.

    Raises:
        CorpusError: The bytes are not valid UTF-8; the message gives the byte offset in the
            ``unit`` and a fix that fits the bytes.
    """
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        encoding = text_encoding(data)
        if encoding != "utf-8":
            name = encoding.upper()
            advice = f"it is {name} text (it starts with a byte-order mark): convert it to UTF-8 (`iconv -f {name} -t UTF-8`)"
        elif refusal := not_text(data):
            advice = f"it looks like {refusal[0]}: {refusal[1]}"
        else:  # text in a legacy 8-bit encoding, most often Windows-1252 or Latin-1
            advice = "re-encode it as UTF-8 (e.g. `iconv -f cp1252 -t utf-8` for Windows or Latin-1 text)"
        raise CorpusError(f"{source}: invalid UTF-8 at byte {skip + err.start} of the {unit} ({err.reason}); {advice}") from None


def decode_text(data: bytes, source: str) -> str:
    """Decode a whole text file: UTF-8, or UTF-16 or UTF-32 when a byte-order mark says so.

    Args:
        data: The raw file contents.
        source: The file name, for the error message.

    Returns:
        The text without its byte-order mark, line endings untouched.

    Raises:
        CorpusError: The bytes do not decode; the message gives the byte offset and a fix.
    """
    encoding = text_encoding(data)
    if encoding == "utf-8":
        return decode_utf8(data, source)
    try:
        return data.decode(encoding)  # the codec reads the byte order from the mark and drops it
    except UnicodeDecodeError as err:
        raise CorpusError(
            f"{source}: invalid {encoding.upper()} at byte {err.start} of the file ({err.reason}), after a "
            f"{encoding.upper()} byte-order mark; re-save the file as UTF-8"
        ) from None


# Markers are matched at the start of a line and in any case: the archive has changed their case
# and spacing over the years ("***START OF THE", "*** START OF THIS", "*END*THE SMALL PRINT!").
# "[^*]*" lets a START marker whose title wraps onto the next line end at its closing stars.
_START = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*START OF (?:THE|THIS) (?:COPYRIGHTED )?PROJECT GUTENBERG[^*]*\*+"
    r"|\*END\*?[ \t]*THE SMALL PRINT)[^\n]*\n?",
    re.IGNORECASE | re.MULTILINE,
)
_END = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*END OF (?:THE|THIS) (?:COPYRIGHTED )?PROJECT GUTENBERG"
    r"|End of (?:the |this )?Project Gutenberg)",
    re.IGNORECASE | re.MULTILINE,
)
# The volunteers' credit that the archive puts first in the body: not part of the book.
_CREDIT = re.compile(
    r"\s*(?:Produced by|E-?text prepared by|This e-?(?:text|book) was (?:prepared|produced) by"
    r"|Transcribed from)\b.*?(?:\n[ \t\r]*\n|\Z)",
    re.IGNORECASE | re.DOTALL,
)


def strip_gutenberg(text: str) -> str:
    """Remove the Project Gutenberg header, producer credit and licence footer.

    Args:
        text: A whole e-text (CRLF or LF line endings).

    Returns:
        The text between the start and the end marker. Without a start marker the text is kept
        from its beginning, without an end marker to its end; text with neither (not a
        Gutenberg book) is returned unchanged.
    """
    start = _START.search(text)
    begin = start.end() if start else 0
    end = _END.search(text, begin)
    body = text[begin : end.start() if end else len(text)]
    if start:
        credit = _CREDIT.match(body)
        body = body[credit.end() :] if credit else body
    return body


_TITLE = re.compile(r"^Title:[ \t]*(\S[^\r\n]*)", re.MULTILINE)


def book_title(text: str) -> str | None:
    """Return the title from a Gutenberg header's ``Title:`` line.

    Indented lines under it hold the subtitle ("A Story of the French Revolution"), which is
    left out, as the archive's own catalogue does.

    Args:
        text: The whole e-text, before :func:`strip_gutenberg`.

    Returns:
        The title with whitespace collapsed, or None when the header (the text before the start
        marker, or the first 60 lines of a text without one) has no ``Title:`` line.
    """
    start = _START.search(text)
    header = text[: start.start()] if start else "\n".join(text.split("\n", 60)[:60])
    match = _TITLE.search(header)
    return " ".join(match.group(1).split()) if match else None


_BLANK = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")
_ALNUM = re.compile(r"\w")


def _wrap_width(blocks: list[list[str]]) -> int:
    """The column a book is wrapped at: the 95th percentile length of lines that wrap.

    A percentile, not the maximum, so that a few over-long lines (URLs, tables) do not count.
    """
    lengths = sorted(len(line) for block in blocks for line in block[:-1])
    return lengths[int(len(lengths) * 0.95)] if lengths else 0


def _is_wrapped(block: list[str], width: int) -> bool:
    """Whether a block's line breaks come from wrapping rather than from the author.

    A break is a wrap when the next line's first word would have made the line run past 80% of
    the wrap width (wrappers do not fill every line to the last column). A block counts as
    wrapped prose when at least half of its breaks are wraps, so that one early break (before
    a long word) does not turn a paragraph into verse, nor one long line verse into prose.
    """
    limit = 0.8 * width
    wraps = sum(
        len(line) + 1 + len(nxt.split(None, 1)[0]) > limit for line, nxt in zip(block, block[1:])
    )
    return 2 * wraps >= len(block) - 1


def unwrap_paragraphs(text: str) -> str:
    """Rejoin hard-wrapped lines into paragraphs, one blank line between paragraphs.

    Blocks of lines between blank lines are paragraphs. A wrapped block (see ``_is_wrapped``) is
    joined into one line. Any other block of several lines (verse, a table of contents, an
    address, a heading over its subtitle) keeps its line breaks as single newlines inside one
    paragraph: the sentence splitter reads them as spaces, and a verse line stays a line. A
    heading on its own line is its own paragraph. Blocks without a letter or digit (section
    dividers such as ``*****``) are dropped. Lines lose leading and trailing whitespace.

    Args:
        text: Book text with CRLF, CR or LF line endings.

    Returns:
        The paragraphs joined by ``"\\n\\n"``, without leading or trailing blank lines.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [
        lines
        for chunk in _BLANK.split(text)
        if (lines := [line.rstrip() for line in chunk.split("\n") if line.strip()])
    ]
    width = _wrap_width(blocks)
    paragraphs = []
    for block in blocks:
        joiner = " " if len(block) > 1 and _is_wrapped(block, width) else "\n"
        paragraph = joiner.join(line.strip() for line in block)
        if _ALNUM.search(paragraph):
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def read_book(data: bytes, source: str) -> tuple[str | None, str]:
    """Decode a book file and return its title and cleaned body.

    Args:
        data: The raw file contents: UTF-8 (with or without a BOM), or UTF-16 or UTF-32 with one.
        source: The file name, for error messages.

    Returns:
        ``(title, body)``: the ``Title:`` header (None without one) and the text without the
        Gutenberg header and footer, its paragraphs unwrapped.

    Raises:
        CorpusError: The file is no plain text (compressed, an archive, a MediaWiki dump, binary:
            see :func:`not_text`), or its text does not decode.
    """
    if refusal := not_text(data):
        what, advice = refusal
        raise CorpusError(f"{source}: {what}, not a plain-text book; {advice}")
    text = decode_text(data, source)
    return book_title(text), unwrap_paragraphs(strip_gutenberg(text))
