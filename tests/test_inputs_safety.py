"""What the readers make of inputs a user can get wrong: sources by content, unique document keys,
encodings, the files of a books directory that are no books."""

import bz2
import gzip
import json
import os
import re
import shutil
import zipfile

import pytest

from electra_data.books import decode_text, decode_utf8, not_text, read_book
from electra_data.config import BuildConfig
from electra_data.domain import BadRecord, iter_documents
from electra_data.errors import CorpusError, UserError
from electra_data.inputs import corpus_sources, relative_names, resolve
from electra_data.pipelines.build import run_build
from electra_data.multistream import write_multistream
from electra_data.wiki import is_dump, iter_pages
from corpus_text import BOOKS, WIKI_DUMP
from spilled import read_inputs

FAST = dict(vocab_size=1000, dedup="none", num_shards=1)
ALICE = BOOKS / "11-0.txt"


def _reconciles(counts):
    assert counts["documents_read"] == counts["documents_kept"] + sum(counts["dropped"].values())
    for source, c in counts["by_source"].items():
        assert c["read"] == c["kept"] + sum(c["dropped"].values()), source


@pytest.fixture(scope="module")
def dump_directory(tmp_path_factory):
    """A directory as Wikimedia publishes a multistream dump: the dump and its index, no suffix
    that says "books" or "wiki" on the directory."""
    directory = tmp_path_factory.mktemp("enwiki-20240101")
    write_multistream(bz2.open(WIKI_DUMP).read(), str(directory / "enwiki-20240101-pages-articles-multistream.xml.bz2"))
    return directory


@pytest.fixture
def books(tmp_path):
    directory = tmp_path / "books"
    shutil.copytree(BOOKS, directory)
    return directory


# 1. Each input's source is decided by its content.


def test_a_dump_directory_given_with_books_is_the_wiki(dump_directory, books):
    files = resolve(corpus_sources("wiki+books", (str(dump_directory), str(books))))
    assert files == {
        "wiki": [str(dump_directory / "enwiki-20240101-pages-articles-multistream.xml.bz2")],
        "books": sorted(str(p) for p in books.iterdir()),
    }


def test_dumps_are_told_by_their_first_bytes_not_their_names(tmp_path):
    xml = bz2.open(WIKI_DUMP).read()
    (tmp_path / "export").write_bytes(xml)  # plain XML without a suffix
    (tmp_path / "export.data").write_bytes(bz2.compress(xml))  # bz2 without a suffix
    (tmp_path / "declared.xml").write_bytes(b'<?xml version="1.0"?>\n<!-- a comment -->\n' + xml)
    (tmp_path / "feed.xml").write_text("<rss><channel/></rss>")
    (tmp_path / "book.xml.bz2").write_bytes(bz2.compress(ALICE.read_bytes()))
    assert [is_dump(str(tmp_path / n)) for n in ("export", "export.data", "declared.xml", "feed.xml", "book.xml.bz2")] == [
        True, True, True, False, False,
    ]
    # and the wiki reader reads a bz2 dump whatever its name
    assert len(list(iter_pages(tmp_path / "export.data"))) == 206


def test_a_build_of_a_dump_directory_with_books_reads_the_whole_wiki(dump_directory, books, tmp_path):
    # before: the directory went to the books reader, and with skip the wiki was two invalid_utf8 "books"
    cfg = BuildConfig(corpus="wiki+books", inputs=(str(dump_directory), str(books)), on_error="skip",
                      out=str(tmp_path / "o"), **FAST)  # fmt: skip
    counts = run_build(cfg)["counts"]
    assert counts["by_source"]["wiki"]["read"] == 206 and counts["by_source"]["books"]["read"] == 4
    assert not {"invalid_utf8", "not_text", "corrupt_stream"} & set(counts["dropped"])
    _reconciles(counts)


@pytest.mark.parametrize("given", ["the dump", "its directory"])
def test_books_refuse_a_dump_and_say_which_corpus_reads_it(dump_directory, books, given):
    dump = dump_directory / "enwiki-20240101-pages-articles-multistream.xml.bz2"
    if given == "its directory":
        shutil.copy(dump, books)
        dump = books
    with pytest.raises(UserError, match=r"multistream\.xml\.bz2 is a MediaWiki dump, not a book; read dumps with --corpus wiki"):
        resolve(corpus_sources("books", (str(dump),)))


@pytest.mark.parametrize(
    "inputs, missing",
    [(("books",), "no MediaWiki dump"), (("dumps",), "no book"), (("books", "index"), "a multistream index")],
)
def test_wiki_plus_books_needs_both_by_content(dump_directory, books, tmp_path, inputs, missing):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    shutil.copy(WIKI_DUMP, dumps / "wiki.dat")  # a dump, whatever its name says
    index = next(dump_directory.glob("*-index.txt.bz2"))
    paths = {"books": str(books), "dumps": str(dumps), "index": str(index)}
    with pytest.raises(UserError, match=missing):
        resolve(corpus_sources("wiki+books", tuple(paths[i] for i in inputs)))


def _book_xml():
    return bz2.open(WIKI_DUMP).read()[:5000]


@pytest.mark.parametrize(
    "data, what",
    [
        (_book_xml(), "a MediaWiki XML dump, not a plain-text book; read dumps with --corpus wiki"),
        (bz2.compress(ALICE.read_bytes()), "bz2-compressed data, not a plain-text book; decompress it"),
        (gzip.compress(ALICE.read_bytes()), "gzip-compressed data, not a plain-text book; decompress it"),
        (b"PK\x03\x04" + bytes(100), "a zip archive"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(100), r"binary data \(it holds NUL bytes\)"),
    ],
)
def test_the_books_reader_refuses_what_is_no_text(data, what):
    with pytest.raises(CorpusError, match=rf"^books/x\.txt: {what}"):
        read_book(data, "books/x.txt")


def test_a_zip_of_books_says_to_extract_it(tmp_path):
    with zipfile.ZipFile(tmp_path / "books.zip", "w") as z:
        z.write(ALICE, "11-0.txt")
    assert not_text((tmp_path / "books.zip").read_bytes()) == ("a zip archive", "extract it (unzip)")


# 2. Document keys are unique across inputs, and stable when the corpus moves.


def test_relative_names_are_unique_and_move_with_the_corpus(tmp_path, monkeypatch):
    assert relative_names(["/data/a/books/x.txt", "/data/b/books/x.txt"]) == {
        "/data/a/books/x.txt": "a/books/x.txt", "/data/b/books/x.txt": "b/books/x.txt",
    }
    assert relative_names(["/mnt/new/a/books/x.txt", "/mnt/new/b/books/x.txt"]) == {
        "/mnt/new/a/books/x.txt": "a/books/x.txt", "/mnt/new/b/books/x.txt": "b/books/x.txt",
    }
    assert relative_names(["/data/wiki/enwiki.xml.bz2"]) == {"/data/wiki/enwiki.xml.bz2": "enwiki.xml.bz2"}
    monkeypatch.chdir(tmp_path)  # relative and absolute spellings of paths mix
    assert relative_names(["a/x.txt", str(tmp_path / "b" / "x.txt")]) == {"a/x.txt": "a/x.txt", str(tmp_path / "b" / "x.txt"): "b/x.txt"}
    assert relative_names(["gs://bucket/a/x.txt", "gs://bucket/b/x.txt"]) == {
        "gs://bucket/a/x.txt": "a/x.txt", "gs://bucket/b/x.txt": "b/x.txt",
    }


def test_two_copies_of_a_dump_give_distinct_keys_and_every_page_is_counted(tmp_path):
    # two dates of one wiki, named as the mirrors name them
    for date in ("20240101", "20240201"):
        (tmp_path / date).mkdir()
        shutil.copy(WIKI_DUMP, tmp_path / date / "enwiki-latest-pages-articles.xml.bz2")
    dumps = [str(tmp_path / d / "enwiki-latest-pages-articles.xml.bz2") for d in ("20240101", "20240201")]
    docs, rejected, tallies = read_inputs({"wiki": dumps}, tmp_path / "work")
    keys = [r.key for r in [*docs, *rejected]]
    assert len(keys) == len(set(keys)) == tallies["wiki/read"] == 2 * 206
    assert sorted(d.key for d in docs if d.key.endswith(":12")) == [
        "wiki:20240101/enwiki-latest-pages-articles.xml.bz2:12", "wiki:20240201/enwiki-latest-pages-articles.xml.bz2:12",
    ]  # keys name the dump
    manifest = run_build(BuildConfig(inputs=tuple(dumps), out=str(tmp_path / "o"), vocab_size=1000, dedup="exact", num_shards=1))
    counts = manifest["counts"]
    assert counts["documents_read"] == 2 * 206
    # every article of the second copy is an exact duplicate of the first's, kept under the smaller key
    assert counts["exact_duplicates"] == counts["documents_kept"] > 90
    _reconciles(counts)
    duplicates = [json.loads(line) for line in (tmp_path / "o" / "reports" / "duplicates.jsonl").read_text().splitlines()]
    assert duplicates and all(c["kept"]["key"].startswith("wiki:20240101/") for c in duplicates)


def test_books_of_the_same_name_in_two_directories_give_distinct_keys(tmp_path):
    for shelf in ("shelf-a", "shelf-b"):
        (tmp_path / shelf / "books").mkdir(parents=True)
        shutil.copy(ALICE, tmp_path / shelf / "books" / "11-0.txt")
    files = resolve(corpus_sources("books", (str(tmp_path / "shelf-a" / "books"), str(tmp_path / "shelf-b" / "books"))))
    docs, rejected, _ = read_inputs(files, tmp_path / "work")
    assert sorted(d.key for d in docs) == ["books:shelf-a/books/11-0.txt", "books:shelf-b/books/11-0.txt"]
    assert not rejected


def test_a_file_named_twice_is_read_once(books):
    files = resolve(corpus_sources("books", (str(books), str(books / "11-0.txt"), f"{books}/./11-0.txt")))
    assert len(files["books"]) == 4


# 3. Byte-order marks say the encoding.


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be", "utf-8-sig"])
def test_a_book_with_a_byte_order_mark_is_read_in_its_encoding(encoding):
    text = ALICE.read_bytes().decode("utf-8-sig")
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be", "utf-32-be"):  # the codecs without a mark of their own
        data = "\ufeff".encode(encoding) + data
    assert decode_text(data, "alice.txt") == text
    assert read_book(data, "alice.txt") == read_book(ALICE.read_bytes(), "alice.txt")


@pytest.mark.parametrize(
    "data, unit, advice",
    [
        ("Alice’s".encode("cp1252"), "file", r"`iconv -f cp1252 -t utf-8`"),
        ("Alice".encode("utf-16"), "line", r"it is UTF-16 text \(it starts with a byte-order mark\): convert it to UTF-8 \(`iconv -f UTF-16 -t UTF-8`\)"),
        ("Alice".encode("utf-16-le") + b"\xff", "file", r"it looks like binary data \(it holds NUL bytes\)"),
    ],
)
def test_undecodable_bytes_get_advice_that_fits_them(data, unit, advice):
    with pytest.raises(CorpusError, match=rf"^x: invalid UTF-8 at byte \d+ of the {unit} .*{advice}"):
        decode_utf8(data, "x", unit)


def test_a_broken_utf16_file_is_named_for_what_it_is():
    with pytest.raises(CorpusError, match=r"x: invalid UTF-16 at byte 6 of the file .* after a UTF-16 byte-order mark"):
        decode_text("\ufeffAl".encode("utf-16-le") + b"\x00\xdc", "x")  # a lone low surrogate


def test_the_books_reader_counts_each_bad_file_under_its_reason(tmp_path):
    text = ALICE.read_bytes().decode("utf-8-sig")
    files = {
        "utf16.txt": text.encode("utf-16"),
        "cp1252.txt": "Alice’s Adventures".encode("cp1252"),
        "broken16.txt": "\ufeffAl".encode("utf-16-le") + b"\x00\xdc",
        "dump.txt": _book_xml(),
    }
    (tmp_path / "books").mkdir()
    for name, data in files.items():
        (tmp_path / "books" / name).write_bytes(data)
    (tmp_path / "books" / "gone.txt").mkdir()  # what reading a file that went away or is unreadable meets
    paths = sorted(str(tmp_path / "books" / n) for n in [*files, "gone.txt"])
    docs, rejected, tallies = read_inputs({"books": paths}, tmp_path / "work", on_error="skip")
    assert [d.key for d in docs] == ["books:utf16.txt"]
    assert docs[0].text == read_book(ALICE.read_bytes(), "alice.txt")[1]
    assert sorted((r.key, r.reason) for r in rejected) == [
        ("books:broken16.txt", "invalid_utf16"), ("books:cp1252.txt", "invalid_utf8"),
        ("books:dump.txt", "not_text"), ("books:gone.txt", "unreadable"),
    ]  # fmt: skip
    assert tallies == {
        "read": 5, "books/read": 5,
        **{f"{s}dropped:{reason}": 1 for s in ("", "books/") for reason in ("invalid_utf16", "invalid_utf8", "not_text", "unreadable")},
    }  # fmt: skip


def test_the_books_reader_names_the_file_and_the_way_out(tmp_path):
    (tmp_path / "dump.txt").write_bytes(_book_xml())
    with pytest.raises(Exception, match=r"dump\.txt: a MediaWiki XML dump, not a plain-text book; .*--on-error skip"):
        read_inputs({"books": [str(tmp_path / "dump.txt")]}, tmp_path / "work")


def test_domain_text_with_a_byte_order_mark(tmp_path):
    whole = tmp_path / "notes.txt"
    whole.write_text("Some notes.\n", encoding="utf-16")
    assert [d.text for d in iter_documents(str(whole), "text")] == ["Some notes.\n"]
    lines = tmp_path / "records.jsonl"
    lines.write_text('{"text": "a record"}\n', encoding="utf-16")
    [bad] = iter_documents(str(lines), "jsonl", on_error="skip")  # one record for the file, not garbage per line
    assert isinstance(bad, BadRecord) and bad.reason == "invalid_utf8" and "iconv -f UTF-16 -t UTF-8" in bad.message
    with pytest.raises(CorpusError, match=r"records\.jsonl:1: UTF-16 text .* read line by line as UTF-8"):
        list(iter_documents(str(lines), "jsonl"))


# 4. In a books directory only *.txt files are books; the others are counted, not read.


def test_a_books_directory_reads_only_txt_files(books):
    for name in ("MANIFEST.tsv", "README", "cover.jpg"):
        (books / name).write_bytes(b"file\ttitle\n")
    (books / "UPPER.TXT").write_bytes(ALICE.read_bytes())
    files = resolve(corpus_sources("books", (str(books),)))
    assert [os.path.basename(p) for p in files["books"]] == ["11-0.txt", "219-0.txt", "35-0.txt", "UPPER.TXT", "pg7256.txt"]
    assert [os.path.basename(p) for p in files["not_books"]] == ["MANIFEST.tsv", "README", "cover.jpg"]
    # a file named on the command line, or matched by a glob, is read whatever its name
    assert resolve(corpus_sources("books", (str(books / "README"),))) == {"books": [str(books / "README")]}
    assert len(resolve(corpus_sources("books", (f"{books}/*",)))["books"]) == 8


def test_a_directory_without_books_is_refused(tmp_path):
    (tmp_path / "MANIFEST.tsv").write_text("file\ttitle\n")
    with pytest.raises(UserError, match=r"no book in this directory \(books are \*\.txt files; it holds MANIFEST\.tsv\)"):
        resolve(corpus_sources("books", (str(tmp_path),)))


def test_the_readers_read_only_the_books_of_a_books_directory(books, tmp_path):
    (books / "MANIFEST.tsv").write_text("file\ttitle\n")
    files = resolve(corpus_sources("books", (str(books),)))
    docs, rejected, tallies = read_inputs(files, tmp_path / "work")
    assert sorted(d.key for d in docs) == ["books:11-0.txt", "books:219-0.txt", "books:35-0.txt", "books:pg7256.txt"]
    assert not rejected and tallies == {"read": 4, "books/read": 4}  # the others are the build's to count


def test_a_build_counts_the_files_of_a_books_directory_that_are_no_books(books, tmp_path):
    (books / "MANIFEST.tsv").write_text("file\ttitle\n")
    counts = run_build(BuildConfig(corpus="books", inputs=(str(books),), out=str(tmp_path / "o"), **FAST))["counts"]
    assert counts["documents_read"] == 5 and counts["dropped"]["not_a_book"] == 1
    assert counts["by_source"]["books"] == {"read": 5, "kept": 4, "dropped": {"not_a_book": 1}}
    _reconciles(counts)
    rejects = [json.loads(line) for line in (tmp_path / "o" / "reports" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["key"], r["reason"]) for r in rejects] == [("books:MANIFEST.tsv", "not_a_book")]


@pytest.mark.parametrize("given", ["the directory", "the pipe", "a glob"])
def test_a_named_pipe_among_the_inputs_is_refused_not_read(tmp_path, given):
    # before: the books reader opened the pipe and the build waited forever
    books = tmp_path / "books"
    books.mkdir()
    shutil.copy(ALICE, books / "alice.txt")
    os.mkfifo(books / "pipe.txt")
    pattern = {"the directory": books, "the pipe": books / "pipe.txt", "a glob": books / "*.txt"}[given]
    where = f"--input {pattern}" if given == "the pipe" else f"--input {pattern}: {books / 'pipe.txt'}"
    with pytest.raises(UserError, match=rf"^{re.escape(where)} is a named pipe \(FIFO\), not a file to read"):
        resolve(corpus_sources("books", (str(pattern),)))


@pytest.mark.parametrize(
    "path, what",
    [("/dev/null", "a character device"), ("<tmp>/gone.txt", r"a broken symbolic link \(to .*nowhere\.txt\)")],
)
def test_an_input_that_is_no_file_is_named_for_what_it_is(tmp_path, path, what):
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    path = path.replace("<tmp>", str(tmp_path))
    with pytest.raises(UserError, match=rf"^--input {re.escape(path)} is {what}, not a file to read"):
        resolve(corpus_sources("books", (path,)))


def test_a_domain_corpus_mixing_absolute_and_relative_inputs(tmp_path, monkeypatch):
    # before: "Can't mix absolute and relative paths" from the keys' common root, as a traceback
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(ALICE, tmp_path / name / "alice.txt")
    monkeypatch.chdir(tmp_path)
    cfg = BuildConfig(corpus=str(tmp_path / "a"), inputs=("b",), on_error="skip", out=str(tmp_path / "o"), **FAST)
    counts = run_build(cfg)["counts"]
    assert counts["documents_read"] == 2
    _reconciles(counts)
