"""Build progress: item files written by workers, summed by the driver, shown as a bar or a line."""

import io
import json
import multiprocessing
import os
import re
import time

import pytest

from electra_data import progress
from electra_data.progress import STAGES, ItemProgress, ProgressDisplay, StageProgress, snapshot, status_line, summary_line


def _item(path) -> dict:
    return json.loads(open(path, "rb").read())


def _files(directory) -> list[str]:
    return sorted(name for _, _, names in os.walk(directory) for name in names)


def test_the_stages_in_display_order():
    assert STAGES == ("read", "clean", "dedup", "select", "vocab", "pack", "sort", "write")


def test_the_items_of_two_workers_are_summed_per_stage(tmp_path):
    a, b = ItemProgress(str(tmp_path), "read", "dump-1.xml.bz2"), ItemProgress(str(tmp_path), "read", "dump-2.xml.bz2")
    a.advance(nbytes=1000, docs=3)
    b.advance(nbytes=500, docs=2)
    a.done()
    dedup = ItemProgress(str(tmp_path), "dedup", "bundle-0")
    dedup.advance(docs=4)
    assert _item(a.path) == {"bytes": 1000, "docs": 3, "done": True}
    assert snapshot(str(tmp_path)) == {
        "read": StageProgress(bytes=1500, docs=5, items=2, done=1),
        "dedup": StageProgress(bytes=0, docs=4, items=1, done=0),
    }
    assert list(snapshot(str(tmp_path))) == ["read", "dedup"]  # in STAGES order


def _worker(work_dir: str, item: str, nbytes: int) -> None:
    p = ItemProgress(work_dir, "read", item)
    for _ in range(10):
        p.advance(nbytes=nbytes, docs=1)
    p.done()


def test_items_written_by_two_processes_are_summed(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker, args=(str(tmp_path), f"range-{i}", 100 * (i + 1))) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert [w.exitcode for w in workers] == [0, 0]
    assert snapshot(str(tmp_path)) == {"read": StageProgress(bytes=3000, docs=20, items=2, done=2)}


def test_a_retried_item_overwrites_its_file(tmp_path):
    first = ItemProgress(str(tmp_path), "read", "dump.xml.bz2:638-575005")
    first.advance(nbytes=400, docs=40)  # then its worker dies
    retry = ItemProgress(str(tmp_path), "read", "dump.xml.bz2:638-575005")
    retry.advance(nbytes=600, docs=50)
    retry.done()
    assert retry.path == first.path
    assert snapshot(str(tmp_path)) == {"read": StageProgress(bytes=600, docs=50, items=1, done=1)}


def test_an_item_is_written_at_most_once_a_second_and_when_done(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "_WRITE_EVERY", 3600.0)
    p = ItemProgress(str(tmp_path), "pack", "bundle-7")
    p.advance(docs=1)  # the first write is at once: the stage shows as begun
    p.advance(docs=1)
    p.advance(docs=1)
    assert _item(p.path) == {"bytes": 0, "docs": 1, "done": False}
    p.done()
    assert _item(p.path) == {"bytes": 0, "docs": 3, "done": True}
    monkeypatch.setattr(progress, "_WRITE_EVERY", 0.0)
    p.advance(docs=2)
    assert _item(p.path)["docs"] == 5
    assert _files(tmp_path) == [os.path.basename(p.path)]  # no temporary file left


@pytest.mark.parametrize(
    "items",
    [
        ["/data/enwiki.xml.bz2:638-575005", "/data/enwiki.xml.bz2:575005-1617601"],
        ["a/b", "a_b", "a b", "a:b"],  # cleaned alike, kept apart
        ["../../escape", "..", ".", "", ".hidden"],
        ["Café – 名前", "x" * 1000, "nul\x00byte", "\udcff"],
    ],
)
def test_item_names_become_safe_distinct_file_names(tmp_path, items):
    for item in items:
        ItemProgress(str(tmp_path), "read", item).done()
    names = os.listdir(tmp_path / "progress" / "read")
    assert len(names) == len(items)
    assert all(re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\.json", name) and len(name) < 120 for name in names)
    assert _files(tmp_path) == sorted(names)  # nothing written elsewhere
    assert snapshot(str(tmp_path))["read"].done == len(items)


def test_half_written_garbage_and_temporary_files_are_left_out(tmp_path):
    ItemProgress(str(tmp_path), "read", "good").done()
    directory = tmp_path / "progress" / "read"
    (directory / "good.json.tmp-0123").write_text('{"bytes": 5, "docs": 5, "done": true}')  # a write in flight
    garbage = {
        "half.json": '{"bytes": 12, "do',
        "empty.json": "",
        "list.json": "[1, 2]",
        "text.json": '{"bytes": "12", "docs": 1, "done": false}',
        "negative.json": '{"bytes": -1, "docs": 1, "done": false}',
        "bool.json": '{"bytes": true, "docs": 1, "done": false}',
        "missing.json": '{"bytes": 1, "docs": 1}',
        "binary.json": "\udcff",
    }
    for name, text in garbage.items():
        (directory / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    (directory / "folder.json").mkdir()
    (tmp_path / "progress" / "unknown-stage").mkdir()
    (tmp_path / "progress" / "dedup").mkdir()  # no file yet: not begun
    assert snapshot(str(tmp_path)) == {"read": StageProgress(bytes=0, docs=0, items=1, done=1)}


def test_a_file_that_vanishes_while_read_is_left_out(tmp_path, monkeypatch):
    ItemProgress(str(tmp_path), "read", "kept").done()
    listdir = os.listdir
    monkeypatch.setattr(progress.os, "listdir", lambda path: [*listdir(path), "gone.json"])
    assert snapshot(str(tmp_path))["read"].items == 1


def test_a_cache_reads_the_file_of_an_item_done_once(tmp_path):
    done, going = ItemProgress(str(tmp_path), "read", "done"), ItemProgress(str(tmp_path), "read", "going")
    done.advance(nbytes=10)
    done.done()
    going.advance(nbytes=5)
    cache = {}
    assert snapshot(str(tmp_path), cache=cache)["read"] == StageProgress(bytes=15, items=2, done=1)
    assert list(cache) == [done.path]
    with open(done.path, "w") as f:
        f.write('{"bytes": 999, "docs": 0, "done": true}')  # not read again
    going.done()
    assert snapshot(str(tmp_path), cache=cache)["read"] == StageProgress(bytes=15, items=2, done=2)
    assert snapshot(str(tmp_path))["read"].bytes == 1004
    os.remove(done.path)  # what is no longer there is not counted, cached or not
    assert snapshot(str(tmp_path), cache=cache)["read"] == StageProgress(bytes=5, items=1, done=1)


def test_no_progress_yet_is_an_empty_snapshot(tmp_path):
    assert snapshot(str(tmp_path)) == {}
    assert snapshot(str(tmp_path / "missing")) == {}


def test_a_work_dir_that_is_not_local_gets_no_progress(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = ItemProgress("gs://bucket/work", "read", "dump")
    p.advance(nbytes=10, docs=1)
    p.done()
    assert p.path is None and list(tmp_path.iterdir()) == []
    assert snapshot("gs://bucket/work") == {}


def test_an_unwritable_work_dir_never_raises(tmp_path, monkeypatch):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory")
    p = ItemProgress(str(in_the_way), "read", "dump")  # makedirs fails
    p.advance(nbytes=1, docs=1)
    p.done()
    occupied = ItemProgress(str(tmp_path), "dedup", "bundle")
    os.makedirs(occupied.path)  # the rename fails: a directory holds the file's name
    occupied.done()
    full = ItemProgress(str(tmp_path), "pack", "bundle")

    def no_space(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(progress.os, "replace", no_space)
    full.done()
    monkeypatch.undo()
    assert _files(tmp_path) == ["a-file"]  # no temporary file left behind
    assert snapshot(str(tmp_path)) == {}


def test_an_unknown_stage_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown progress stage 'tokenize'; use one of read, clean, dedup"):
        ItemProgress(str(tmp_path), "tokenize", "x")


GB = 1_000_000_000
READING = {"read": StageProgress(bytes=int(1.2 * GB), docs=1_054_000, items=13, done=12)}
DEDUPLICATING = {
    "read": StageProgress(bytes=int(5.4 * GB), docs=2_000_000, items=350, done=350),
    "dedup": StageProgress(bytes=0, docs=40_000, items=10, done=8),
}


@pytest.mark.parametrize(
    "snap, total, items, elapsed, stage_elapsed, line",
    [
        (READING, int(5.4 * GB), {"read": 350}, 310, None,
         "build: read 1.2 GB of 5.4 GB (22%), 3,400 docs/s, 0:05:10 elapsed, ETA 0:18:05, stage read (12/350 items)"),
        (READING, int(5.4 * GB), None, 310, None,
         "build: read 1.2 GB of 5.4 GB (22%), 3,400 docs/s, 0:05:10 elapsed, ETA 0:18:05, stage read (12 items done)"),
        # a later stage: its own document rate, ETA from its items done
        (DEDUPLICATING, int(5.4 * GB), {"read": 350, "dedup": 32}, 1800, 100,
         "build: read 5.4 GB of 5.4 GB (100%), 400 docs/s, 0:30:00 elapsed, ETA 0:05:00, stage dedup (8/32 items)"),
        (DEDUPLICATING, int(5.4 * GB), {"read": 350}, 1800, 100,
         "build: read 5.4 GB of 5.4 GB (100%), 400 docs/s, 0:30:00 elapsed, stage dedup (8 items done)"),
        ({"pack": StageProgress(docs=5, items=3)}, 2_500_000, {"pack": 40}, 90061, 2,
         "build: read 0 B of 2.5 MB (0%), 2.5 docs/s, 25:01:01 elapsed, stage pack (0/40 items)"),
        ({}, int(5.4 * GB), {"read": 350}, 3, None, "build: read 0 B of 5.4 GB (0%), 0:00:03 elapsed"),
        ({}, 0, None, 3, None, "build: read 0 B, 0:00:03 elapsed"),
        ({"read": StageProgress(bytes=1500, items=1)}, 1000, None, 0.4, None,
         "build: read 1.5 kB of 1.0 kB (100%), 0:00:00 elapsed, ETA 0:00:00, stage read (0 items done)"),
        ({"read": StageProgress(bytes=999, docs=7, items=1, done=1)}, 12_345_678, None, 0, None,
         "build: read 999 B of 12.3 MB (0%), 0:00:00 elapsed, stage read (1 items done)"),
    ],
)  # fmt: skip
def test_status_line(snap, total, items, elapsed, stage_elapsed, line):
    assert status_line(snap, total, items, elapsed, stage_elapsed=stage_elapsed) == line


def test_summary_line():
    assert summary_line(DEDUPLICATING, 2000) == "build: done in 0:33:20: read 5.4 GB, 2,000,000 documents (1,000 docs/s)"
    assert summary_line({}, 0) == "build: done in 0:00:00: read 0 B, 0 documents"


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_off_a_terminal_a_line_every_interval_then_a_summary(tmp_path):
    stale = ItemProgress(str(tmp_path), "write", "from-an-earlier-build")
    stale.done()
    stream = io.StringIO()
    with ProgressDisplay(str(tmp_path), total_bytes=1000, interval=0.05, stream=stream) as display:
        assert not display.tty  # a StringIO is no terminal
        assert not os.path.exists(stale.path)  # entering removed it
        ItemProgress(str(tmp_path), "read", "dump").advance(nbytes=500, docs=10)
        _wait_for(lambda: "stage read" in stream.getvalue())
        display.set_items("read", 2)
        _wait_for(lambda: "(0/2 items)" in stream.getvalue())
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3 and all(line.startswith("build: read ") for line in lines[:-1])
    assert any(line.startswith("build: read 500 B of 1.0 kB (50%), ") for line in lines)
    assert re.fullmatch(r"build: done in 0:00:0\d: read 500 B, 10 documents \([\d.,]+ docs/s\)", lines[-1])


def test_no_line_before_the_interval(tmp_path):
    stream = io.StringIO()
    with ProgressDisplay(str(tmp_path), total_bytes=1000, interval=30, stream=stream):
        time.sleep(0.6)  # more than a poll
    assert re.fullmatch(r"build: done in 0:00:0\d: read 0 B, 0 documents\n", stream.getvalue())


def test_a_failed_build_gets_no_summary_and_the_thread_stops(tmp_path):
    stream = io.StringIO()
    display = ProgressDisplay(str(tmp_path), total_bytes=1000, interval=30, stream=stream)
    with pytest.raises(RuntimeError, match="boom"), display:
        raise RuntimeError("boom")
    assert stream.getvalue() == "" and not display._thread.is_alive()


def test_on_a_terminal_a_live_bar(tmp_path):
    stream = io.StringIO()
    with ProgressDisplay(str(tmp_path), total_bytes=2_000_000, items={"read": 4}, stream=stream, tty=True):
        ItemProgress(str(tmp_path), "read", "dump").advance(nbytes=1_000_000, docs=10)
        _wait_for(lambda: "ETA" in stream.getvalue())
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())  # terminal control codes
    frame = out.split("\r")[-2]  # the last frame drawn
    assert re.fullmatch(r"read 0/4 [━╸╺]+ 1\.0/2\.0 MB ETA 0:00:0\d, [\d.]+ docs/s, 0:00:0\d elapsed\n?", frame)
    assert "build: read" not in out  # no plain lines
    assert out.split("\r")[-1].startswith("build: done in 0:00:0")  # in place of the bar


def test_a_display_of_a_remote_work_dir_shows_no_progress(tmp_path):
    stream = io.StringIO()
    with ProgressDisplay("gs://bucket/work", total_bytes=10, interval=0.05, stream=stream):
        _wait_for(lambda: stream.getvalue().count("\n") >= 1)
    assert stream.getvalue().startswith("build: read 0 B of 10 B (0%), ")


def test_a_closed_stream_does_not_stop_the_build(tmp_path):
    stream = io.StringIO()
    with ProgressDisplay(str(tmp_path), total_bytes=10, interval=0.05, stream=stream):
        stream.close()
        time.sleep(0.2)


def test_the_interval_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="interval must be positive, not 0"):
        ProgressDisplay(str(tmp_path), total_bytes=1, interval=0)
