"""Real text for tests, read from sample_data/ (the books are Project Gutenberg e-texts)."""

from __future__ import annotations

from pathlib import Path

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
WIKI_DUMP = SAMPLE_DATA / "wikipedia" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
BOOKS = SAMPLE_DATA / "books"


def book_paragraphs(name: str = "11-0.txt", start: int = 40, count: int = 60) -> list[str]:
    """``count`` paragraphs of a bundled book (hard-wrapped lines joined), skipping its front matter."""
    text = (BOOKS / name).read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    paragraphs = [" ".join(block.split()) for block in text.split("\n\n")]
    paragraphs = [p for p in paragraphs if len(p.split()) >= 8]
    return paragraphs[start : start + count]
