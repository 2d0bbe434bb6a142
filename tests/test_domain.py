"""Tests for electra_data.domain: every format written from real text, then read back.

The text comes from sample_data/: paragraphs of Alice's Adventures in Wonderland and the Linux
kernel documentation (reStructuredText, linux-doc).
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from corpus_text import BOOKS, SAMPLE_DATA, book_paragraphs

from electra_data.domain import BadRecord, RawDocument, infer_format, iter_documents
from electra_data.errors import CorpusError, UserError
from electra_data.markup import markdown_to_text, rst_to_text

LINUX_DOC = SAMPLE_DATA / "domain" / "linux-doc"
HOWTO = LINUX_DOC / "process" / "howto.rst.txt"


@functools.cache
def _kernel_docs(count: int = 20) -> list[tuple[str, str]]:
    """(title, prose) of the first ``count`` linux-doc files with prose."""
    docs = []
    for path in sorted(LINUX_DOC.rglob("*.rst.txt")):
        text = rst_to_text(path.read_text(encoding="utf-8"))
        if len(text) > 500:
            docs.append((path.name, text))
    return docs[:count]


def _compress(data: bytes, kind: str) -> bytes:
    if kind == "gz":
        return gzip.compress(data)
    if kind == "zst":  # two frames, as pzstd and multi-threaded zstd write them
        half = len(data) // 2
        cctx = zstandard.ZstdCompressor()
        return cctx.compress(data[:half]) + cctx.compress(data[half:])
    return data


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.txt", "text"), ("a.jsonl", "jsonl"), ("A.JSONL.GZ", "jsonl"), ("a.jsonl.zst", "jsonl"),
     ("a.parquet", "parquet"), ("howto.rst.txt", "rst"), ("a.rst", "rst"),
     ("README.md", "markdown"), ("a.markdown", "markdown")],
)
def test_infer_format(name, fmt):
    assert infer_format(f"/data/{name}") == fmt


def test_infer_format_unknown():
    with pytest.raises(UserError, match=r"corpus\.csv: cannot tell the format.*--format"):
        infer_format("corpus.csv")


@pytest.mark.parametrize("kind", ["plain", "gz", "zst"])
def test_jsonl_round_trip(tmp_path, kind):
    docs = _kernel_docs()
    lines = [json.dumps({"id": i, "title": t, "text": x}) for i, (t, x) in enumerate(docs)]
    path = tmp_path / f"kernel.jsonl{'' if kind == 'plain' else '.' + kind}"
    path.write_bytes(_compress(("\n".join(lines) + "\n").encode(), kind))
    got = list(iter_documents(str(path), infer_format(str(path))))
    assert got == [RawDocument(f"{path}:{i + 1}", t, x) for i, (t, x) in enumerate(docs)]


def test_jsonl_text_field_and_missing_title(tmp_path):
    path = tmp_path / "alice.jsonl"
    paragraphs = book_paragraphs(count=5)
    path.write_text("".join(json.dumps({"body": p}) + "\n\n" for p in paragraphs))  # blank lines
    got = list(iter_documents(str(path), "jsonl", text_field="body"))
    assert got == [RawDocument(f"{path}:{2 * i + 1}", "", p) for i, p in enumerate(paragraphs)]


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_truncated_compressed_jsonl(tmp_path, kind):
    lines = [json.dumps({"text": p}) for p in book_paragraphs(count=60)]
    data = _compress("\n".join(lines).encode(), kind)
    path = tmp_path / f"alice.jsonl.{kind}"
    path.write_bytes(data[: len(data) * 3 // 4])
    message = rf"alice\.jsonl\.{kind}:\d+: corrupt data .*--on-error skip"
    with pytest.raises(CorpusError, match=message):
        list(iter_documents(str(path), "jsonl"))
    got = list(iter_documents(str(path), "jsonl", on_error="skip"))
    assert all(isinstance(d, RawDocument) for d in got[:-1]) and len(got) > 1
    assert isinstance(got[-1], BadRecord) and got[-1].reason == "corrupt_file"


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_compressed_jsonl_damaged_at_its_start(tmp_path, kind):
    data = bytearray(_compress("\n".join(json.dumps({"text": p}) for p in book_paragraphs(count=60)).encode(), kind))
    data[4:40] = bytes(b ^ 0xFF for b in data[4:40])  # the header and the first block
    path = tmp_path / f"alice.jsonl.{kind}"
    path.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match=rf"alice\.jsonl\.{kind}: corrupt data at its start .*--on-error skip"):
        list(iter_documents(str(path), "jsonl"))
    (bad,) = iter_documents(str(path), "jsonl", on_error="skip")
    assert isinstance(bad, BadRecord) and bad.reason == "corrupt_file"


def test_jsonl_lone_surrogates_are_dropped(tmp_path):
    # an emoji cut in two by a scraper: JSON can escape its half, UTF-8 cannot encode it
    path = tmp_path / "alice.jsonl"
    paragraph = book_paragraphs(count=1)[0]
    path.write_text(json.dumps({"title": "Alice \ud83d", "text": paragraph + " \ud83d\ude00 \ude00"}) + "\n")
    (doc,) = iter_documents(str(path), "jsonl")
    assert doc.title == "Alice " and doc.text == paragraph + " \U0001f600 "  # the whole emoji stays
    doc.text.encode("utf-8")


# (line written, reason) for each kind of bad record, between two good ones.
BAD_LINES = [
    (b'{"text": "The Queen of Hearts, she made some tarts"', "bad_json"),
    (b'{"title": "no text field"}', "missing_text_field"),
    (b'{"text": 12}', "missing_text_field"),
    (b'["The Queen of Hearts"]', "missing_text_field"),
    ('{"text": "Alice\u2019s"}'.encode("cp1252"), "invalid_utf8"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_jsonl_bad_record(tmp_path, line, reason):
    path = tmp_path / "alice.jsonl"
    good = [json.dumps({"text": p}).encode() for p in book_paragraphs(count=2)]
    path.write_bytes(b"\n".join([good[0], line, good[1]]) + b"\n")
    with pytest.raises(CorpusError, match=rf"{re.escape(str(path))}:2: .*--on-error skip"):
        list(iter_documents(str(path), "jsonl"))
    first, bad, last = iter_documents(str(path), "jsonl", on_error="skip")
    assert isinstance(first, RawDocument) and isinstance(last, RawDocument)
    assert bad.id == f"{path}:2" and bad.reason == reason and bad.message.startswith(f"{path}:2: ")


def test_invalid_utf8_message_gives_offset(tmp_path):
    path = tmp_path / "alice.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "Alice\x92s"}\n')
    with pytest.raises(CorpusError, match=r"alice\.jsonl:2: invalid UTF-8 at byte 15 of the line"):
        list(iter_documents(str(path), "jsonl"))


def test_text_one_document_per_file(tmp_path):
    path = tmp_path / "alice.txt"
    text = "\n\n".join(book_paragraphs(count=10))
    path.write_text(text, encoding="utf-8")
    assert list(iter_documents(str(path), "text")) == [RawDocument(str(path), "alice.txt", text)]


def test_text_blank_line_separator(tmp_path):
    paragraphs = book_paragraphs(count=10)
    path = tmp_path / "alice.txt.gz"  # compression is found by magic number, not by name
    path.write_bytes(gzip.compress("\r\n\r\n\r\n".join(paragraphs).encode()))
    got = list(iter_documents(str(path), "text", doc_separator="blank-line"))
    assert [d.text for d in got] == paragraphs
    assert [d.id for d in got] == [f"{path}:{1 + 3 * i}" for i in range(10)]


@pytest.mark.parametrize("doc_separator", ["file", "blank-line"])
def test_text_invalid_utf8(tmp_path, doc_separator):
    path = tmp_path / "alice.txt"
    paragraphs = [p.encode() for p in book_paragraphs(count=3)]
    paragraphs[1] = paragraphs[1].replace(b"\xe2\x80\x99", b"\x92")  # a cp1252 apostrophe
    path.write_bytes(b"\n\n".join(paragraphs))
    where = str(path) if doc_separator == "file" else f"{path}:3"
    with pytest.raises(CorpusError, match=rf"{re.escape(where)}: invalid UTF-8 at byte \d+"):
        list(iter_documents(str(path), "text", doc_separator=doc_separator))
    got = list(iter_documents(str(path), "text", doc_separator=doc_separator, on_error="skip"))
    bad = [d for d in got if isinstance(d, BadRecord)]
    assert len(bad) == 1 and bad[0].id == where and bad[0].reason == "invalid_utf8"
    assert len(got) == (1 if doc_separator == "file" else 3)


def test_parquet_round_trip(tmp_path):
    docs = _kernel_docs(40) + [(None, p) for p in book_paragraphs(count=300)]
    table = pa.table({"title": [t for t, _ in docs], "content": [x for _, x in docs]})
    path = tmp_path / "corpus.parquet"
    pq.write_table(table, path, row_group_size=50)  # several row groups and batches
    got = list(iter_documents(str(path), "parquet", text_field="content"))
    assert got == [RawDocument(f"{path}:{i}", t or "", x) for i, (t, x) in enumerate(docs)]


def test_parquet_errors(tmp_path):
    path = tmp_path / "alice.parquet"
    pq.write_table(pa.table({"text": [book_paragraphs(count=1)[0], None]}), path)
    with pytest.raises(UserError, match=r"no column 'body' \(columns: text\).*--text-field"):
        list(iter_documents(str(path), "parquet", text_field="body"))
    with pytest.raises(CorpusError, match=rf"{re.escape(str(path))}:1: null 'text'"):
        list(iter_documents(str(path), "parquet"))
    skipped = list(iter_documents(str(path), "parquet", on_error="skip"))
    assert skipped[1].reason == "missing_text_field"
    not_parquet = tmp_path / "alice2.parquet"
    not_parquet.write_bytes((BOOKS / "pg7256.txt").read_bytes())
    with pytest.raises(CorpusError, match=r"alice2\.parquet:0: corrupt data"):
        list(iter_documents(str(not_parquet), "parquet"))


def test_rst_and_markdown_files(tmp_path):
    keep = list(iter_documents(str(HOWTO), "rst", keep_code=True))
    (doc,) = iter_documents(str(HOWTO), "rst")
    assert doc.id == str(HOWTO) and doc.title == "HOWTO do Linux kernel development"
    assert doc.text == rst_to_text(HOWTO.read_text(encoding="utf-8")) != keep[0].text
    path = tmp_path / "README.md"
    path.write_text("# Legal Issues\n\nThe Linux kernel source code is released under the GPL.\n")
    (md,) = iter_documents(str(path), "markdown")
    assert md == RawDocument(str(path), "Legal Issues", markdown_to_text(path.read_text()))


@pytest.mark.parametrize("fmt", ["text", "jsonl", "parquet", "rst", "markdown"])
def test_empty_file_yields_nothing(tmp_path, fmt):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert list(iter_documents(str(path), fmt)) == []
    path.write_bytes(b"\n\n  \n")
    if fmt != "parquet":  # whitespace is no Parquet file
        assert list(iter_documents(str(path), fmt, doc_separator="blank-line")) == []


def test_missing_file_and_bad_options(tmp_path):
    with pytest.raises(CorpusError, match=r"nowhere\.jsonl: no such file"):
        iter_documents(str(tmp_path / "nowhere.jsonl"), "jsonl")
    with pytest.raises(CorpusError, match="no such file"):
        iter_documents(str(tmp_path), "text")  # a directory
    for options, message in [
        ({"fmt": "csv"}, "unknown format 'csv'"),
        ({"fmt": "text", "on_error": "ignore"}, "unknown on-error 'ignore'; use one of fail, skip"),
        ({"fmt": "text", "doc_separator": "line"}, "unknown doc-separator 'line'"),
    ]:
        with pytest.raises(UserError, match=message):
            iter_documents(str(HOWTO), **options)


# 50 MB of real text, built by repeating Alice's Adventures in Wonderland.
def _fifty_mb() -> str:
    book = (BOOKS / "11-0.txt").read_text(encoding="utf-8-sig")
    return book * (50_000_000 // len(book.encode()) + 1)


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_single_50mb_document(tmp_path, fmt):
    text = _fifty_mb()
    path = tmp_path / f"big.{'txt' if fmt == 'text' else 'jsonl'}"
    path.write_text(text if fmt == "text" else json.dumps({"text": text}) + "\n", encoding="utf-8")
    (doc,) = iter_documents(str(path), fmt)
    assert len(doc.text.encode()) >= 50_000_000 and doc.text == text


@pytest.mark.parametrize(("fmt", "separator"), [("jsonl", "file"), ("text", "blank-line")])
def test_streaming_memory_stays_flat(tmp_path, fmt, separator):
    paragraphs = book_paragraphs(start=0, count=400)
    path = tmp_path / f"alice.{fmt}"
    records = [json.dumps({"text": p}) for p in paragraphs] if fmt == "jsonl" else paragraphs
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(20):  # ~4 MB
            f.write(("\n" if fmt == "jsonl" else "\n\n").join(records) + "\n\n")
    tracemalloc.start()
    count = sum(1 for _ in iter_documents(str(path), fmt, doc_separator=separator))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 20 * len(paragraphs)
    assert peak < path.stat().st_size / 10  # a few records and one read buffer, not the file
