"""Reading: input files -> units of cleaned documents on disk, with their dedup keys.

Two stages, each a DoFn over small records (names), each writing its results to the work
directory (``pipelines.workdir``) and a *marker* last, so that a resumed build skips what is done:

1. ``ReadItems``: a read item (``pipelines.plan``) is streamed by one worker; its documents, as
   read (wikitext for Wikipedia), go to raw unit files of about ``unit_bytes`` of text each.
   Whatever is not prose (redirects, non-articles, unreadable books, bad records) is rejected
   here, with one reason, or stops the build (``on_error="fail"``) with a ``CorpusError`` naming
   the file.
2. ``ProcessUnits``: a raw unit is converted (wikitext to text), cleaned and filtered by quality;
   its kept documents go to a document file, their exact-dedup keys and MinHash bands to run
   files partitioned for dedup (``electra_data.spill``). The raw file is then deleted.

Only unit names, rejected records and counts leave these stages: the documents stay on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections import Counter
from collections.abc import Iterator

import apache_beam as beam
import pyarrow as pa
from apache_beam import pvalue

from electra_data import fsio, spill
from electra_data.books import not_text, read_book, text_encoding
from electra_data.clean import QualityConfig, clean_text, quality_drop_reason
from electra_data.dedup import band_keys, document_id, exact_key, lsh_params, minhash_signature
from electra_data.documents import Document, Rejected
from electra_data.domain import BadRecord, infer_format, iter_documents
from electra_data.errors import CorpusError
from electra_data.progress import ItemProgress
from electra_data.articles import page_drop_reason
from electra_data.wiki import BadPage, iter_pages, iter_pages_in_range
from electra_data.wikitext import wikitext_to_text
from electra_data.pipelines import workdir
from electra_data.pipelines.metrics import REJECTED, count_drop, stage_timer
from electra_data.pipelines.plan import ReadItem

__all__ = ["TALLY", "EXACT_SCHEMA", "BAND_SCHEMA", "IDENTITY", "ReadItems", "ProcessUnits", "write_unit"]

# The tag of (counter name, count) outputs that the build sums into the manifest's counts.
TALLY = "tally"
EXACT_SCHEMA = pa.schema(
    [("exact_key", pa.string()), ("key", pa.string()), ("hash", pa.string()), ("unit", pa.string()), ("row", pa.int32())]
)
BAND_SCHEMA = pa.schema(
    [("bucket", pa.binary()), ("key", pa.string()), ("hash", pa.string()), ("unit", pa.string()),
     ("row", pa.int32()), ("signature", pa.binary())]
)  # fmt: skip
# The bucket of a document's identity (its document id): exact copies meet there when near
# dedup runs without exact dedup, which would otherwise have removed them.
IDENTITY = b"="


def exact_partition(row: tuple, partitions: int) -> int:
    return int(row[0][:8], 16) % partitions


def band_partition(row: tuple, partitions: int) -> int:
    return zlib.crc32(row[0]) % partitions


def _tally(tallies: Counter, source: str, name: str, n: int = 1) -> None:
    tallies[name] += n
    tallies[f"{source}/{name}"] += n


def _emit(record: dict) -> Iterator:
    """A marker's contents as the stage's outputs: rejected records, tallies, then names."""
    for r in record["rejected"]:
        yield pvalue.TaggedOutput(REJECTED, Rejected(*r))
    for name, n in sorted(record["tallies"].items()):
        yield pvalue.TaggedOutput(TALLY, (name, n))
    yield from record["units"]


class _Units:
    """Documents -> raw unit files ``<item>-<k>`` of about ``unit_bytes`` of text each."""

    def __init__(self, work: str, item: str, unit_bytes: int):
        self._work, self._item, self._unit_bytes = work, item, unit_bytes
        self.names: list[str] = []
        self._docs: list[Document] = []
        self._size = 0

    def add(self, doc: Document) -> None:
        self._docs.append(doc)
        self._size += len(doc.text)
        if self._size >= self._unit_bytes:
            self.flush()

    def flush(self) -> None:
        if self._docs:
            name = f"{self._item}-{len(self.names):04d}"
            spill.write_documents(workdir.raw_path(self._work, name), self._docs)
            self.names.append(name)
            self._docs, self._size = [], 0


class _ReadItemFn(beam.DoFn):
    def __init__(self, work: str, unit_bytes: int, *, keep_disambiguation: bool, domain_options: dict, on_error: str):
        self._work, self._unit_bytes = work, unit_bytes
        self._keep_disambiguation = keep_disambiguation
        self._domain_options = domain_options
        self._skip = on_error == "skip"

    def process(self, item: ReadItem) -> Iterator:
        progress = ItemProgress(self._work, "read", item.name)
        marker = workdir.marker_path(self._work, "read", item.name)
        if fsio.exists(marker):  # read by an earlier run of this build (--resume)
            record = json.loads(fsio.read_bytes(marker))
            progress.advance(item.size, sum(n for k, n in record["tallies"].items() if k == "read"))
            progress.done()
            yield from _emit(record)
            return
        units = _Units(self._work, item.name, self._unit_bytes)
        rejected: list[Rejected] = []
        tallies: Counter = Counter()
        read = {"wiki": self._wiki, "books": self._books, "domain": self._domain}[item.source]
        with stage_timer(f"read_{item.source}"):
            for record in read(item, progress):
                progress.advance(docs=1)
                _tally(tallies, item.source, "read")
                if isinstance(record, Rejected):
                    count_drop(record.reason)
                    _tally(tallies, item.source, f"dropped:{record.reason}")
                    rejected.append(record)
                else:
                    units.add(record)
            units.flush()
        record = {"units": units.names, "rejected": [list(r) for r in rejected], "tallies": dict(tallies)}
        fsio.write_bytes_atomic(marker, json.dumps(record).encode())
        progress.done()
        yield from _emit(record)

    def _wiki(self, item: ReadItem, progress: ItemProgress) -> Iterator[Document | Rejected]:
        (path, name), = item.files
        for start, end in item.ranges or [(None, None)]:
            if start is None:
                pages = iter_pages(path, skip_bad_pages=self._skip, progress=progress.advance)
            else:
                pages = iter_pages_in_range(path, start, end, skip_bad_pages=self._skip, progress=progress.advance)
            try:
                for page in pages:
                    if isinstance(page, BadPage):  # skipped; a bad page's neighbours are read on
                        # where: the path, then the line or byte (and range) it went wrong at
                        key = name + page.where[len(path):]
                        yield Rejected(f"wiki:{key}", "wiki", key, page.reason, page.message[:300])
                        continue
                    doc = Document(f"wiki:{name}:{page.id}", "wiki", page.title, page.text)
                    reason = page_drop_reason(page, keep_disambiguation=self._keep_disambiguation)
                    yield doc if reason is None else Rejected.of(doc, reason)
            except CorpusError as err:  # not a dump at all: empty, not XML, another root element
                if not self._skip:
                    raise
                key = name if start is None else f"{name}@{start}"
                yield Rejected(f"wiki:{key}", "wiki", key, "corrupt_stream", str(err)[:300])

    def _books(self, item: ReadItem, progress: ItemProgress) -> Iterator[Document | Rejected]:
        for path, name in item.files:
            try:
                data = fsio.read_bytes(path)
            except OSError as err:  # made unreadable (or removed) since the build listed it
                yield self._refuse(name, "unreadable", f"{path}: cannot read it ({err.strerror or err})")
                continue
            progress.advance(len(data))
            try:
                title, text = read_book(data, path)
            except CorpusError as err:
                reason = "not_text" if not_text(data) else f"invalid_{text_encoding(data).replace('-', '')}"
                yield self._refuse(name, reason, str(err))
                continue
            yield Document(f"books:{name}", "books", title or os.path.basename(path), text)

    def _refuse(self, name: str, reason: str, message: str) -> Rejected:
        """The rejected book under ``skip``; under ``fail``, the CorpusError instead."""
        if not self._skip:
            raise CorpusError(f"{message}; or pass --on-error skip to skip the file")
        return Rejected(f"books:{name}", "books", name, reason, message[:300])

    def _domain(self, item: ReadItem, progress: ItemProgress) -> Iterator[Document | Rejected]:
        (path, rel), = item.files
        options = self._domain_options
        records = 0
        for record in iter_documents(path, options["format"] or infer_format(path), **options["reader"]):
            records += 1
            key = rel + record.id[len(path):] if record.id.startswith(path) else f"{rel}:{record.id}"
            if isinstance(record, BadRecord):
                yield Rejected(f"domain:{key}", "domain", key, record.reason, record.message[:300])
            else:
                yield Document(f"domain:{key}", "domain", record.title, record.text)
        progress.advance(item.size)
        if not records:  # an empty file (or one that is all markup) is counted, not lost
            yield Rejected(f"domain:{rel}", "domain", rel, "empty", f"{path}: no text")


class ReadItems(beam.PTransform):
    """Read items -> (raw unit names, rejected records, tallies)."""

    def __init__(self, work: str, unit_bytes: int, *, keep_disambiguation: bool, fmt: str | None, text_field: str,
                 doc_separator: str, keep_code: bool, on_error: str):  # fmt: skip
        super().__init__()
        reader = {"text_field": text_field, "doc_separator": doc_separator, "on_error": on_error, "keep_code": keep_code}
        self._fn = _ReadItemFn(
            work, unit_bytes, keep_disambiguation=keep_disambiguation, domain_options={"format": fmt, "reader": reader},
            on_error=on_error,
        )  # fmt: skip

    def expand(self, items):
        out = (
            items
            | "SpreadItems" >> beam.Reshuffle()
            | "ReadItem" >> beam.ParDo(self._fn).with_outputs(REJECTED, TALLY, main="units")
        )
        return out.units, out[REJECTED], out[TALLY]


class _ProcessUnitFn(beam.DoFn):
    def __init__(self, work: str, partitions: int, *, keep_tables: bool, quality: QualityConfig, exact: bool,
                 near: dict | None):  # fmt: skip
        self._work, self._partitions = work, partitions
        self._keep_tables, self._quality = keep_tables, quality
        self._exact, self._near = exact, near

    def process(self, unit: str) -> Iterator:
        progress = ItemProgress(self._work, "clean", unit)
        marker = workdir.marker_path(self._work, "units", unit)
        if not fsio.exists(marker):
            record = self._process(unit)
            fsio.write_bytes_atomic(marker, json.dumps(record).encode())
            if fsio.is_local(self._work):  # done with: its documents are in the unit's files
                with contextlib.suppress(FileNotFoundError):
                    os.remove(workdir.raw_path(self._work, unit))
        else:
            record = json.loads(fsio.read_bytes(marker))
        progress.done()
        yield from _emit(record)

    def _process(self, unit: str) -> dict:
        kept: list[Document] = []
        rejected: list[Rejected] = []
        tallies: Counter = Counter()
        for _, doc in spill.read_documents(workdir.raw_path(self._work, unit)):
            if doc.source == "wiki":
                with stage_timer("wikitext"):
                    doc = doc._replace(text=wikitext_to_text(doc.text, keep_tables=self._keep_tables))
            with stage_timer("clean"):
                doc = doc._replace(text=clean_text(doc.text))
                reason = quality_drop_reason(doc.text, self._quality)
            if reason is None:
                kept.append(doc)
            else:
                count_drop(reason)
                _tally(tallies, doc.source, f"dropped:{reason}")
                rejected.append(Rejected.of(doc, reason))
        write_unit(self._work, unit, kept, self._partitions, exact=self._exact, near=self._near)
        return {"units": [unit], "rejected": [list(r) for r in rejected], "tallies": dict(tallies)}


def _bands(doc: Document, doc_id: tuple[str, str], unit: str, row: int, near: dict, exact: bool) -> Iterator[tuple]:
    with stage_timer("minhash"):
        signature = minhash_signature(doc.text, num_perm=near["num_perm"], seed=near["seed"], ngram=near["ngram"])
    if signature is not None:  # None: too short to shingle, left to exact dedup
        sig = signature.tobytes()
        for bucket in band_keys(signature, *lsh_params(near["threshold"], near["num_perm"])):
            yield bucket, *doc_id, unit, row, sig
    if not exact:
        yield IDENTITY + "\x00".join(doc_id).encode("utf-8", "surrogatepass"), *doc_id, unit, row, b""


def write_unit(work: str, unit: str, docs: list[Document], partitions: int, *, exact: bool, near: dict | None) -> None:
    """Write a unit's documents (row ``i`` is ``docs[i]``) and their dedup runs: exact-dedup keys
    if ``exact``, MinHash bands if ``near`` (its parameters: ``threshold``, ``num_perm``,
    ``seed``, ``ngram``)."""
    exact_rows: list[tuple] = []
    band_rows: list[tuple] = []
    for row, doc in enumerate(docs):
        doc_id = document_id(doc)
        if exact:
            with stage_timer("exact_key"):
                exact_rows.append((exact_key(doc.text), *doc_id, unit, row))
        if near is not None:
            band_rows.extend(_bands(doc, doc_id, unit, row, near, exact))
    spill.write_documents(workdir.docs_path(work, unit), docs)
    if exact:
        spill.write_run(workdir.run_path(work, "exact", unit), EXACT_SCHEMA, exact_rows, partitions,
                        lambda r: exact_partition(r, partitions))  # fmt: skip
    if near is not None:
        spill.write_run(workdir.run_path(work, "bands", unit), BAND_SCHEMA, band_rows, partitions,
                        lambda r: band_partition(r, partitions))  # fmt: skip


class ProcessUnits(beam.PTransform):
    """Raw unit names -> (unit names, rejected records, tallies); writes each unit's documents
    and dedup runs.

    ``near``: the near-dedup parameters (``threshold``, ``num_perm``, ``seed``, ``ngram``), or
    None without near dedup.
    """

    def __init__(self, work: str, partitions: int, *, keep_tables: bool, quality: QualityConfig, exact: bool,
                 near: dict | None):  # fmt: skip
        super().__init__()
        self._fn = _ProcessUnitFn(work, partitions, keep_tables=keep_tables, quality=quality, exact=exact, near=near)

    def expand(self, raw_units):
        out = (
            raw_units
            | "SpreadUnits" >> beam.Reshuffle()
            | "ProcessUnit" >> beam.ParDo(self._fn).with_outputs(REJECTED, TALLY, main="units")
        )
        return out.units, out[REJECTED], out[TALLY]
