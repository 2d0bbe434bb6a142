"""Multistream dumps: the bundled excerpt re-packed in Wikimedia's layout, read range by range."""

import bz2
from pathlib import Path

import pytest

from electra_data.config import BuildConfig
from electra_data.errors import CorpusError, UserError
from electra_data.inputs import expand, resolve
from electra_data.pipelines.build import run_build
from electra_data.pipelines.plan import plan_build
from electra_data.multistream import multistream_index, stream_ranges, write_multistream
from electra_data.wiki import iter_pages, iter_pages_in_range
from corpus_text import WIKI_DUMP
from spilled import read_inputs

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


def _read_whole(path):
    """The read items of one dump: None for one read whole, else its items' byte ranges."""
    items = plan_build({"wiki": [str(path)]}).items
    assert {item.files for item in items} == {((str(path), path.name),)} and all(item.source == "wiki" for item in items)
    if any(item.ranges is None for item in items):
        assert len(items) == 1
        return None
    return [item.ranges for item in items]


def test_ranges_yield_exactly_the_pages_of_a_sequential_read(multistream):
    groups = _read_whole(multistream)
    assert len(groups) == 3 and all(len(group) == 1 for group in groups)  # ~0.5-1 MB streams, items of ~1 MB
    by_range = [p for group in groups for start, end in group for p in iter_pages_in_range(str(multistream), start, end)]
    assert by_range == list(iter_pages(multistream)) == list(iter_pages(WIKI_DUMP))


def test_a_dump_without_index_is_read_whole():
    assert _read_whole(WIKI_DUMP) is None
    [item] = plan_build({"wiki": [str(WIKI_DUMP)]}).items
    assert item.size == WIKI_DUMP.stat().st_size


def test_a_multistream_dump_is_cut_into_read_items_of_grouped_streams(tmp_path):
    # 21 streams of ~80 KB: read items of about 1 MB (the least), several streams each
    dump = tmp_path / "enwiki-test-pages-articles-multistream.xml.bz2"
    index = write_multistream(bz2.open(WIKI_DUMP).read(), str(dump), pages_per_stream=10)
    ranges = stream_ranges(index, dump.stat().st_size)
    plan = plan_build({"wiki": [str(dump)]})
    assert [item.name for item in plan.items] == [f"wiki-{i:05d}" for i in range(len(plan.items))]
    assert len(ranges) > 20 and 1 < len(plan.items) < len(ranges)
    assert [r for item in plan.items for r in item.ranges] == ranges  # every stream once, in file order
    for item in plan.items:
        assert item.size == sum(end - start for start, end in item.ranges)
        assert len(item.ranges) > 1 and item.size <= 2**20
    # the items together read exactly the pages of the dump, and the same documents as a
    # sequential read of the same file without its index
    multi, multi_rejected, multi_tallies = read_inputs({"wiki": [str(dump)]}, tmp_path / "multi")
    alone = tmp_path / "alone" / dump.name
    alone.parent.mkdir()
    alone.write_bytes(dump.read_bytes())
    assert _read_whole(alone) is None
    seq, seq_rejected, seq_tallies = read_inputs({"wiki": [str(alone)]}, tmp_path / "seq")
    assert multi == seq and multi_rejected == seq_rejected and multi_tallies == seq_tallies
    assert multi_tallies["wiki/read"] == len(multi) + len(multi_rejected) == 206


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
    # read as 3 items of one stream each (a build on --workers 2 writes what one on 1 does: test_build)
    assert len(_read_whole(multistream)) == 3
    by_ranges = run_build(BuildConfig(inputs=(str(multistream),), out=str(tmp_path / "m"), **fast))
    # the same file without its index beside it is read sequentially; keys name the dump file
    alone = tmp_path / "without-index" / multistream.name
    alone.parent.mkdir()
    alone.write_bytes(multistream.read_bytes())
    assert _read_whole(alone) is None
    sequential = run_build(BuildConfig(inputs=(str(alone),), out=str(tmp_path / "s"), **fast))
    assert by_ranges["counts"] == sequential["counts"]
    assert by_ranges["counts"]["documents_read"] == 206
    assert [s["sha256"] for s in by_ranges["shards"]] == [s["sha256"] for s in sequential["shards"]]
    assert (tmp_path / "m" / "tokenizer" / "vocab.txt").read_bytes() == (tmp_path / "s" / "tokenizer" / "vocab.txt").read_bytes()


def test_a_dump_directory_is_read_without_its_index(multistream):
    # Wikimedia's layout: the index lies beside the dump; it is the dump's index, not a dump
    directory = str(multistream.parent)
    index = multistream_index(str(multistream))
    assert sorted(expand(directory)) == sorted([str(multistream), index])
    assert resolve({"wiki": (directory,)}) == {"wiki": [str(multistream)]}
    with pytest.raises(UserError, match=r"a multistream index, which is read with its dump; pass the dump"):
        resolve({"wiki": (index,)})
