"""The kept documents of each unit, once dedup has decided: what the later stages need of them.

One pass over each unit's document file, with the duplicates to drop (small: only duplicates
cross the graph) as a side input. It emits no documents, only what is small or combined at once:
the rejected duplicates (with their excerpts), the counts, the vocab sample's candidates
(rank, size, location), the candidates for the held-out document, and the excerpts of the kept
documents that the duplicates report shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import apache_beam as beam
from apache_beam import pvalue

from electra_data import spill
from electra_data.dedup import document_id
from electra_data.documents import Rejected, stable_hash
from electra_data.pipelines import workdir
from electra_data.pipelines.duplicates_report import EXCERPT
from electra_data.pipelines.metrics import REJECTED, count_drop
from electra_data.pipelines.read import TALLY
from electra_data.progress import ItemProgress

__all__ = ["SelectDocuments"]


class _SelectFn(beam.DoFn):
    def __init__(self, work: str, seed: int):
        self._work, self._seed = work, seed

    def process(self, unit: str, drops: dict, chosen: frozenset) -> Iterator:
        tallies: Counter = Counter()
        progress = ItemProgress(self._work, "select", unit)
        for row, doc in spill.read_documents(workdir.docs_path(self._work, unit)):
            doc_id = document_id(doc)
            if doc.key in chosen:  # the kept document of a sampled duplicate cluster
                yield pvalue.TaggedOutput("picked", (doc.key, (doc_id[1], {"title": doc.title, "excerpt": doc.text[:EXCERPT]})))
            drop = drops.get((unit, row))
            if drop is not None:
                reason, detail = drop
                count_drop(reason)
                tallies[f"dropped:{reason}"] += 1
                tallies[f"{doc.source}/dropped:{reason}"] += 1
                yield pvalue.TaggedOutput(REJECTED, Rejected.of(doc, reason, detail))
                continue
            tallies["kept"] += 1
            tallies[f"{doc.source}/kept"] += 1
            size = len(doc.text.encode("utf-8", "surrogatepass"))
            yield pvalue.TaggedOutput("sample", ((stable_hash(self._seed, "vocab", doc.key), *doc_id), (size, (unit, row))))
            yield pvalue.TaggedOutput("holdout", (stable_hash(self._seed, "split", doc.key), doc.key))
        progress.done()
        for name, n in sorted(tallies.items()):
            yield pvalue.TaggedOutput(TALLY, (name, n))


class SelectDocuments(beam.PTransform):
    """Unit names -> tagged outputs ``rejected``, ``tally``, ``sample``, ``holdout``, ``picked``.

    ``drops``: ``(location, (reason, detail))`` of the duplicates; ``chosen``: a singleton
    frozenset of the kept keys whose clusters the duplicates report samples.
    """

    def __init__(self, work: str, drops, chosen, *, seed: int):
        super().__init__()
        self._fn = _SelectFn(work, seed)
        self._drops, self._chosen = drops, chosen

    def expand(self, units):
        # a stage of its own: fused with the stage that makes the units, it would wait on side
        # inputs made from them
        return units | "SpreadUnits" >> beam.Reshuffle() | "SelectKept" >> beam.ParDo(
            self._fn, pvalue.AsDict(self._drops), pvalue.AsSingleton(self._chosen)
        ).with_outputs(REJECTED, TALLY, "sample", "holdout", "picked")
