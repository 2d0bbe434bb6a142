"""Tests for electra_data.books on real Project Gutenberg e-texts.

The four bundled books (sample_data/books) keep their Gutenberg headers, licence footers, CRLF
line endings and BOMs. The 23 books of the shared data directory (headers from 1996 to 2020)
are checked when that directory is present beside the repository.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from corpus_text import BOOKS

from electra_data.books import (
    book_title,
    decode_text,
    read_book,
    strip_gutenberg,
    unwrap_paragraphs,
)
from electra_data.errors import CorpusError

SHARED_BOOKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "books" / "gutenberg"

# (file, title, the book's first words, its last words)
SAMPLES = [
    ("11-0.txt", "Alice’s Adventures in Wonderland",
     "ALICE’S ADVENTURES IN WONDERLAND\n\nLewis Carroll", "and the happy summer days.\n\nTHE END"),
    ("35-0.txt", "The Time Machine",
     "The Time Machine\n\nAn Invention", "still lived on in the heart of man."),
    ("219-0.txt", "Heart of Darkness",
     "HEART OF DARKNESS\n\nBy Joseph Conrad", "into the heart of an immense darkness."),
    ("pg7256.txt", "The Gift of the Magi",
     "THE GIFT OF THE MAGI\n\nby O. Henry", "Everywhere they are wisest. They are the magi."),
]
# Words of the Gutenberg licence and header that no book body contains.
LICENCE = re.compile(
    r"Project Gutenberg-tm|Literary Archive Foundation|\*\*\* ?(START|END) OF TH|use of anyone "
    r"anywhere|^Produced by|PROJECT GUTENBERG",
    re.MULTILINE,
)


@pytest.mark.parametrize(("name", "title", "first", "last"), SAMPLES)
def test_read_book_strips_header_and_footer(name, title, first, last):
    data = (BOOKS / name).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") or name == "35-0.txt"  # 35-0 starts with CRLF
    got_title, body = read_book(data, name)
    assert got_title == title
    assert body.startswith(first) and body.endswith(last)
    assert "gutenberg" not in body[:2000].lower() and "gutenberg" not in body[-2000:].lower()
    assert not LICENCE.search(body)
    assert "\r" not in body and "\ufeff" not in body
    assert "\n\n\n" not in body and body == body.strip()


@pytest.mark.parametrize("name", [s[0] for s in SAMPLES])
def test_read_book_rejoins_wrapped_paragraphs(name):
    _, body = read_book((BOOKS / name).read_bytes(), name)
    paragraphs = body.split("\n\n")
    long = [p for p in paragraphs if len(p.split()) >= 40]
    # Nearly every long paragraph is wrapped prose, now one line; the few left are verse.
    assert sum("\n" not in p for p in long) >= 0.95 * len(long)
    # A kept line break follows a short line (verse, contents), never a line of wrapped prose.
    kept = [line for p in paragraphs if "\n" in p for line in p.split("\n")]
    assert all(len(line) <= 60 for line in kept)


def test_alice_paragraph_joined_and_verse_kept():
    _, body = read_book((BOOKS / "11-0.txt").read_bytes(), "11-0.txt")
    paragraphs = body.split("\n\n")
    assert (
        "Alice was beginning to get very tired of sitting by her sister on the bank, and of "
        "having nothing to do: once or twice she had peeped into the book her sister was "
        "reading, but it had no pictures or conversations in it, ‘and what is the use of a "
        "book,’ thought Alice ‘without pictures or conversations?’"
    ) in paragraphs
    assert "CHAPTER I. Down the Rabbit-Hole" in paragraphs  # a heading is its own paragraph
    assert (
        "‘How doth the little crocodile\nImprove his shining tail,\nAnd pour the waters of the "
        "Nile\nOn every golden scale!"
    ) in paragraphs  # verse keeps its lines


def test_unwrap_paragraphs_line_endings_and_dividers():
    # From The Time Machine (35-0.txt), with CR-only line endings and a "*****" divider.
    text = (
        "\r\r The Time Traveller (for so it will be convenient to speak of him) was\r"
        "expounding a recondite matter to us.\r\r\r\r       *       *       *\r\r"
        "I Introduction\rII The Machine\r"
    )
    assert unwrap_paragraphs(text) == (
        "The Time Traveller (for so it will be convenient to speak of him) was expounding a "
        "recondite matter to us.\n\nI Introduction\nII The Machine"
    )


def test_strip_gutenberg_leaves_other_text_alone():
    text = "Chapter 1\r\n\r\nNo Gutenberg markers in this text.\r\n"
    assert strip_gutenberg(text) == text
    assert book_title(text) is None


# Header and footer lines of the styles the archive used before 2000 and after 2020.
_BODY = "It was the best of times, it was the worst of times,\nit was the age of wisdom.\n"
OLD_STYLES = [
    pytest.param(
        "The Project Gutenberg Etext of A Tale of Two Cities, by Charles Dickens\n"
        "**Welcome To The World of Free Plain Vanilla Electronic Texts**\n\n"
        "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n",
        "\nEnd of The Project Gutenberg Etext of A Tale of Two Cities\n",
        id="1990s-small-print",
    ),
    pytest.param(
        "Title: A Tale of Two Cities\n\n*END THE SMALL PRINT! FOR PUBLIC DOMAIN EBOOKS*\n\n"
        "This etext was produced by Judith Boss, Omaha, Nebraska.\n\n",
        "\nEnd of Project Gutenberg Etext A Tale of Two Cities, by Charles Dickens\n",
        id="2000s-etext",
    ),
    pytest.param(
        "Title: A Tale of Two Cities\n\n*** START OF THE PROJECT GUTENBERG EBOOK A TALE OF TWO\n"
        "CITIES ***\n\n",
        "\n*** END OF THE PROJECT GUTENBERG EBOOK A TALE OF TWO CITIES ***\n\nSection 1.\n",
        id="2020s-wrapped-marker",
    ),
    pytest.param(
        "Title: A Tale of Two Cities\n\n***START OF THE PROJECT GUTENBERG EBOOK A TALE***\n",
        "\n***END OF THE PROJECT GUTENBERG EBOOK A TALE***\n",
        id="no-space-after-stars",
    ),
]


@pytest.mark.parametrize(("header", "footer"), OLD_STYLES)
def test_strip_gutenberg_styles(header, footer):
    assert unwrap_paragraphs(strip_gutenberg(header + _BODY + footer)) == (
        "It was the best of times, it was the worst of times, it was the age of wisdom."
    )


def test_decode_text_rejects_invalid_utf8_with_offset():
    data = (BOOKS / "11-0.txt").read_bytes()
    broken = data[:1000] + b"\x93" + data[1000:]  # a Windows-1252 quote inside UTF-8 text
    with pytest.raises(CorpusError, match=r"11-0\.txt: invalid UTF-8 at byte 1000 .*iconv"):
        decode_text(broken, "11-0.txt")
    with pytest.raises(CorpusError, match="at byte 1000"):
        read_book(broken, "11-0.txt")
    assert decode_text(data, "11-0.txt") == data[3:].decode("utf-8")  # the BOM goes, no more


def _shared_manifest() -> list[dict[str, str]]:
    if not SHARED_BOOKS.is_dir():
        pytest.skip(f"shared books not found at {SHARED_BOOKS}")
    with open(SHARED_BOOKS / "MANIFEST.tsv", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_all_shared_books():
    rows = _shared_manifest()
    assert len(rows) == 23
    for row in rows:
        title, body = read_book((SHARED_BOOKS / row["file"]).read_bytes(), row["file"])
        assert title == row["title"], row["file"]
        assert len(body.split()) >= 0.9 * int(row["body_words"]), row["file"]
        assert not LICENCE.search(body), (row["file"], LICENCE.search(body))
        assert "\r" not in body and "\ufeff" not in body, row["file"]
