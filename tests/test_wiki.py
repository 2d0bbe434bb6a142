"""Tests for electra_data.wiki on a real English Wikipedia export (206 pages, schema 0.10)."""

from __future__ import annotations

import bz2
import tracemalloc
from pathlib import Path

import pytest

from electra_data.errors import CorpusError
from electra_data import wiki
from electra_data.articles import page_drop_reason
from electra_data.multistream import stream_ranges, write_multistream
from electra_data.wiki import BadPage, Page, iter_pages, iter_pages_in_range

_NAME = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_MULTISTREAM = "enwiki-shortened-p10p30302-multistream.xml.bz2"
_DIRS = [
    Path(__file__).parents[1] / "sample_data" / "wikipedia",
    Path("/work/shared/data/wikipedia"),
]


def _find(name: str) -> Path:
    """The sample file in the repo's sample_data/, else in the shared data directory."""
    return next((d / name for d in _DIRS if (d / name).exists()), _DIRS[-1] / name)


DUMP = _find(_NAME)

pytestmark = pytest.mark.skipif(not DUMP.exists(), reason=f"sample dump {_NAME} not found")

# The first page of the dump, verbatim (export schema 0.10), for schema and corruption tests.
FIRST_PAGE = """  <page>
    <title>AccessibleComputing</title>
    <ns>0</ns>
    <id>10</id>
    <redirect title="Computer accessibility" />
    <revision>
      <id>631144794</id>
      <parentid>381202555</parentid>
      <timestamp>2014-10-26T04:50:23Z</timestamp>
      <contributor>
        <username>Paine Ellsworth</username>
        <id>9092818</id>
      </contributor>
      <comment>add [[WP:RCAT|rcat]]s</comment>
      <model>wikitext</model>
      <format>text/x-wiki</format>
      <text xml:space="preserve">#REDIRECT [[Computer accessibility]]

{{Redr|move|from CamelCase|up}}</text>
      <sha1>4ro7vvppa5kmm0o1egfjztzcwd0vabw</sha1>
    </revision>
  </page>
"""


def _export(body: str, xmlns: str | None = "http://www.mediawiki.org/xml/export-0.10/") -> str:
    attrs = f' xmlns="{xmlns}"' if xmlns else ""
    return f'<mediawiki{attrs} version="0.10" xml:lang="en">\n{body}</mediawiki>\n'


@pytest.fixture(scope="module")
def pages() -> list[Page]:
    return list(iter_pages(DUMP))


@pytest.fixture(scope="module")
def by_id(pages: list[Page]) -> dict[int, Page]:
    return {page.id: page for page in pages}


def test_reads_every_page_of_the_dump(pages: list[Page]) -> None:
    assert len(pages) == 206
    assert sum(page.redirect for page in pages) == 100
    assert len({page.id for page in pages}) == 206
    assert (pages[0].id, pages[0].title, pages[-1].id, pages[-1].title) == (
        10, "AccessibleComputing", 775, "Algorithm",
    )


def test_page_fields_come_from_the_page_not_the_revision(by_id: dict[int, Page]) -> None:
    first = by_id[10]
    # 631144794 is the revision id and 9092818 the contributor's: neither may leak into Page.id.
    assert first == Page(
        id=10,
        title="AccessibleComputing",
        ns=0,
        redirect=True,
        text="#REDIRECT [[Computer accessibility]]\n\n{{Redr|move|from CamelCase|up}}",
    )
    anarchism = by_id[12]
    assert (anarchism.title, anarchism.ns, anarchism.redirect) == ("Anarchism", 0, False)
    assert anarchism.text.startswith("{{Redirect2|Anarchist|Anarchists|")
    assert "'''Anarchism''' is a [[political philosophy]]" in anarchism.text
    assert by_id[724].title == "Wikipedia:Adding Wikipedia articles to Nupedia"
    assert by_id[724].ns == 4


def test_multistream_dump_reads_the_same_pages(pages: list[Page]) -> None:
    if not _find(_MULTISTREAM).exists():
        pytest.skip(f"{_MULTISTREAM} not found")
    multistream = list(iter_pages(_find(_MULTISTREAM)))
    assert multistream == pages


def test_plain_xml_reads_the_same_pages(tmp_path: Path, pages: list[Page]) -> None:
    plain = tmp_path / "dump.xml"
    plain.write_bytes(bz2.decompress(DUMP.read_bytes()))
    assert list(iter_pages(plain)) == pages


@pytest.mark.parametrize(
    "xmlns",
    ["http://www.mediawiki.org/xml/export-0.9/", "http://www.mediawiki.org/xml/export-0.11/", None],
)
def test_tags_match_whatever_the_schema_namespace(tmp_path: Path, xmlns: str | None) -> None:
    path = tmp_path / "export.xml"
    path.write_text(_export(FIRST_PAGE, xmlns), encoding="utf-8")
    [page] = iter_pages(path)
    assert (page.id, page.title, page.redirect) == (10, "AccessibleComputing", True)


def test_page_without_text_has_empty_text(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    text_element = FIRST_PAGE[FIRST_PAGE.index("      <text") : FIRST_PAGE.index("      <sha1>")]
    body = FIRST_PAGE.replace(text_element, "")
    path.write_text(_export(body), encoding="utf-8")
    [page] = iter_pages(path)
    assert page.text == ""


def test_memory_does_not_grow_with_the_dump(tmp_path: Path) -> None:
    path = tmp_path / "long.xml"
    path.write_text(_export(FIRST_PAGE * 4000), encoding="utf-8")  # 3.4 MB, 4000 pages
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_pages(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 4000
    # Kept pages would hold over 20 MB of elements; cleared ones never more than a few buffers.
    assert peak < 2_000_000


def test_truncated_bz2_names_file_and_keeps_earlier_pages(tmp_path: Path) -> None:
    data = DUMP.read_bytes()
    truncated = tmp_path / "cut.xml.bz2"
    truncated.write_bytes(data[: len(data) // 2])
    read: list[Page] = []
    message = r"cut\.xml\.bz2: truncated or corrupt .* near byte \d+"
    with pytest.raises(CorpusError, match=message) as err:
        for page in iter_pages(truncated):
            read.append(page)
    assert 0 < len(read) < 206
    assert f"last good page: id {read[-1].id}" in str(err.value)
    assert "re-download" in str(err.value)


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(_export(FIRST_PAGE.replace("</title>", "</titel>")), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"broken\.xml: malformed XML at line 3, column \d+"):
        list(iter_pages(path))


@pytest.mark.parametrize(("name", "data"), [("empty.xml", b""), ("empty.xml.bz2", bz2.compress(b"")), ("empty.xml.bz2", b"")])
def test_empty_file_is_a_corpus_error(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CorpusError, match=rf"{name}: the file is empty"):
        list(iter_pages(path))


def test_a_file_that_is_not_xml_says_so(tmp_path: Path) -> None:
    # what a dump's multistream index (offset:page_id:title lines) gives when read as the dump
    path = tmp_path / "enwiki-multistream-index.xml.bz2"
    path.write_bytes(bz2.compress(b"638:10:AccessibleComputing\n638:12:Anarchism\n"))
    with pytest.raises(CorpusError, match=r"index\.xml\.bz2: not XML \(syntax error.*pass a MediaWiki pages-articles"):
        list(iter_pages(path))


def test_a_book_given_as_a_dump_is_not_xml_not_a_dump_to_redownload(tmp_path: Path) -> None:
    # a Gutenberg book starts with a UTF-8 BOM: expat failed at column 1, and the message was
    # "malformed XML ... re-download the dump"
    path = tmp_path / "book.txt"
    path.write_bytes("\ufeffThe Project Gutenberg EBook of a book\n\nChapter 1\n".encode())
    with pytest.raises(CorpusError, match=r"book\.txt: not XML \(syntax error.*\(plain-text books are read with --corpus books\)$"):
        list(iter_pages(path))


def test_missing_file_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"missing\.xml\.bz2: no such file"):
        list(iter_pages(tmp_path / "missing.xml.bz2"))


def test_other_xml_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text("<rss><channel><title>x</title></channel></rss>", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"feed\.xml: root element is <rss>, not <mediawiki>"):
        list(iter_pages(path))


def test_page_without_integer_id_is_a_corpus_error(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    path.write_text(_export(FIRST_PAGE.replace("<id>10</id>", "<id>ten</id>")), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"export\.xml: page 'AccessibleComputing' has a missing"):
        list(iter_pages(path))


@pytest.mark.parametrize(
    ("page_id", "reason"),
    [
        (10, "redirect"),  # AccessibleComputing
        (724, "not_main_namespace"),  # Wikipedia:Adding Wikipedia articles to Nupedia
        (590, "disambiguation"),  # Austin (disambiguation): {{disambiguation|geo|school|ship}}
        (579, "disambiguation"),  # Alien: a title without "(disambiguation)", {{disambiguation}}
        (696, "disambiguation"),  # Aa River: {{geodis}}
        (12, None),  # Anarchism
        (775, None),  # Algorithm
    ],
)
def test_page_drop_reason_on_real_pages(
    by_id: dict[int, Page], page_id: int, reason: str | None
) -> None:
    assert page_drop_reason(by_id[page_id]) == reason


def test_drop_reasons_over_the_whole_dump(pages: list[Page]) -> None:
    reasons = [page_drop_reason(page) for page in pages]
    assert reasons.count("redirect") == 99  # the 100th redirect is outside the main namespace
    assert reasons.count("not_main_namespace") == 1
    assert reasons.count("disambiguation") == 8
    assert reasons.count(None) == 98
    assert [page_drop_reason(p, keep_disambiguation=True) for p in pages].count(None) == 106


@pytest.mark.parametrize(
    "text",
    ["#REDIRECT [[Computer accessibility]]", "#redirect [[Computer accessibility]]",
     " #Redirect[[A]]"],
)
def test_redirect_text_without_flag_is_a_redirect(text: str) -> None:
    assert page_drop_reason(Page(id=1, title="T", ns=0, redirect=False, text=text)) == "redirect"


@pytest.mark.parametrize(
    "template",
    ["{{disambig}}", "{{dab}}", "{{Hndis|Smith, John}}", "{{set index article}}", "{{SIA}}",
     "{{Surname}}", "{{Template:Disambiguation}}", "{{Place name disambiguation}}",
     "{{ disambiguation \n| geo }}"],
)
def test_disambiguation_template_variants(template: str) -> None:
    page = Page(id=1, title="T", ns=0, redirect=False, text=f"'''T''' may refer to:\n{template}")
    assert page_drop_reason(page) == "disambiguation"
    assert page_drop_reason(page, keep_disambiguation=True) is None


def test_templates_that_only_mention_disambiguation_pages_are_kept(by_id: dict[int, Page]) -> None:
    # Anarchism opens with {{Redirect2|...}} hatnotes pointing at other pages; it is an article.
    assert "{{Redirect2|" in by_id[12].text
    for text in (
        "{{About|the river|the town|Aa (disambiguation)}}",
        "{{Disambiguation needed|date=May 2016}}",
    ):
        assert page_drop_reason(Page(id=1, title="T", ns=0, redirect=False, text=text)) is None


def _with_two_broken_pages(xml: bytes) -> tuple[bytes, list[int]]:
    """The sample dump with the title tag of its 10th article mismatched and the text of its 50th
    holding bytes that are not UTF-8 (as a bad copy or a disk error leaves them); returns the
    indices of the broken pages."""
    starts = [i for i in range(len(xml)) if xml.startswith(b"  <page>", i)]
    articles = [i for i, page in enumerate(iter_pages(DUMP)) if page_drop_reason(page) is None]
    broken = [articles[9], articles[49]]
    pieces, last = [], 0
    for k in broken:
        page = xml[starts[k] : starts[k + 1]]
        fixed = page.replace(b"</title>", b"</titel>", 1) if k == broken[0] else page.replace(b"</text>", b"\xff\xfe</text>", 1)
        assert fixed != page
        pieces += [xml[last : starts[k]], fixed]
        last = starts[k + 1]
    return b"".join(pieces) + xml[last:], broken


@pytest.mark.parametrize("chunk", [97, 4096, 1 << 16])
@pytest.mark.parametrize("name", ["broken.xml", "broken.xml.bz2"])
def test_skip_bad_pages_reads_on_after_a_broken_page(tmp_path: Path, monkeypatch, chunk: int, name: str) -> None:
    monkeypatch.setattr(wiki, "_CHUNK", chunk)  # the bad line and the next <page> across chunk edges
    good = list(iter_pages(DUMP))
    xml, broken = _with_two_broken_pages(bz2.open(DUMP).read())
    path = tmp_path / name
    path.write_bytes(bz2.compress(xml) if name.endswith(".bz2") else xml)
    got = list(iter_pages(path, skip_bad_pages=True))
    assert [p for p in got if isinstance(p, Page)] == [p for i, p in enumerate(good) if i not in broken]
    bad = [p for p in got if isinstance(p, BadPage)]
    assert [b.reason for b in bad] == ["corrupt_page", "corrupt_page"]
    assert "mismatched tag" in bad[0].message and "invalid token" in bad[1].message
    for b in bad:  # where names the line of the decompressed XML that is bad
        line = int(b.where.rsplit(":", 1)[1])
        assert b"</titel>" in xml.split(b"\n")[line - 1] or b"\xff" in xml.split(b"\n")[line - 1]
    with pytest.raises(CorpusError, match=rf"{name}: malformed XML at line {bad[0].where.rsplit(':', 1)[1]},"):
        list(iter_pages(path))


def test_skip_bad_pages_in_a_multistream_range(tmp_path: Path) -> None:
    xml, broken = _with_two_broken_pages(bz2.open(DUMP).read())
    dump = tmp_path / "enwiki-broken-pages-articles-multistream.xml.bz2"
    ranges = stream_ranges(write_multistream(xml, str(dump)), dump.stat().st_size)
    got = [p for start, end in ranges for p in iter_pages_in_range(str(dump), start, end, skip_bad_pages=True)]
    good = list(iter_pages(DUMP))
    assert [p for p in got if isinstance(p, Page)] == [p for i, p in enumerate(good) if i not in broken]
    assert [p.reason for p in got if isinstance(p, BadPage)] == ["corrupt_page", "corrupt_page"]


def _without_end_of_page(xml: bytes, page_id: int) -> tuple[bytes, int]:
    """The export without the ``</page>`` of page ``page_id``, and the line that page starts on."""
    at = xml.index(f"<id>{page_id}</id>".encode())
    start, end = xml.rindex(b"<page>", 0, at), xml.index(b"</page>", at)
    return xml[:end] + xml[end + len(b"</page>") :], xml.count(b"\n", 0, start) + 1


@pytest.mark.parametrize("chunk", [97, 1 << 16])
@pytest.mark.parametrize("name", ["unclosed.xml", "unclosed.xml.bz2"])
def test_a_page_without_its_end_is_reported_at_that_page(tmp_path: Path, monkeypatch, chunk: int, name: str) -> None:
    monkeypatch.setattr(wiki, "_CHUNK", chunk)  # the <page> tags across chunk edges
    xml, line = _without_end_of_page(bz2.open(DUMP).read(), 12)
    path = tmp_path / name
    path.write_bytes(bz2.compress(xml) if name.endswith(".bz2") else xml)
    # before: "malformed XML" at the last line of the file, 39,000 lines below the broken page
    with pytest.raises(CorpusError, match=rf"{name}: the page at line {line} of the (decompressed )?XML \(id 12 \('Anarchism'\)\) has no </page>"):
        list(iter_pages(path))
    got = list(iter_pages(path, skip_bad_pages=True))
    bad = [p for p in got if isinstance(p, BadPage)]
    assert [(b.where, b.reason) for b in bad] == [(f"{path}:{line}", "corrupt_page")]
    assert "id 12 ('Anarchism')" in bad[0].message
    # only the broken page is lost: the next one, which began inside it, is read
    assert [p for p in got if isinstance(p, Page)] == [p for p in iter_pages(DUMP) if p.id != 12]


def test_a_page_without_its_end_in_a_multistream_range(tmp_path: Path) -> None:
    xml, _ = _without_end_of_page(bz2.open(DUMP).read(), 12)
    dump = tmp_path / "enwiki-unclosed-pages-articles-multistream.xml.bz2"
    ranges = stream_ranges(write_multistream(xml, str(dump)), dump.stat().st_size)
    got = [p for start, end in ranges for p in iter_pages_in_range(str(dump), start, end, skip_bad_pages=True)]
    assert [p.reason for p in got if isinstance(p, BadPage)] == ["corrupt_page"]
    assert [p for p in got if isinstance(p, Page)] == [p for p in iter_pages(DUMP) if p.id != 12]


def test_the_last_page_without_its_end_is_named(tmp_path: Path) -> None:
    xml, line = _without_end_of_page(bz2.open(DUMP).read(), 775)  # Algorithm, the last page
    path = tmp_path / "unclosed.xml"
    path.write_bytes(xml)
    with pytest.raises(CorpusError, match=rf"malformed XML at line \d+, .*inside the page at line {line} \(id 775 \('Algorithm'\)\)"):
        list(iter_pages(path))
