"""Corpus readers: turn input files into ``Document``s, dropping what is not prose.

Each reader takes the list of files, spreads them over the workers and streams each file in one
worker (a single Wikipedia dump file without an index: the wikitext-to-text conversion after that
is spread again, since one dump file holds millions of pages). A corrupt record or stream either stops the build with a
``CorpusError`` naming the file (``on_error="fail"``) or becomes a rejected record with its own
reason (``on_error="skip"``), so nothing is lost silently.

Document keys name the file by its path below the directory that all files of the source share
(``wiki:<dump>:<page id>``, ``books:<path>``): unique across inputs (two dumps of one wiki, two
books directories holding the same file name), and the same wherever the corpus lies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam import pvalue

from electra_data import fsio
from electra_data.books import not_text, read_book, text_encoding
from electra_data.documents import Document, Rejected
from electra_data.domain import BadRecord, infer_format, iter_documents
from electra_data.errors import CorpusError
from electra_data.inputs import relative_names
from electra_data.wiki import BadPage, iter_pages, iter_pages_in_range, multistream_index, page_drop_reason, stream_ranges
from electra_data.wikitext import wikitext_to_text
from electra_data.pipelines.metrics import REJECTED, count_drop, stage_timer

__all__ = ["ReadWiki", "ReadBooks", "ReadDomain", "wiki_work"]


def _rejected(source: str, key: str, reason: str, message: str) -> Rejected:
    count_drop(reason)
    return Rejected(f"{source}:{key}", source, key, reason, message[:300])


def _reject(source: str, key: str, reason: str, message: str) -> pvalue.TaggedOutput:
    return pvalue.TaggedOutput(REJECTED, _rejected(source, key, reason, message))


def wiki_work(paths: Sequence[str]) -> list[tuple[str, int | None, int | None]]:
    """What the readers share out: ``(dump, start, end)`` byte ranges of multistream dumps that
    have their index beside them (one range per bz2 stream of 100 pages), else whole files
    ``(dump, None, None)``, read sequentially."""
    work: list[tuple[str, int | None, int | None]] = []
    for path in paths:
        index = multistream_index(path)
        if index is None:
            work.append((path, None, None))
        else:
            work.extend((path, start, end) for start, end in stream_ranges(index, fsio.size(path)))
    return work


class _ReadPagesFn(beam.DoFn):
    """Stream a dump file or a range of it; article pages go on as raw wikitext, others are rejected."""

    def __init__(self, names: dict[str, str], keep_disambiguation: bool, on_error: str):
        self._names = names  # dump path -> its name in document keys (a few dumps: small)
        self._keep_disambiguation = keep_disambiguation
        self._on_error = on_error

    def process(self, work: tuple[str, int | None, int | None]) -> Iterator:
        path, start, end = work
        name = self._names[path]
        skip = self._on_error == "skip"
        if start is None:
            pages = iter_pages(path, skip_bad_pages=skip)
        else:
            pages = iter_pages_in_range(path, start, end, skip_bad_pages=skip)
        try:
            for page in pages:
                if isinstance(page, BadPage):  # skipped; a bad page's neighbours are read on
                    # where: the path, then the line or byte (and range) it went wrong at
                    yield _reject("wiki", name + page.where[len(path):], page.reason, page.message)
                    continue
                doc = Document(f"wiki:{name}:{page.id}", "wiki", page.title, page.text)
                reason = page_drop_reason(page, keep_disambiguation=self._keep_disambiguation)
                if reason is None:
                    yield doc
                else:
                    count_drop(reason)
                    yield pvalue.TaggedOutput(REJECTED, Rejected.of(doc, reason))
        except CorpusError as err:  # not a dump at all: empty, not XML, another root element
            if not skip:
                raise
            yield _reject("wiki", name if start is None else f"{name}@{start}", "corrupt_stream", str(err))


def _to_plain_text(doc: Document, keep_tables: bool) -> Document:
    with stage_timer("wikitext"):
        return doc._replace(text=wikitext_to_text(doc.text, keep_tables=keep_tables))


class ReadWiki(beam.PTransform):
    """MediaWiki ``pages-articles`` dumps -> (article documents as plain text, rejected pages).

    A multistream dump with its index is read as independent byte ranges spread over the
    workers; a dump without one is streamed by one worker (and, if it is the only input, its
    pages are spread for the conversion).
    """

    def __init__(
        self, paths: Sequence[str], *, keep_disambiguation: bool = False, keep_tables: bool = False, on_error: str = "fail"
    ):
        super().__init__()
        self._work = wiki_work(paths)
        self._fn = _ReadPagesFn(relative_names(list(paths)), keep_disambiguation, on_error)
        self._keep_tables = keep_tables

    def expand(self, pbegin):
        pages = (
            pbegin
            | "DumpRanges" >> beam.Create(self._work)
            | "SpreadRanges" >> beam.Reshuffle()
            | "ParsePages" >> beam.ParDo(self._fn).with_outputs(REJECTED, main="articles")
        )
        articles = pages.articles
        if len(self._work) == 1:
            # One dump file without an index is read by one worker: spread its pages so that the
            # conversion (most of the work) is not serial. With several files or stream ranges
            # the work is spread already, and shuffling raw wikitext (the corpus at its largest)
            # would only cost shuffle bytes, and on the local runner memory that grows with it.
            articles = articles | "SpreadPages" >> beam.Reshuffle()
        docs = articles | "WikitextToText" >> beam.Map(_to_plain_text, self._keep_tables)
        return docs, pages[REJECTED]


class _ReadBookFn(beam.DoFn):
    def __init__(self, on_error: str):
        self._on_error = on_error

    def process(self, book: tuple[str, str]) -> Iterator:
        path, name = book
        try:
            data = fsio.read_bytes(path)
        except OSError as err:  # made unreadable (or removed) since the build listed it
            yield self._refuse(name, "unreadable", f"{path}: cannot read it ({err.strerror or err})")
            return
        try:
            with stage_timer("books"):
                title, text = read_book(data, path)
        except CorpusError as err:
            reason = "not_text" if not_text(data) else f"invalid_{text_encoding(data).replace('-', '')}"
            yield self._refuse(name, reason, str(err))
            return
        yield Document(f"books:{name}", "books", title or os.path.basename(path), text)

    def _refuse(self, name: str, reason: str, message: str) -> pvalue.TaggedOutput:
        """The rejected record under ``skip``; under ``fail``, the CorpusError instead."""
        if self._on_error == "fail":
            raise CorpusError(f"{message}; or pass --on-error skip to skip the file")
        return _reject("books", name, reason, message)


def _not_a_book(book: tuple[str, str]) -> Rejected:
    path, name = book
    message = f"{path}: in a books directory, and only *.txt files there are books; give it as an --input of its own to read it"
    return _rejected("books", name, "not_a_book", message)


class ReadBooks(beam.PTransform):
    """Plain-text books (one document each) -> (documents without Gutenberg boilerplate, rejected).

    ``not_books``: files of a books directory that are not ``*.txt``, each rejected as
    ``not_a_book`` so that the counts show them.
    """

    def __init__(self, paths: Sequence[str], *, not_books: Sequence[str] = (), on_error: str = "fail"):
        super().__init__()
        names = relative_names([*paths, *not_books])  # keys unique among all the files
        self._books = [(p, names[p]) for p in paths]
        self._not_books = [(p, names[p]) for p in not_books]
        self._on_error = on_error

    def expand(self, pbegin):
        out = (
            pbegin
            | "BookPaths" >> beam.Create(self._books)
            | "SpreadBooks" >> beam.Reshuffle()
            | "ReadBook" >> beam.ParDo(_ReadBookFn(self._on_error)).with_outputs(REJECTED, main="books")
        )
        not_books = pbegin | "NotBooks" >> beam.Create(self._not_books) | "RejectNotBooks" >> beam.Map(_not_a_book)
        return out.books, (out[REJECTED], not_books) | "BookRejects" >> beam.Flatten()


class _ReadDomainFn(beam.DoFn):
    def __init__(self, root: str, fmt: str | None, options: dict):
        self._root, self._fmt, self._options = root, fmt, options

    def process(self, path: str) -> Iterator:
        # keys are relative to the corpus root, so they do not change when the corpus moves
        rel = os.path.relpath(path, self._root) if fsio.is_local(path) else path
        records = 0
        with stage_timer("domain"):
            for record in iter_documents(path, self._fmt or infer_format(path), **self._options):
                records += 1
                key = rel + record.id[len(path):] if record.id.startswith(path) else f"{rel}:{record.id}"
                if isinstance(record, BadRecord):
                    yield _reject("domain", key, record.reason, record.message)
                else:
                    yield Document(f"domain:{key}", "domain", record.title, record.text)
        if not records:  # an empty file (or one that is all markup) is counted, not lost
            yield _reject("domain", rel, "empty", f"{path}: no text")


class ReadDomain(beam.PTransform):
    """Domain corpus files (text, JSONL, Parquet, reStructuredText, Markdown) -> (documents, rejected)."""

    def __init__(self, paths: Sequence[str], *, root: str, fmt: str | None, text_field: str,
                 doc_separator: str, keep_code: bool, on_error: str):
        super().__init__()
        self._paths = list(paths)
        options = {"text_field": text_field, "doc_separator": doc_separator, "on_error": on_error, "keep_code": keep_code}
        self._fn = _ReadDomainFn(root, fmt, options)

    def expand(self, pbegin):
        out = (
            pbegin
            | "DomainPaths" >> beam.Create(self._paths)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadFile" >> beam.ParDo(self._fn).with_outputs(REJECTED, main="docs")
        )
        return out.docs, out[REJECTED]
