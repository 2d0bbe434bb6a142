"""Spill files (documents and sorted runs between stages) and the build's plan, on real data."""

import itertools
import math
import os
from pathlib import Path

import pyarrow as pa
import pytest

from electra_data import spill
from electra_data.dedup import document_id, exact_key
from electra_data.documents import Document
from electra_data.inputs import relative_names
from electra_data.pipelines import plan as plan_module
from electra_data.pipelines.plan import plan_build
from electra_data.pipelines.read import EXACT_SCHEMA, exact_partition
from electra_data.wiki import iter_pages
from corpus_text import BOOKS, SAMPLE_DATA, WIKI_DUMP, book_paragraphs
from spilled import read_inputs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MB = 2**20


@pytest.fixture(scope="module")
def docs():
    """Books' paragraphs (curly quotes, dashes) and wiki pages (accents, other scripts)."""
    books = [Document(f"books:{name}:{i}", "books", name, text)
             for name in ("11-0.txt", "219-0.txt") for i, text in enumerate(book_paragraphs(name, start=0, count=150))]  # fmt: skip
    pages = [page for page in itertools.islice(iter_pages(WIKI_DUMP), 120) if page.text]
    wiki = [Document(f"wiki:{p.id}", "wiki", p.title, p.text) for p in pages]
    return books + wiki


# 1. Document files.


def test_documents_read_back_as_written_in_their_order(docs, tmp_path, monkeypatch):
    assert sum(not d.text.isascii() for d in docs) > 100
    monkeypatch.setattr(spill, "_DOC_BATCH_BYTES", 50_000)  # several record batches
    path = str(tmp_path / "docs" / "unit.arrow")
    assert spill.write_documents(path, iter(docs)) == len(docs)
    assert pa.ipc.open_file(path).num_record_batches > 5
    assert list(spill.read_documents(path)) == list(enumerate(docs))
    assert os.listdir(tmp_path / "docs") == ["unit.arrow"]  # no temporary file left


def test_read_rows_reads_the_rows_asked_for(docs, tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "_DOC_BATCH_BYTES", 50_000)
    path = str(tmp_path / "unit.arrow")
    spill.write_documents(path, docs)
    rows = [len(docs) - 1, 0, 7, 7, 150, 299, 300]  # unordered, repeated, across batches
    assert spill.read_rows(path, rows) == {row: docs[row] for row in rows}
    assert spill.read_rows(path, []) == {}
    assert spill.read_rows(path, [len(docs), len(docs) + 5]) == {}  # no such rows: none found


def test_an_empty_document_file(tmp_path):
    path = str(tmp_path / "empty.arrow")
    assert spill.write_documents(path, []) == 0
    assert pa.ipc.open_file(path).schema == spill.DOCUMENT_SCHEMA
    assert list(spill.read_documents(path)) == []
    assert spill.read_rows(path, [0]) == {}


def test_text_of_any_script_and_no_lone_surrogate(tmp_path):
    # A JSONL record with an emoji, and one cut in half by a scraper ("\ud83d" alone): the domain
    # reader drops the half, so that every document can be written as UTF-8.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    alice = book_paragraphs("11-0.txt", start=3, count=1)[0]
    (corpus / "records.jsonl").write_text(
        '{"title": "caf\\u00e9 \\ud83d\\ude00", "text": "Emoji \\ud83d\\ude00 and \\u0416\\u0438\\u0437\\u043d\\u044c"}\n'
        '{"title": "cut", "text": "half \\ud83d an emoji. ' + alice.replace('"', '\\"') + '"}\n',
        encoding="utf-8",
    )
    docs, rejected, _ = read_inputs({"domain": [str(corpus / "records.jsonl")]}, tmp_path / "work", fmt="jsonl")
    assert not rejected
    assert [(d.title, d.text) for d in docs] == [
        ("café 😀", "Emoji 😀 and Жизнь"), ("cut", f"half  an emoji. {alice}"),
    ]  # fmt: skip
    # a lone surrogate is refused, and leaves no file behind
    path = tmp_path / "bad.arrow"
    with pytest.raises((UnicodeEncodeError, pa.ArrowInvalid)):
        spill.write_documents(str(path), [Document("k", "domain", "t", "half \ud83d")])
    assert not list(tmp_path.glob("bad.arrow*"))


# 2. Runs: sorted records in partitions, merged by streaming.


def _exact_rows(docs, unit):
    return [(exact_key(d.text), *document_id(d), unit, row) for row, d in enumerate(docs)]


def test_a_run_holds_each_partition_sorted_and_indexed(docs, tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "_RUN_BATCH_ROWS", 16)
    rows = _exact_rows(docs, "unit-a")
    partitions = 5
    path = str(tmp_path / "exact" / "unit-a.arrow")
    counts = spill.write_run(path, EXACT_SCHEMA, reversed(rows), partitions, lambda r: exact_partition(r, partitions))
    by_partition = {p: sorted(r for r in rows if exact_partition(r, partitions) == p) for p in range(partitions)}
    assert counts == {p: len(r) for p, r in by_partition.items() if r}
    assert spill.run_partitions(path) == {p: math.ceil(n / 16) for p, n in counts.items()}
    for p in range(partitions):
        assert list(spill.read_partition(path, p)) == by_partition[p]


def test_empty_partitions_and_an_empty_run(tmp_path):
    path = str(tmp_path / "run.arrow")
    rows = [("k1", "wiki:1", "h", "u", 0), ("k0", "wiki:2", "h", "u", 1)]
    assert spill.write_run(path, EXACT_SCHEMA, rows, 4, lambda r: 2) == {2: 2}
    assert spill.run_partitions(path) == {2: 1}
    assert [list(spill.read_partition(path, p)) for p in range(4)] == [[], [], sorted(rows), []]
    empty = str(tmp_path / "empty.arrow")
    assert spill.write_run(empty, EXACT_SCHEMA, [], 4, lambda r: 0) == {}
    assert spill.run_partitions(empty) == {} and list(spill.read_partition(empty, 0)) == []


@pytest.mark.parametrize("partition", [-1, 3])
def test_a_row_outside_the_partitions_is_refused(tmp_path, partition):
    path = tmp_path / "run.arrow"
    rows = [("k", "wiki:1", "h", "u", 0)]
    with pytest.raises(ValueError, match=rf"partition {partition} outside 0\.\.2"):
        spill.write_run(str(path), EXACT_SCHEMA, rows, 3, lambda r: partition)
    assert not list(tmp_path.iterdir())  # nothing written


def test_merging_a_partition_of_every_run_is_the_sort_of_their_union(docs, tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "_RUN_BATCH_ROWS", 8)  # the merge then holds one small batch per run
    partitions = 3
    paths, rows = [], []
    for i in range(0, len(docs), 60):  # units of 60 documents, as many runs
        unit_rows = _exact_rows(docs[i : i + 60], f"unit-{i // 60}")
        paths.append(str(tmp_path / f"unit-{i // 60}.arrow"))
        spill.write_run(paths[-1], EXACT_SCHEMA, unit_rows, partitions, lambda r: exact_partition(r, partitions))
        rows += unit_rows
    assert len(paths) > 3
    for p in range(partitions):
        expected = sorted(r for r in rows if exact_partition(r, partitions) == p)
        assert len(expected) > 20
        assert list(spill.merge_partition(paths[::-1], p)) == expected
    assert list(spill.merge_partition([], 0)) == []


# 3. The plan: read items, unit size and partitions.


def _sparse(path: Path, size: int) -> str:
    """A file of ``size`` bytes that takes no disk: the plan only looks at sizes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def test_a_small_corpus_is_one_item_per_source_and_domain_file(tmp_path):
    books = sorted(str(p) for p in BOOKS.iterdir())
    domain = sorted(str(p) for p in (SAMPLE_DATA / "domain" / "linux-doc").rglob("*.txt"))
    files = {"wiki": [str(WIKI_DUMP)], "books": books, "domain": domain}
    plan = plan_build(files)
    assert plan == plan_build(files)  # the same names on every run: --resume finds its work
    wiki, book_items, domain_items = plan.items[0], plan.items[1], plan.items[2:]
    assert wiki == (
        "wiki-00000", "wiki", ((str(WIKI_DUMP), WIKI_DUMP.name),), None, WIKI_DUMP.stat().st_size
    )  # no index beside it: read whole  # fmt: skip
    # 640 KB of books: one item of all of them (items are at least 1 MB)
    assert book_items.name == "books-00001" and book_items.ranges is None
    assert book_items.files == tuple((p, os.path.basename(p)) for p in books)
    assert book_items.size == sum(os.path.getsize(p) for p in books)
    # a domain file is an item of its own, named relative to the corpus root
    assert [item.name for item in domain_items] == [f"domain-{i:05d}" for i in range(2, 2 + len(domain))]
    assert [item.files for item in domain_items] == [
        ((p, os.path.relpath(p, SAMPLE_DATA / "domain" / "linux-doc")),) for p in domain
    ]
    assert ((str(SAMPLE_DATA / "domain" / "linux-doc" / "PCI" / "pci.rst.txt"), "PCI/pci.rst.txt"),) in [i.files for i in domain_items]
    assert plan.input_bytes == sum(item.size for item in plan.items)
    assert plan.text_bytes == plan.input_bytes + 3 * WIKI_DUMP.stat().st_size  # bz2: ~4x the text
    assert (plan.unit_bytes, plan.partitions) == (plan_module.UNIT_BYTES, 1)


@pytest.mark.skipif(not (SHARED / "books" / "gutenberg").is_dir(), reason="needs ../shared/data")
def test_books_are_grouped_in_items_of_about_one_megabyte():
    books = sorted(str(p) for p in (SHARED / "books" / "gutenberg").glob("*.txt"))
    plan = plan_build({"books": books})
    sizes = {p: os.path.getsize(p) for p in books}
    assert sum(sizes.values()) > 10 * MB and 5 < len(plan.items) < len(books)
    names = relative_names(books)
    assert [f for item in plan.items for f in item.files] == [(p, names[p]) for p in books]  # each once, in order
    for item, following in zip(plan.items, plan.items[1:] + (None,)):
        assert item.size == sum(sizes[p] for p, _ in item.files)
        assert item.size <= MB or len(item.files) == 1  # a larger book alone
        if following is not None:  # full: the next book would not have fit
            assert item.size + sizes[following.files[0][0]] > MB
    assert any(len(item.files) > 2 for item in plan.items)


def test_items_and_partitions_grow_with_the_input_and_units_do_not(tmp_path):
    # 1 MB books: ten are 10 MB (items of 1 MB, the least: a book each); a hundred, 100 MB
    # (items of 100 MB / 32: three books each)
    ten = [_sparse(tmp_path / "ten" / f"{i:03d}.txt", MB) for i in range(10)]
    hundred = [_sparse(tmp_path / "hundred" / f"{i:03d}.txt", MB) for i in range(100)]
    small, large = plan_build({"books": ten}), plan_build({"books": hundred})
    assert [len(item.files) for item in small.items] == [1] * 10
    assert [len(item.files) for item in large.items] == [3] * 33 + [1]
    assert (small.partitions, large.partitions) == (1, 2)  # a partition per 64 MB of text
    # a 10 GB dump: bz2 holds ~4x its bytes of text
    dump = _sparse(tmp_path / "enwiki-pages-articles.xml.bz2", 10 * 2**30)
    huge = plan_build({"wiki": [dump]})
    assert huge.text_bytes == 40 * 2**30 and huge.input_bytes == 10 * 2**30
    assert huge.partitions == 640
    # a unit is held in memory while it is worked on: the same size whatever the corpus
    assert small.unit_bytes == large.unit_bytes == huge.unit_bytes == plan_module.UNIT_BYTES
    assert len(huge.items) == 1  # without an index, a dump is read whole
    # items are at most 64 MB however large the corpus: 400 books of 10 MB, 4 GB, go 6 to an item
    many = [_sparse(tmp_path / "many" / f"{i:03d}.txt", 10 * MB) for i in range(400)]
    assert {len(item.files) for item in plan_build({"books": many}).items} == {6, 4}
    assert plan_module._MAX_ITEM_BYTES == 64 * MB


@pytest.mark.skipif(not (SHARED / "wikipedia").is_dir(), reason="needs ../shared/data")
def test_a_published_multistream_dump_and_its_index(tmp_path):
    dump = SHARED / "wikipedia" / "enwiki-shortened-p10p30302-multistream.xml.bz2"
    plan = plan_build({"wiki": [str(dump)], "books": [str(BOOKS / "11-0.txt")]})
    wiki = [item for item in plan.items if item.source == "wiki"]
    assert len(wiki) == 3 and all(item.ranges for item in wiki)
    assert wiki[0].ranges[0][0] == 638 and wiki[-1].ranges[-1][1] == dump.stat().st_size
    assert [item.name for item in plan.items] == ["wiki-00000", "wiki-00001", "wiki-00002", "books-00003"]
