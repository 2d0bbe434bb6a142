"""Text cleaning and Gopher-style quality filters, as small pure functions.

Cleaning repairs what a reader would call broken (mojibake, invisible characters, ragged
whitespace) and changes nothing a reader would call content: full-width CJK characters, curly
quotes and HTML-like text stay as they are. The filters follow Rae et al. (2021), "Scaling
Language Models: Methods, Analysis & Insights from Training Gopher", appendix A.1.1; each
threshold can be switched off with None. They run on every document of the corpus, so they use
C-level string operations (``split``, ``count``, ``set``) rather than Python loops over words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import ftfy

__all__ = [
    "fix_encoding",
    "normalize_unicode",
    "remove_control_chars",
    "normalize_whitespace",
    "clean_text",
    "QualityConfig",
    "quality_drop_reason",
    "DROP_REASONS",
]

# ftfy's defaults would also fold full-width CJK letters to ASCII (fix_character_width), straighten
# curly quotes, including those quoted in code (uncurl_quotes), and unescape "&lt;" in text that
# documents HTML (unescape_html). Line breaks, control characters and normalisation are left to
# the functions below, so that fix_encoding only repairs encodings; explanations cost time.
_FTFY = ftfy.TextFixerConfig(
    unescape_html=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)


# UTF-8 read as Latin-1 or Windows-1252 always shows a lead byte (Â..ô) followed by what was a
# continuation byte (U+0080..U+00BF, or the Windows-1252 characters at 0x80..0x9F). ftfy costs
# about a second per megabyte, so it only runs on text where this cheap pattern occurs.
_MOJIBAKE_HINT = re.compile(
    "[\xc2-\xf4][\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)


def fix_encoding(text: str) -> str:
    """Repair mojibake such as "cafÃ©" -> "café" (UTF-8 decoded as Latin-1/Windows-1252).

    Args:
        text: Any text.

    Returns:
        The text as ftfy repairs it, or the text itself when it shows no sign of mojibake.
    """
    return ftfy.fix_text(text, _FTFY) if _MOJIBAKE_HINT.search(text) else text


def normalize_unicode(text: str) -> str:
    """Return the NFC form, so that "é" is one code point however the source spelled it.

    NFC, not NFKC: compatibility folding would turn full-width CJK forms, ligatures and
    superscripts into other characters.
    """
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


# C0 and C1 control characters except tab, line feed and carriage return; DEL; invisible
# format characters that split words for no visible reason: soft hyphen, zero-width space, word
# joiner and byte-order mark (Gutenberg files open with one). ZWNJ (U+200C) and ZWJ (U+200D) are
# kept: they are spelling in Persian and Indic scripts and join emoji sequences.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xad\u200b\u2060\ufeff]")


def remove_control_chars(text: str) -> str:
    """Delete control and zero-width characters; a tab becomes a space.

    Line feeds and carriage returns are kept (normalize_whitespace turns CR into LF). Vertical
    tab and form feed are deleted as controls; ZWNJ and ZWJ are kept (see ``_CONTROL_CHARS``).
    """
    return _CONTROL_CHARS.sub("", text.replace("\t", " "))


# Tabs and odd spaces: no-break, en/em and other typographic spaces, ideographic space.
_ODD_SPACES = re.compile("[\t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_SPACE_RUN = re.compile(r" {2,}")
_LINE_EDGE = re.compile(r" \n ?|\n ")
_BLANK_RUN = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    """Tidy whitespace without moving any line break a reader would see.

    CRLF and CR become LF; tabs and odd spaces become spaces; runs of spaces collapse to one;
    lines lose leading and trailing spaces; three or more line breaks become one blank line; the
    text is stripped. Single line breaks stay (in books they wrap lines inside a paragraph).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    text = _ODD_SPACES.sub(" ", text.replace("\u2029", "\n\n"))
    text = _LINE_EDGE.sub("\n", _SPACE_RUN.sub(" ", text))
    return _BLANK_RUN.sub("\n\n", text).strip()


def clean_text(text: str) -> str:
    """Apply fix_encoding, normalize_unicode, remove_control_chars and normalize_whitespace."""
    return normalize_whitespace(remove_control_chars(normalize_unicode(fix_encoding(text))))


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality filters; None switches a filter off.

    Attributes:
        min_words: Fewest whitespace-separated words (Gopher: 50). Drops stubs and fragments.
        max_words: Most words (Gopher: 100,000). None by default: a book has up to ~350k words,
            and packing cuts any document into many examples, so length does no harm here.
        min_mean_word_length: Shortest mean word length in characters (Gopher: 3), punctuation
            attached to words included. Drops number lists and tables.
        max_mean_word_length: Longest mean word length (Gopher: 10). Drops URL and hash dumps.
        max_symbol_word_ratio: Most "#" per word, and separately most ellipses ("..." or "…")
            per word (Gopher: 0.1). Drops hashtag spam and truncated teasers.
        min_alpha_word_fraction: Least fraction of words with at least one letter (Gopher: 0.8).
        max_duplicate_line_fraction: Most fraction of non-empty lines that repeat an earlier line
            (Gopher: 0.3). Drops boilerplate and menus.
        max_duplicate_paragraph_fraction: Most fraction of paragraphs (blank-line separated) that
            repeat an earlier one (Gopher: 0.3).
    """

    min_words: int | None = 50
    max_words: int | None = None
    min_mean_word_length: float | None = 3.0
    max_mean_word_length: float | None = 10.0
    max_symbol_word_ratio: float | None = 0.1
    min_alpha_word_fraction: float | None = 0.8
    max_duplicate_line_fraction: float | None = 0.3
    max_duplicate_paragraph_fraction: float | None = 0.3

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"QualityConfig.{name} must be a number or None, got {value!r}")
            if value < 0:
                raise ValueError(
                    f"QualityConfig.{name} must be >= 0 (or None to switch it off), got {value}"
                )
            if "fraction" in name and value > 1:
                raise ValueError(
                    f"QualityConfig.{name} is a fraction and must be in [0, 1], got {value}"
                )
        pairs = (("min_words", "max_words"), ("min_mean_word_length", "max_mean_word_length"))
        for low, high in pairs:
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(
                    f"QualityConfig.{low} ({lo}) is greater than {high} ({hi}): no text could pass"
                )


_DEFAULT_CONFIG = QualityConfig()
DROP_REASONS = (
    "empty",
    "too_few_words",
    "too_many_words",
    "mean_word_length",
    "symbol_ratio",
    "alpha_fraction",
    "duplicate_lines",
    "duplicate_paragraphs",
)

# A whitespace-separated word that contains a letter; the lookbehind anchors each attempt at a
# word's start, so a long run of digits is scanned once, not once per character.
_ALPHA_WORD = re.compile(r"(?<!\S)\S*?[^\W\d_]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _duplicate_fraction(parts: list[str]) -> float:
    parts = [p for p in parts if p.strip()]
    return 1 - len(set(parts)) / len(parts) if parts else 0.0


def quality_drop_reason(text: str, cfg: QualityConfig | None = None) -> str | None:
    """Return the first filter ``text`` fails, in the order of :data:`DROP_REASONS`, or None.

    Args:
        text: A cleaned document (see :func:`clean_text`).
        cfg: Thresholds; None means ``QualityConfig()``.

    Returns:
        One of :data:`DROP_REASONS`, or None when the text passes every filter that is on.
    """
    cfg = _DEFAULT_CONFIG if cfg is None else cfg
    words = text.split()
    n = len(words)
    if n == 0:
        return "empty"
    if cfg.min_words is not None and n < cfg.min_words:
        return "too_few_words"
    if cfg.max_words is not None and n > cfg.max_words:
        return "too_many_words"
    mean_length = sum(map(len, words)) / n
    if (cfg.min_mean_word_length is not None and mean_length < cfg.min_mean_word_length) or (
        cfg.max_mean_word_length is not None and mean_length > cfg.max_mean_word_length
    ):
        return "mean_word_length"
    if cfg.max_symbol_word_ratio is not None:
        ellipses = text.count("...") + text.count("…")
        if max(text.count("#"), ellipses) / n > cfg.max_symbol_word_ratio:
            return "symbol_ratio"
    if cfg.min_alpha_word_fraction is not None:
        if len(_ALPHA_WORD.findall(text)) / n < cfg.min_alpha_word_fraction:
            return "alpha_fraction"
    if cfg.max_duplicate_line_fraction is not None:
        if _duplicate_fraction(text.split("\n")) > cfg.max_duplicate_line_fraction:
            return "duplicate_lines"
    if cfg.max_duplicate_paragraph_fraction is not None:
        if _duplicate_fraction(_PARAGRAPH_BREAK.split(text)) > cfg.max_duplicate_paragraph_fraction:
            return "duplicate_paragraphs"
    return None
