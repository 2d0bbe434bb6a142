"""Cleaning and quality filtering as a Beam transform around ``electra_data.clean``."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam import pvalue

from electra_data.clean import QualityConfig, clean_text, quality_drop_reason
from electra_data.documents import Document, Rejected
from electra_data.pipelines.metrics import REJECTED, count_drop, stage_timer

__all__ = ["CleanDocuments"]


class _CleanFn(beam.DoFn):
    def __init__(self, quality: QualityConfig):
        self._quality = quality

    def process(self, doc: Document) -> Iterator:
        with stage_timer("clean"):
            doc = doc._replace(text=clean_text(doc.text))
            reason = quality_drop_reason(doc.text, self._quality)
        if reason is None:
            yield doc
        else:
            count_drop(reason)
            yield pvalue.TaggedOutput(REJECTED, Rejected.of(doc, reason))


class CleanDocuments(beam.PTransform):
    """Documents -> (cleaned documents that pass the quality filters, rejected documents)."""

    def __init__(self, quality: QualityConfig):
        super().__init__()
        self._quality = quality

    def expand(self, docs):
        out = docs | "CleanAndFilter" >> beam.ParDo(_CleanFn(self._quality)).with_outputs(REJECTED, main="kept")
        return out.kept, out[REJECTED]
