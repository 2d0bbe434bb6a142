"""Tests for electra_data.clean on real text: a Project Gutenberg book and Wikipedia wikitext."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from pathlib import Path

import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-windows-1252 codec)
import pytest

from electra_data.clean import (
    DROP_REASONS,
    QualityConfig,
    clean_text,
    fix_encoding,
    normalize_unicode,
    normalize_whitespace,
    quality_drop_reason,
    remove_control_chars,
)

_BOOK = "11-0.txt"  # Alice's Adventures in Wonderland: UTF-8 BOM, CRLF, curly quotes
_DIRS = [
    Path(__file__).parents[1] / "sample_data" / "books",
    Path("/work/shared/data/books/gutenberg"),
]
BOOK_PATH = next((d / _BOOK for d in _DIRS if (d / _BOOK).exists()), None)

# Alice's Adventures in Wonderland, chapter I (public domain), as it is in the Gutenberg file.
ALICE = (
    "Alice was beginning to get very tired of sitting by her sister on the\r\n"
    "bank, and of having nothing to do: once or twice she had peeped into the\r\n"
    "book her sister was reading, but it had no pictures or conversations in\r\n"
    "it, \u2018and what is the use of a book,\u2019 thought Alice \u2018without pictures or\r\n"
    "conversations?\u2019\r\n"
)
# A title inside a reference of the Anarchism article: full-width "？！" among Japanese text.
CJK_FULL_WIDTH = "潜水資格を持っていないインストラクターが多い？！"
# Algorithm, the lead of the Wikipedia article: a real text too short to be a document.
ALGORITHM_LEAD = (
    "In mathematics and computer science, an algorithm is a self-contained step-by-step set of "
    "operations to be performed. Algorithms perform calculation, data processing, and/or automated "
    "reasoning tasks."
)


@pytest.fixture(scope="module")
def book() -> str:
    if BOOK_PATH is None:
        pytest.skip(f"sample book {_BOOK} not found")
    return BOOK_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def clean_book(book: str) -> str:
    return clean_text(book)


# --- cleaning -------------------------------------------------------------------------------


# "sloppy-windows-1252" (registered by ftfy.bad_codecs) is Windows-1252 that also decodes the five
# undefined bytes, as browsers and many converters do; the strict codec cannot decode "”".
@pytest.mark.parametrize("codec", ["latin-1", "sloppy-windows-1252"])
def test_fix_encoding_repairs_mojibake(codec: str) -> None:
    garbled = ALICE.encode("utf-8").decode(codec)
    assert "\u00e2\u20ac" in garbled or "\u00e2\u0080" in garbled  # "â€œ"-style mojibake
    assert fix_encoding(garbled) == ALICE


@pytest.mark.parametrize("text", [CJK_FULL_WIDTH, "Aikido (合気道, Aikidō)"])
def test_fix_encoding_repairs_garbled_cjk(text: str) -> None:
    assert fix_encoding(text.encode("utf-8").decode("sloppy-windows-1252")) == text


@pytest.mark.parametrize(
    "text",
    [
        CJK_FULL_WIDTH,  # full-width "？！" must not become ASCII "?!"
        "ＡＢＣ　１２３",
        ALICE,  # curly quotes stay curly
        'print(\u201chello\u201d) and &lt;ref&gt; in documentation',
        "Al-Khwārizmī (خوارزمی, c. 780-850)",
    ],
)
def test_fix_encoding_leaves_good_text_alone(text: str) -> None:
    assert fix_encoding(text) == text


def test_fix_encoding_leaves_a_real_book_alone(book: str) -> None:
    assert fix_encoding(book) == book


def test_normalize_unicode_composes_but_keeps_compatibility_forms() -> None:
    decomposed = unicodedata.normalize("NFD", "Aikidō, Shqipëria, café")
    assert decomposed != "Aikidō, Shqipëria, café"
    assert normalize_unicode(decomposed) == "Aikidō, Shqipëria, café"
    for text in (CJK_FULL_WIDTH, "ﬁnal", "x²"):
        assert normalize_unicode(text) == text


@pytest.mark.parametrize(
    ("char", "replacement"),
    [
        ("\x00", ""), ("\x07", ""), ("\x1b", ""), ("\x7f", ""), ("\x85", ""), ("\x9b", ""),
        ("\x0b", ""), ("\x0c", ""), ("\u00ad", ""), ("\u200b", ""), ("\u2060", ""), ("\ufeff", ""),
        ("\t", " "), ("\n", "\n"), ("\r", "\r"), ("\u200c", "\u200c"), ("\u200d", "\u200d"),
    ],
)
def test_remove_control_chars(char: str, replacement: str) -> None:
    assert remove_control_chars(f"Alice{char}was") == f"Alice{replacement}was"


def test_remove_control_chars_strips_the_book_bom(book: str) -> None:
    assert book.startswith("\ufeff")
    assert remove_control_chars(book) == book[1:]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bank,\r\nand\r\n", "bank,\nand"),
        ("bank,\rand", "bank,\nand"),
        ("Alice\twas\u00a0beginning\u3000to", "Alice was beginning to"),
        ("Alice   was  \u2003 tired", "Alice was tired"),
        ("  CHAPTER I.  \n  Down the Rabbit-Hole  \n", "CHAPTER I.\nDown the Rabbit-Hole"),
        ("one\n\n\n\n\ntwo", "one\n\ntwo"),
        ("one\n \n \t \ntwo", "one\n\ntwo"),
        ("one\u2028two\u2029three", "one\ntwo\n\nthree"),
        ("one\ntwo", "one\ntwo"),
        ("", ""),
    ],
)
def test_normalize_whitespace(text: str, expected: str) -> None:
    assert normalize_whitespace(text) == expected


def test_clean_text_on_a_real_book(book: str, clean_book: str) -> None:
    assert clean_book.startswith("The Project Gutenberg’s Alice’s Adventures in Wonderland")
    for bad in ("\r", "\ufeff", "\n\n\n", "  ", " \n", "\n "):
        assert bad not in clean_book
    assert ALICE.replace("\r\n", "\n").strip() in clean_book
    assert clean_text(clean_book) == clean_book
    assert len(clean_book.split()) == len(book.split())


def test_clean_text_repairs_a_garbled_book(book: str, clean_book: str) -> None:
    garbled = book.encode("utf-8").decode("latin-1")
    assert clean_text(garbled) == clean_book


# --- quality filters ------------------------------------------------------------------------


def test_defaults_follow_gopher() -> None:
    assert dataclasses.asdict(QualityConfig()) == {
        "min_words": 50,
        "max_words": None,
        "min_mean_word_length": 3.0,
        "max_mean_word_length": 10.0,
        "max_symbol_word_ratio": 0.1,
        "min_alpha_word_fraction": 0.8,
        "max_duplicate_line_fraction": 0.3,
        "max_duplicate_paragraph_fraction": 0.3,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_words": -1}, r"min_words must be >= 0"),
        ({"min_words": 100, "max_words": 10}, r"min_words \(100\) is greater than max_words"),
        ({"min_mean_word_length": 12.0}, r"min_mean_word_length \(12.0\) is greater than max_mean"),
        ({"min_alpha_word_fraction": 1.5}, r"min_alpha_word_fraction is a fraction .* \[0, 1\]"),
        ({"max_duplicate_line_fraction": -0.1}, r"max_duplicate_line_fraction must be >= 0"),
        ({"max_duplicate_paragraph_fraction": 2}, r"duplicate_paragraph_fraction is a fraction"),
        ({"max_symbol_word_ratio": -1}, r"max_symbol_word_ratio must be >= 0"),
        ({"min_words": "50"}, r"min_words must be a number or None, got '50'"),
        ({"max_words": True}, r"max_words must be a number or None, got True"),
    ],
)
def test_quality_config_rejects_nonsense(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QualityConfig(**kwargs)


def test_every_filter_can_be_switched_off() -> None:
    off = QualityConfig(**{field.name: None for field in dataclasses.fields(QualityConfig)})
    assert quality_drop_reason("Alice", off) is None
    assert quality_drop_reason("", off) == "empty"


def test_a_real_book_passes(clean_book: str) -> None:
    assert quality_drop_reason(clean_book) is None


def test_a_real_stub_has_too_few_words() -> None:
    assert quality_drop_reason(clean_text(ALGORITHM_LEAD)) == "too_few_words"
    assert quality_drop_reason(ALGORITHM_LEAD, QualityConfig(min_words=20)) is None


@pytest.mark.parametrize("text", ["", "   \n\n  "])
def test_empty_text(text: str) -> None:
    assert quality_drop_reason(text) == "empty"


def test_too_many_words(clean_book: str) -> None:
    assert quality_drop_reason(clean_book, QualityConfig(max_words=10_000)) == "too_many_words"


def _words(text: str) -> list[str]:
    return text.split()


def test_mean_word_length_too_short(clean_book: str) -> None:
    short = " ".join(w for w in _words(clean_book) if len(w) <= 2)  # "I", "a", "to", "of", ...
    assert quality_drop_reason(short) == "mean_word_length"
    assert quality_drop_reason(short, QualityConfig(min_mean_word_length=None)) is None


def test_mean_word_length_too_long(clean_book: str) -> None:
    words = _words(clean_book)
    # Three words glued into one: "Alicewasbeginning".
    glued = " ".join("".join(words[i : i + 3]) for i in range(0, len(words), 3))
    assert quality_drop_reason(glued) == "mean_word_length"


@pytest.mark.parametrize("marker", ["#{}", "{}...", "{}\u2026"])
def test_symbol_ratio(clean_book: str, marker: str) -> None:
    words = _words(clean_book)[:2000]
    # Every fifth word becomes a hashtag or ends with an ellipsis: 0.2 symbols per word.
    text = " ".join(marker.format(w) if i % 5 == 0 else w for i, w in enumerate(words))
    assert quality_drop_reason(text) == "symbol_ratio"
    assert quality_drop_reason(text, QualityConfig(max_symbol_word_ratio=0.25)) is None


def test_alpha_fraction(clean_book: str) -> None:
    words = _words(clean_book)[:2000]
    # Every other word replaced by a year-like number: half the words have no letter.
    text = " ".join(w if i % 2 else str(1800 + i % 100) for i, w in enumerate(words))
    assert quality_drop_reason(text) == "alpha_fraction"
    assert quality_drop_reason(text, QualityConfig(min_alpha_word_fraction=0.4)) is None


def test_duplicate_lines(clean_book: str) -> None:
    lines = [line for line in clean_book.split("\n") if line][200:230]
    text = "\n".join(lines * 2)  # a page printed twice: half the lines repeat
    assert quality_drop_reason(text) == "duplicate_lines"
    assert quality_drop_reason(text, QualityConfig(max_duplicate_line_fraction=None)) is None


def test_duplicate_paragraphs(clean_book: str) -> None:
    paragraphs = [p for p in clean_book.split("\n\n") if p.count("\n") >= 4][:10]
    # A one-line separator repeated between long paragraphs: few lines repeat, many paragraphs do.
    text = "\n\n".join(p for paragraph in paragraphs for p in (paragraph, "CHAPTER ENDS."))
    assert quality_drop_reason(text) == "duplicate_paragraphs"


def test_real_wikipedia_prose_passes() -> None:
    from electra_data.wikitext import wikitext_to_text

    # The lead of Anarchism, references left out.
    wiki = wikitext_to_text(
        "'''Anarchism''' is a [[political philosophy]] that advocates "
        "[[self-governance|self-governed]] societies based on voluntary institutions. These are "
        "often described as [[stateless society|stateless societies]], although several authors "
        "have defined them more specifically as institutions based on "
        "non-[[Hierarchy|hierarchical]] [[Free association (communism and anarchism)|free "
        "associations]]. Anarchism considers the [[state (polity)|state]] to be "
        "undesirable, unnecessary, and harmful.\n\nAnarchism draws on many currents of thought and "
        "strategy. Anarchism does not offer a fixed body of doctrine from a single particular "
        "world view, instead fluxing and flowing as a philosophy. Many types and traditions of "
        "anarchism exist, not all of which are mutually exclusive. [[Anarchist schools of "
        "thought]] can differ fundamentally, supporting anything from extreme [[individualism]] "
        "to complete collectivism."
    )
    assert quality_drop_reason(clean_text(wiki)) is None


def test_reasons_are_the_documented_ones(clean_book: str) -> None:
    assert DROP_REASONS[0] == "empty" and len(set(DROP_REASONS)) == 8
    samples = [clean_book[:200], clean_book, "", re.sub(r"[a-z]", "", clean_book[:5000])]
    for text in samples:
        assert quality_drop_reason(text) in (*DROP_REASONS, None)
