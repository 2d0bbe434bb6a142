"""Builds from every corpus kind, with exact accounting per source and the --on-error policy."""

import bz2
import gzip
import json

from datasets import Dataset
from typer.testing import CliRunner

from electra_data.cli import data_app
from electra_data.config import BuildConfig
from electra_data.pipelines.build import run_build
from electra_data.verify import verify_dataset
from corpus_text import SAMPLE_DATA, WIKI_DUMP, book_paragraphs
from test_wiki import _with_two_broken_pages

FAST = dict(vocab_size=1000, dedup="none", num_shards=1)


def _reconciles_and_verifies(manifest, out):
    _reconciles(manifest["counts"])
    assert verify_dataset(str(out)) == manifest
    assert sum(Dataset.from_file(str(out / s["path"])).num_rows for s in manifest["shards"]) == manifest["counts"]["examples"]


def _reconciles(counts):
    assert counts["documents_read"] == counts["documents_kept"] + sum(counts["dropped"].values())
    for source, c in counts["by_source"].items():
        assert c["read"] == c["kept"] + sum(c["dropped"].values()), source


def test_books_build_one_document_per_book(tmp_path):
    manifest = run_build(BuildConfig(corpus="books", out=str(tmp_path / "b"), **FAST))
    counts = manifest["counts"]
    assert counts["documents_read"] == 4 and counts["documents_kept"] == 4
    assert counts["by_source"] == {"books": {"read": 4, "kept": 4, "dropped": {}}}
    assert counts["tokens_lost"] == 0
    _reconciles_and_verifies(manifest, tmp_path / "b")


def test_wiki_plus_books_reports_each_source(tmp_path):
    manifest = run_build(BuildConfig(corpus="wiki+books", out=str(tmp_path / "wb"), **FAST))
    by_source = manifest["counts"]["by_source"]
    assert set(by_source) == {"wiki", "books"}
    assert by_source["wiki"]["read"] == 206 and by_source["books"]["kept"] == 4
    assert manifest["counts"]["documents_read"] == 210
    assert set(manifest["inputs"]) == {"wiki", "books"}
    _reconciles_and_verifies(manifest, tmp_path / "wb")


def test_quality_filters_are_set_and_switched_off_from_the_cli(tmp_path):
    out = tmp_path / "q"
    result = CliRunner().invoke(data_app, [
        "build", "--corpus", "books", "--out", str(out), "--no-dedup", "--vocab-size", "1000",
        "--quality", "max_words=30000", "--quality", "max_duplicate_line_fraction=off",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["quality"]["max_words"] == 30000
    assert manifest["config"]["quality"]["max_duplicate_line_fraction"] is None
    assert manifest["counts"]["dropped"] == {"too_many_words": 2}  # The Time Machine, Heart of Darkness


def test_keep_tables_reaches_the_wiki_reader(tmp_path):
    # one real page that is nearly all table: Academy Award for Best Production Design
    xml = bz2.open(WIKI_DUMP).read()
    header, *pages = xml.split(b"  <page>")
    (page,) = [p for p in pages if b"<id>316</id>" in p]
    dump = tmp_path / "awards.xml"
    dump.write_bytes(header + b"  <page>" + page.split(b"</mediawiki>")[0] + b"</mediawiki>\n")
    tokens = {}
    for flag in ("--no-keep-tables", "--keep-tables"):
        out = tmp_path / flag
        result = CliRunner().invoke(data_app, [
            "build", "--input", str(dump), "--out", str(out), "--no-dedup", "--vocab-size", "1000", flag,
            "--quality", "min_words=10", "--validation-fraction", "0",
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["config"]["keep_tables"] is (flag == "--keep-tables")
        tokens[flag] = manifest["counts"]["tokens"]
    assert tokens["--keep-tables"] > 20 * tokens["--no-keep-tables"]


def _books_with_a_bad_byte(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    for book in ("11-0.txt", "219-0.txt", "35-0.txt"):
        data = (SAMPLE_DATA / "books" / book).read_bytes()
        if book == "35-0.txt":  # a byte that is not UTF-8 halfway through The Time Machine
            data = data[: len(data) // 2] + b"\xff" + data[len(data) // 2 :]
        (books / book).write_bytes(data)
    return books


def test_a_book_with_bad_bytes_fails_naming_it_or_is_skipped(tmp_path):
    books = _books_with_a_bad_byte(tmp_path)
    result = CliRunner().invoke(data_app, ["build", "--corpus", "books", "--input", str(books), "--out", str(tmp_path / "f")])
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "35-0.txt: invalid UTF-8 at byte" in message and "--on-error skip" in message
    manifest = run_build(BuildConfig(corpus="books", inputs=(str(books),), on_error="skip", out=str(tmp_path / "s"), **FAST))
    assert manifest["counts"]["documents_read"] == 3 and manifest["counts"]["dropped"] == {"invalid_utf8": 1}
    _reconciles_and_verifies(manifest, tmp_path / "s")


def test_a_build_that_keeps_nothing_is_an_error(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    (books / "fragment.txt").write_text(" ".join(book_paragraphs(count=1)[0].split()[:20]) + "\n")
    result = CliRunner().invoke(data_app, ["build", "--corpus", "books", "--input", str(books), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "no document was kept" in message and "1 read, dropped too_few_words 1" in message
    assert not (tmp_path / "o" / "manifest.json").exists()
    assert "too_few_words" in (tmp_path / "o" / "reports" / "rejects.jsonl").read_text()


def test_a_one_document_corpus_needs_no_validation_split(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    (books / "35-0.txt").write_bytes((SAMPLE_DATA / "books" / "35-0.txt").read_bytes())
    args = ["build", "--corpus", "books", "--input", str(books), "--no-dedup", "--vocab-size", "1000"]
    result = CliRunner().invoke(data_app, [*args, "--out", str(tmp_path / "v")])
    assert result.exit_code == 1
    assert "went to the validation split" in result.output and "--validation-fraction 0" in " ".join(result.output.split())
    result = CliRunner().invoke(data_app, [*args, "--out", str(tmp_path / "t"), "--validation-fraction", "0"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "t" / "manifest.json").read_text())["splits"]["train"]["examples"] > 100


def test_domain_rst_directory(tmp_path):
    corpus = SAMPLE_DATA / "domain" / "linux-doc"
    manifest = run_build(BuildConfig(corpus=str(corpus), out=str(tmp_path / "d"), **FAST))
    counts = manifest["counts"]
    assert counts["documents_read"] == len(list(corpus.rglob("*.rst.txt"))) == 158
    assert counts["by_source"]["domain"]["kept"] > 100  # short index pages go as too_few_words
    _reconciles_and_verifies(manifest, tmp_path / "d")


def _jsonl_with_a_bad_line(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    lines = [json.dumps({"text": "\n\n".join(book_paragraphs(start=i * 20, count=20))}) for i in range(5)]
    lines.insert(2, "{not json")
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def test_on_error_skip_counts_the_bad_record(tmp_path):
    corpus = _jsonl_with_a_bad_line(tmp_path)
    manifest = run_build(BuildConfig(corpus=str(corpus), on_error="skip", out=str(tmp_path / "j"), **FAST))
    counts = manifest["counts"]
    assert counts["documents_read"] == 6 and counts["dropped"] == {"bad_json": 1}
    _reconciles_and_verifies(manifest, tmp_path / "j")


def test_on_error_fail_names_the_file_and_line(tmp_path):
    corpus = _jsonl_with_a_bad_line(tmp_path)
    result = CliRunner().invoke(data_app, ["build", "--corpus", str(corpus), "--out", str(tmp_path / "j"), "--no-dedup"])
    assert result.exit_code == 1
    assert "corpus.jsonl.gz" in result.output and "3" in result.output and "Traceback" not in result.output


def test_broken_pages_with_skip_cost_only_themselves(tmp_path):
    xml, _ = _with_two_broken_pages(bz2.open(WIKI_DUMP).read())
    dump = tmp_path / "broken.xml"
    dump.write_bytes(xml)
    manifest = run_build(BuildConfig(inputs=(str(dump),), on_error="skip", out=str(tmp_path / "b"), **FAST))
    counts = manifest["counts"]
    assert counts["documents_read"] == 206 and counts["dropped"]["corrupt_page"] == 2
    assert counts["documents_kept"] == 96  # the sample's 98 articles but the two broken ones
    _reconciles_and_verifies(manifest, tmp_path / "b")
    rejects = [json.loads(line) for line in (tmp_path / "b" / "reports" / "rejects.jsonl").read_text().splitlines()]
    lines = xml.split(b"\n")
    bad_lines = [n for n, line in enumerate(lines, 1) if b"</titel>" in line or b"\xff" in line]
    assert sorted(r["key"] for r in rejects if r["reason"] == "corrupt_page") == sorted(f"wiki:broken.xml:{n}" for n in bad_lines)


def test_truncated_dump_with_skip_keeps_what_was_read(tmp_path):
    truncated = tmp_path / "truncated.xml.bz2"
    truncated.write_bytes(WIKI_DUMP.read_bytes()[:600_000])
    manifest = run_build(BuildConfig(inputs=(str(truncated),), on_error="skip", out=str(tmp_path / "t"), **FAST))
    counts = manifest["counts"]
    assert counts["dropped"]["corrupt_stream"] == 1
    assert 0 < counts["by_source"]["wiki"]["read"] < 206
    _reconciles(counts)
