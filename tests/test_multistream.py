"""Multistream dumps: the bundled excerpt re-packed in Wikimedia's layout, read range by range."""

import bz2
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from electra_data.config import BuildConfig
from electra_data.errors import CorpusError, UserError
from electra_data.inputs import expand, resolve
from electra_data.pipelines.build import run_build
from electra_data.pipelines.read import ReadWiki, wiki_work
from electra_data.wiki import iter_pages, iter_pages_in_range, multistream_index, stream_ranges, write_multistream
from corpus_text import WIKI_DUMP

SHARED_INDEX = Path(__file__).resolve().parents[2] / "shared/data/wikipedia/enwiki-shortened-p10p30302-multistream-index.txt.bz2"


@pytest.fixture(scope="module")
def multistream(tmp_path_factory):
    dump = tmp_path_factory.mktemp("multistream") / "enwiki-test-pages-articles-multistream.xml.bz2"
    write_multistream(bz2.open(WIKI_DUMP).read(), str(dump))
    return dump


def test_the_layout_matches_the_published_index(multistream):
    ranges = stream_ranges(multistream_index(str(multistream)), multistream.stat().st_size)
    assert [r[0] for r in ranges] == [638, 575005, 1617601]  # the offsets Wikimedia's tooling gives
    ours = bz2.decompress(Path(multistream_index(str(multistream))).read_bytes())
    assert ours.split(b"\n")[0] == b"638:10:AccessibleComputing"
    if SHARED_INDEX.exists():  # Wikimedia's own index of the same pages (in ../shared)
        assert ours == bz2.decompress(SHARED_INDEX.read_bytes())


def test_ranges_yield_exactly_the_pages_of_a_sequential_read(multistream):
    work = wiki_work([str(multistream)])
    assert len(work) == 3 and all(start is not None for _, start, _ in work)
    by_range = [p for path, start, end in work for p in iter_pages_in_range(path, start, end)]
    assert by_range == list(iter_pages(multistream)) == list(iter_pages(WIKI_DUMP))


def test_a_dump_without_index_is_read_whole(tmp_path):
    assert wiki_work([str(WIKI_DUMP)]) == [(str(WIKI_DUMP), None, None)]


def _labels(paths):
    p = beam.Pipeline(runner=FnApiRunner())  # the graph only: never run
    _ = p | ReadWiki([str(x) for x in paths])
    return {t.full_label.split("/")[-1] for t in p.transforms_stack[0].parts[0].parts}


@pytest.mark.parametrize("inputs, spread", [("one plain dump", True), ("two plain dumps", False), ("ranges", False)])
def test_pages_are_shuffled_only_when_one_worker_would_read_them_all(multistream, inputs, spread):
    paths = {"one plain dump": [WIKI_DUMP], "two plain dumps": [WIKI_DUMP, WIKI_DUMP], "ranges": [multistream]}[inputs]
    assert ("SpreadPages" in _labels(paths)) is spread


def test_a_corrupt_range_names_its_bytes(multistream, tmp_path):
    broken = tmp_path / multistream.name
    data = bytearray(multistream.read_bytes())
    data[700:720] = b"\0" * 20
    broken.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match=r"bytes 638-575005\): corrupt compressed stream"):
        list(iter_pages_in_range(str(broken), 638, 575005))


def test_a_bad_index_line_is_refused(tmp_path):
    index = tmp_path / "x-multistream-index.txt.bz2"
    index.write_bytes(bz2.compress(b"638:10:A\nnot-an-offset\n"))
    with pytest.raises(CorpusError, match="line 2 is not offset:page_id:title"):
        stream_ranges(str(index), 10_000)


def test_a_multistream_build_writes_the_same_shards_as_a_sequential_one(multistream, tmp_path):
    fast = dict(vocab_size=2000, dedup="exact", num_shards=2)
    parallel = run_build(BuildConfig(inputs=(str(multistream),), out=str(tmp_path / "m"), **fast), workers=2)
    # the same file without its index beside it is read sequentially; keys name the dump file
    alone = tmp_path / "without-index" / multistream.name
    alone.parent.mkdir()
    alone.write_bytes(multistream.read_bytes())
    assert wiki_work([str(alone)]) == [(str(alone), None, None)]
    sequential = run_build(BuildConfig(inputs=(str(alone),), out=str(tmp_path / "s"), **fast))
    assert parallel["counts"] == sequential["counts"]
    assert [s["sha256"] for s in parallel["shards"]] == [s["sha256"] for s in sequential["shards"]]


def test_a_dump_directory_is_read_without_its_index(multistream):
    # Wikimedia's layout: the index lies beside the dump; it is the dump's index, not a dump
    directory = str(multistream.parent)
    index = multistream_index(str(multistream))
    assert sorted(expand(directory)) == sorted([str(multistream), index])
    assert resolve({"wiki": (directory,)}) == {"wiki": [str(multistream)]}
    with pytest.raises(UserError, match=r"a multistream index, which is read with its dump; pass the dump"):
        resolve({"wiki": (index,)})
