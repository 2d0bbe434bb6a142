"""A rule-based English sentence splitter that needs no model download.

ELECTRA packs examples from whole sentences, so a paragraph is cut into sentences first. A
boundary is end punctuation (``.``, ``!``, ``?``, optionally followed by closing quotes or
brackets) followed by whitespace and something that can open a sentence (an upper-case letter,
a digit or an opening quote/bracket). A full stop does not end a sentence after a known
abbreviation ("Dr.", "e.g.", "U.S."), a single initial ("J. R. R. Tolkien") or inside a number
(decimals have no space after the dot, so they never match).
"""

from __future__ import annotations

import re

__all__ = ["split_sentences", "split_paragraphs"]

# Lower-cased, without the final dot. Titles and Latin forms that are almost always followed by
# more of the same sentence.
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt ft no nos vol vols pp p fig figs eq eqs ed eds rev gen col lt
    capt cpt sgt maj adm gov sen rep hon pres supt messrs mme mlle
    e.g i.e etc vs v cf al approx ca c viz et
    jan feb mar apr jun jul aug sep sept oct nov dec
    inc ltd co corp bros dept univ assn est
    u.s u.k u.n a.m p.m a.d b.c
    """.split()
)

# Candidate boundary: end punctuation, optional closers, then whitespace, then an opener.
_BOUNDARY = re.compile(r"""([.!?]+["'\u201d\u2019)\]]*)(\s+)(?=["'\u201c\u2018(\[]?[A-Z0-9\u00C0-\u024F])""")


def _is_abbreviation(text: str, start: int, stop: int) -> bool:
    """Whether the word ending at ``text[stop]`` (a full stop) is an abbreviation or an initial."""
    word = text[text.rfind(" ", start, stop) + 1 : stop].lstrip("\"'(\u201c\u2018[").lower()
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. Smith"
    return word in _ABBREVIATIONS


def split_sentences(paragraph: str) -> list[str]:
    """Split one paragraph of prose into sentences, keeping every character but the separators.

    Args:
        paragraph: text without blank lines; single newlines are treated as spaces.

    Returns:
        The sentences in order, stripped; ``[]`` for blank input. Joining them with single spaces
        gives back the paragraph with its whitespace normalised.
    """
    paragraph = " ".join(paragraph.split())
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        if match.group(1) == "." and _is_abbreviation(paragraph, start, match.start(1)):
            continue
        sentences.append(paragraph[start : match.end(1)])
        start = match.end(2)
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a cleaned document: blocks separated by blank lines."""
    return [p for p in (block.strip() for block in text.split("\n\n")) if p]
