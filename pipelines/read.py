"""Corpus readers: turn input files into ``Document``s, dropping what is not prose."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam import pvalue

from electra_data.documents import Document, Rejected
from electra_data.wiki import Page, iter_pages, page_drop_reason
from electra_data.wikitext import wikitext_to_text
from electra_data.pipelines.metrics import REJECTED, count_drop, stage_timer

__all__ = ["ReadWiki"]


class _ReadPagesFn(beam.DoFn):
    """Stream one dump file; article pages go on as raw wikitext, others are rejected."""

    def __init__(self, keep_disambiguation: bool):
        self._keep_disambiguation = keep_disambiguation

    def process(self, path: str) -> Iterator:
        for page in iter_pages(path):
            doc = Document(f"wiki:{page.id}", "wiki", page.title, page.text)
            reason = page_drop_reason(page, keep_disambiguation=self._keep_disambiguation)
            if reason is None:
                yield doc
            else:
                count_drop(reason)
                yield pvalue.TaggedOutput(REJECTED, Rejected.of(doc, reason))


def _to_plain_text(doc: Document) -> Document:
    with stage_timer("wikitext"):
        return doc._replace(text=wikitext_to_text(doc.text))


class ReadWiki(beam.PTransform):
    """MediaWiki ``pages-articles`` dumps -> (article documents as plain text, rejected pages).

    Each file is parsed as a stream by one worker; the Reshuffle then spreads the (costlier)
    wikitext-to-text conversion over all workers.
    """

    def __init__(self, paths: Sequence[str], *, keep_disambiguation: bool = False):
        super().__init__()
        self._paths = list(paths)
        self._keep_disambiguation = keep_disambiguation

    def expand(self, pbegin):
        pages = (
            pbegin
            | "DumpPaths" >> beam.Create(self._paths)
            | "ParsePages"
            >> beam.ParDo(_ReadPagesFn(self._keep_disambiguation)).with_outputs(REJECTED, main="articles")
        )
        docs = (
            pages.articles
            | "SpreadPages" >> beam.Reshuffle()
            | "WikitextToText" >> beam.Map(_to_plain_text)
        )
        return docs, pages[REJECTED]
