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

__all__ = ["decode_text", "strip_gutenberg", "unwrap_paragraphs", "book_title", "read_book"]

_BOM = b"\xef\xbb\xbf"


def decode_text(data: bytes, source: str) -> str:
    """Decode UTF-8 bytes, dropping a leading byte-order mark.

    Args:
        data: The raw file contents.
        source: The file name, for the error message.

    Returns:
        The text, line endings untouched.

    Raises:
        CorpusError: The bytes are not valid UTF-8; the message gives the byte offset.
    """
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(
            f"{source}: invalid UTF-8 at byte {skip + err.start} ({err.reason}); re-encode the "
            "file as UTF-8 (e.g. `iconv -f cp1252 -t utf-8`) or pass --on-error skip to skip it"
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
        data: The raw file contents (UTF-8, with or without a BOM).
        source: The file name, for error messages.

    Returns:
        ``(title, body)``: the ``Title:`` header (None without one) and the text without the
        Gutenberg header and footer, its paragraphs unwrapped.

    Raises:
        CorpusError: The file is not valid UTF-8.
    """
    text = decode_text(data, source)
    return book_title(text), unwrap_paragraphs(strip_gutenberg(text))
