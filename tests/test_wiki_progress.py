"""The readers' progress callback: compressed bytes consumed, adding up to the whole input."""

import bz2

import pytest
from corpus_text import WIKI_DUMP

from electra_data import wiki
from electra_data.errors import CorpusError
from electra_data.multistream import multistream_index, stream_ranges, write_multistream
from electra_data.wiki import BadPage, iter_pages, iter_pages_in_range

MB = 1 << 20


def _read(pages) -> tuple[list, list[tuple[int, int]]]:
    """The items ``pages(progress)`` yields, and the progress calls: (bytes, items yielded before)."""
    items, calls = [], []
    for item in pages(lambda n: calls.append((n, len(items)))):
        items.append(item)  # noqa: PERF402 - one at a time: the callback counts them
    return items, calls


@pytest.fixture(scope="module")
def xml() -> bytes:
    return bz2.open(WIKI_DUMP).read()


@pytest.fixture(scope="module")
def sequential() -> list:
    """The pages of the bundled dump, read without a callback."""
    return list(iter_pages(WIKI_DUMP))


@pytest.fixture(scope="module")
def multistream(tmp_path_factory, xml):
    dump = tmp_path_factory.mktemp("multistream") / "enwiki-test-pages-articles-multistream.xml.bz2"
    write_multistream(xml, str(dump))
    return dump


def test_a_bz2_dump_reports_its_size_as_it_goes(sequential):
    pages, calls = _read(lambda progress: iter_pages(WIKI_DUMP, progress=progress))
    assert pages == sequential  # the callback changes nothing read
    assert sum(n for n, _ in calls) == WIKI_DUMP.stat().st_size
    assert len(calls) >= 2 and all(n >= MB for n, _ in calls[:-1])  # about once per MB, then the end
    assert 0 < calls[0][1] < len(pages)  # the first MB comes before the last page
    assert calls[-1][1] == len(pages)  # the rest once all are read


def test_a_plain_xml_dump_reports_its_size(tmp_path, xml):
    dump = tmp_path / "dump.xml"
    dump.write_bytes(xml)
    pages, calls = _read(lambda progress: iter_pages(dump, progress=progress))
    assert len(pages) == 206
    assert sum(n for n, _ in calls) == len(xml)
    assert len(calls) <= len(xml) // MB + 1


def test_each_multistream_range_reports_its_own_bytes(multistream, sequential):
    ranges = stream_ranges(multistream_index(str(multistream)), multistream.stat().st_size)
    everything = []
    for start, end in ranges:
        pages, calls = _read(
            lambda progress, start=start, end=end: iter_pages_in_range(str(multistream), start, end, progress=progress)
        )
        assert sum(n for n, _ in calls) == end - start
        everything += pages
    assert everything == sequential


def test_a_range_over_a_mb_reports_as_it_is_parsed(tmp_path, xml):
    dump = tmp_path / "one-pages-articles-multistream.xml.bz2"
    index = write_multistream(xml, str(dump), pages_per_stream=1000)  # the pages in one stream
    ((start, end),) = stream_ranges(index, dump.stat().st_size)
    pages, calls = _read(lambda progress: iter_pages_in_range(str(dump), start, end, progress=progress))
    assert end - start > MB and len(pages) == 206
    assert sum(n for n, _ in calls) == end - start
    assert len(calls) == 2 and calls[0][0] >= MB and 0 < calls[0][1] < len(pages)


def test_a_truncated_dump_skipped_still_reports_its_whole_size(tmp_path):
    dump = tmp_path / "truncated.xml.bz2"
    dump.write_bytes(WIKI_DUMP.read_bytes()[:1_200_000])
    items, calls = _read(lambda progress: iter_pages(dump, skip_bad_pages=True, progress=progress))
    assert isinstance(items[-1], BadPage) and items[-1].reason == "corrupt_stream"
    assert sum(n for n, _ in calls) == 1_200_000


def test_a_truncated_dump_that_fails_raises_as_before(tmp_path):
    dump = tmp_path / "truncated.xml.bz2"
    dump.write_bytes(WIKI_DUMP.read_bytes()[:1_200_000])
    calls = []
    with pytest.raises(CorpusError, match="truncated or corrupt compressed data near byte"):
        list(iter_pages(dump, progress=calls.append))
    assert sum(calls) < 1_200_000  # no final call: the read did not end


def test_a_corrupt_range_skipped_reports_its_bytes(multistream, tmp_path):
    data = bytearray(multistream.read_bytes())
    start, end = stream_ranges(multistream_index(str(multistream)), len(data))[0]
    data[start + 100 : start + 200] = bytes(100)
    broken = tmp_path / "broken-pages-articles-multistream.xml.bz2"
    broken.write_bytes(bytes(data))
    items, calls = _read(lambda progress: iter_pages_in_range(str(broken), start, end, skip_bad_pages=True, progress=progress))
    assert [item.reason for item in items] == ["corrupt_stream"]
    assert calls == [(end - start, 1)]
    with pytest.raises(CorpusError, match="corrupt compressed stream"):
        list(iter_pages_in_range(str(broken), start, end, progress=calls.append))


def test_the_meter_reports_at_most_once_per_mb_and_the_rest_at_the_end():
    calls = []
    meter = wiki._Meter(calls.append)
    for consumed in (1000, MB - 1, MB + 5, MB + 10, 3 * MB):
        meter.update(consumed)
    meter.finish(3 * MB + 7)
    meter.finish(3 * MB + 7)  # nothing new: no call
    assert calls == [MB + 5, 2 * MB - 5, 7]
    wiki._Meter(None).finish(10)  # no callback: nothing to do
