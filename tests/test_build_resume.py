"""The work directory: a failed or interrupted build keeps its work, and --resume continues it
with the same shards as an uninterrupted build; a work directory is never taken over."""

import bz2
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from electra_data.config import BuildConfig
from electra_data.errors import CorpusError, UserError
from electra_data.inputs import resolve
from electra_data.pipelines import read as read_module
from electra_data.pipelines import tokenize as tokenize_module
from electra_data.pipelines.build import run_build
from electra_data.pipelines.plan import plan_build
from electra_data.pipelines.workdir import default_work_dir
from electra_data.multistream import write_multistream
from corpus_text import WIKI_DUMP

BOOKS = Path(__file__).resolve().parents[1] / "sample_data" / "books"


@pytest.fixture(scope="module")
def multistream(tmp_path_factory):
    dump = tmp_path_factory.mktemp("multistream") / "enwiki-test-pages-articles-multistream.xml.bz2"
    write_multistream(bz2.open(WIKI_DUMP).read(), str(dump))
    return dump


def _cfg(out: Path, dump: Path, **kw) -> BuildConfig:
    settings = {"vocab_size": 2000, "shard_size_mb": 0.5, **kw}
    return BuildConfig(corpus="wiki+books", inputs=(str(dump), str(BOOKS)), out=str(out), **settings)


def _shards(out: Path) -> dict:
    return {s["path"]: s["sha256"] for s in json.loads((out / "manifest.json").read_text())["shards"]}


@pytest.fixture(scope="module")
def uninterrupted(multistream, tmp_path_factory):
    out = tmp_path_factory.mktemp("plain") / "out"
    run_build(_cfg(out, multistream))
    assert not Path(default_work_dir(str(out))).exists()  # removed after success
    return _shards(out)


def _killed_while_packing(monkeypatch, cfg: BuildConfig) -> None:
    """Run the build as if its worker were killed once the reading and cleaning are done."""

    def boom(*args, **kwargs):
        raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(tokenize_module._PackFn, "process", boom)
        with pytest.raises(Exception, match="killed"):
            run_build(cfg)


def _count_reads(monkeypatch) -> list:
    """Spy on the wiki reader: the ranges it reads."""
    calls = []
    real = read_module.iter_pages_in_range

    def spy(path, start, end, **kwargs):
        calls.append(start)
        return real(path, start, end, **kwargs)

    monkeypatch.setattr(read_module, "iter_pages_in_range", spy)
    return calls


def test_a_build_killed_after_reading_resumes_without_reading_again(multistream, uninterrupted, tmp_path, monkeypatch):
    out = tmp_path / "out"
    work = Path(default_work_dir(str(out)))
    _killed_while_packing(monkeypatch, _cfg(out, multistream))
    assert not (out / "manifest.json").exists()
    assert sorted(p.name for p in (work / "read").iterdir()) and list((work / "docs").iterdir())
    calls = _count_reads(monkeypatch)
    run_build(_cfg(out, multistream), resume=True)
    assert calls == []  # every range was read before: nothing is read again
    assert _shards(out) == uninterrupted
    assert not work.exists()


def test_a_build_killed_while_reading_a_multistream_dump_reads_only_the_rest(multistream, uninterrupted, tmp_path, monkeypatch):
    out = tmp_path / "out"
    work = Path(default_work_dir(str(out)))
    real = read_module.iter_pages_in_range
    last = [None]

    def fails_on_the_last_range(path, start, end, **kwargs):
        if end == multistream.stat().st_size:  # as a worker killed there would
            last[0] = start
            raise RuntimeError("killed")
        return real(path, start, end, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(read_module, "iter_pages_in_range", fails_on_the_last_range)
        with pytest.raises(Exception, match="killed"):
            run_build(_cfg(out, multistream))
    cfg = _cfg(out, multistream)
    items = [i for i in plan_build(resolve(cfg.sources)).items if i.source == "wiki"]
    assert len(items) > 1  # the dump is read range by range, in several items
    done = {p.stem for p in (work / "read").iterdir()}
    read_before = {start for item in items if item.name in done for start, _ in item.ranges}
    calls = _count_reads(monkeypatch)
    run_build(cfg, resume=True)
    assert last[0] in calls  # the range that failed is read again, ...
    assert not read_before & set(calls)  # ... the items read before it are not
    assert _shards(out) == uninterrupted


def test_resume_refuses_a_changed_config_and_leaves_the_work(multistream, tmp_path, monkeypatch):
    out = tmp_path / "out"
    work = Path(default_work_dir(str(out)))
    _killed_while_packing(monkeypatch, _cfg(out, multistream))
    before = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    with pytest.raises(UserError, match=r"--resume: the build in .* other settings \(--seed, --vocab-size differ\)"):
        run_build(_cfg(out, multistream, seed=7, vocab_size=3000), resume=True)
    with pytest.raises(UserError, match="holds the work of an unfinished build; pass --resume"):
        run_build(_cfg(out, multistream))
    assert sorted(str(p.relative_to(work)) for p in work.rglob("*")) == before


def test_resume_refuses_changed_inputs(multistream, tmp_path, monkeypatch):
    out = tmp_path / "out"
    books = tmp_path / "books"
    books.mkdir()
    (books / "a.txt").write_bytes((BOOKS / "35-0.txt").read_bytes())
    cfg = BuildConfig(corpus="books", inputs=(str(books),), out=str(out), vocab_size=500)
    _killed_while_packing(monkeypatch, cfg)
    (books / "a.txt").write_bytes((BOOKS / "11-0.txt").read_bytes())
    with pytest.raises(UserError, match="the input files differ"):
        run_build(cfg, resume=True)


def test_resume_without_an_unfinished_build_is_refused(multistream, tmp_path):
    with pytest.raises(UserError, match="holds no unfinished build to continue; run without --resume"):
        run_build(_cfg(tmp_path / "out", multistream), resume=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["inside out", "containing out", "inside an input", "not ours"])
def test_a_work_dir_that_is_not_the_builds_own_is_refused(multistream, tmp_path, where):
    out = tmp_path / "out"
    books = tmp_path / "books"
    books.mkdir()
    (books / "a.txt").write_bytes((BOOKS / "35-0.txt").read_bytes())
    work = {"inside out": out / "work", "containing out": tmp_path, "inside an input": books / "work",
            "not ours": tmp_path / "mine"}[where]  # fmt: skip
    if where == "not ours":
        work.mkdir()
        (work / "notes.txt").write_text("keep me")
    message = {"inside out": "overlap", "containing out": "overlap", "inside an input": "overlaps the input",
               "not ours": "no build's work directory"}[where]  # fmt: skip
    cfg = BuildConfig(corpus="books", inputs=(str(books),), out=str(out), vocab_size=500)
    with pytest.raises(UserError, match=message):
        run_build(cfg, work_dir=str(work))
    assert not (out / "manifest.json").exists()
    if where == "not ours":
        assert (work / "notes.txt").read_text() == "keep me"


@pytest.mark.slow  # ~20 s: two builds in subprocesses; the in-process tests above cover the same logic
def test_ctrl_c_while_reading_then_resume_gives_the_same_shards(multistream, uninterrupted, tmp_path):
    """The real thing: a build interrupted by SIGINT once some of the reading is done, then the
    same command with --resume."""
    out = tmp_path / "out"
    work = Path(default_work_dir(str(out)))
    command = [sys.executable, "-c", "import sys; from electra_data.cli import data_app; sys.argv[0] = 'electra-data'; data_app()",
               "build", "--corpus", "wiki+books", "--input", str(multistream), "--input", str(BOOKS), "--out", str(out),
               "--vocab-size", "2000", "--shard-size-mb", "0.5"]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not (work / "read").is_dir() or not any((work / "read").iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    if process.returncode == 0:  # it finished before the signal landed: nothing to resume
        pytest.skip("the build finished before the signal")
    assert process.returncode == 130, stderr
    assert f"the work done so far is kept in {work}" in stderr and "--resume" in stderr
    result = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert _shards(out) == uninterrupted
    assert not work.exists()


def test_a_build_that_fails_for_its_input_leaves_no_work(tmp_path):
    """Resuming would only meet the same corrupt dump: its work goes, as the rest of a failed build."""
    truncated = tmp_path / "truncated.xml.bz2"
    truncated.write_bytes(WIKI_DUMP.read_bytes()[:300_000])
    out = tmp_path / "out"
    with pytest.raises(CorpusError, match="truncated or corrupt compressed data"):
        run_build(BuildConfig(corpus="wiki", inputs=(str(truncated),), out=str(out), vocab_size=500))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.xml.bz2"]
