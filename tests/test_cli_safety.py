"""`electra-data build` and `vocab` never lose what the user typed, and never lose a finished dataset.

The command line: every word is read or refused (several files after --input, misspelt flags,
Beam's own flags). The output directory: apart from the inputs, writable, replaced only once the
new build is complete, and only the files a build wrote. Signals: one line, the right status,
nothing left behind. Builds run on one small bundled book.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from electra_data.argv import moot_options, repeated_option, spread_inputs, unknown_args_message
from electra_data.cli import _what_is_left, data_app
from electra_data.config import BuildConfig
from electra_data.console import deferred_interrupts, interruptible
from electra_data.errors import UserError
from electra_data.pipelines.manifest import dataset_warnings as _warnings
from electra_data.pipelines.outdir import check_apart as _check_apart
from electra_data.pipelines.runner import unknown_beam_args
from electra_data.pipelines.write import TOKENIZER_FILES, _shard_numbers, foreign_entries
from corpus_text import BOOKS
from processes import processes_with

ROOT = Path(__file__).resolve().parent.parent
SMALL_BOOK = BOOKS / "pg7256.txt"  # ~45 examples: a build takes seconds
FAST = ["--vocab-size", "300", "--no-dedup"]
ONE_BOOK = [*FAST, "--validation-fraction", "0"]  # else the one book is the validation split
runner = CliRunner()


def _invoke(*args):
    return runner.invoke(data_app, [str(a) for a in args])


def _message(result) -> str:
    assert "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


def _snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with its sha256: what must stay as it was."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _no_temporary_files(directory: Path) -> bool:
    return not [p for p in directory.rglob("*") if ".tmp-" in p.name or p.name.startswith(".write-probe-")]


# --- the command line: every word is read or refused --------------------------------------------


@pytest.mark.parametrize(
    "args, spread",
    [
        (["--input", "a", "b", "c", "--out", "o"], ["--input", "a", "--input", "b", "--input", "c", "--out", "o"]),
        (["-i", "a", "b"], ["-i", "a", "--input", "b"]),
        (["--input=a", "b"], ["--input=a", "--input", "b"]),
        (["-ia", "b"], ["-ia", "--input", "b"]),
        (["--corpus", "docs/a.md", "docs/b.md"], ["--corpus", "docs/a.md", "--input", "docs/b.md"]),
        (["--corpus=docs/a.md", "docs/b.md"], ["--corpus=docs/a.md", "--input", "docs/b.md"]),
        # a named corpus takes no files after it: the word is left for the error that names it
        (["--corpus", "books", "a.txt"], ["--corpus", "books", "a.txt"]),
        (["--out", "o", "x"], ["--out", "o", "x"]),
        (["--input", "a", "--runner", "DataflowRunner"], ["--input", "a", "--runner", "DataflowRunner"]),
    ],
)
def test_files_after_input_are_inputs_each(args, spread):
    assert spread_inputs(args) == spread


_REFUSED_BY_BOTH = [
    (["--dedup-treshold", "0.5"], "no such option: --dedup-treshold (did you mean --dedup-threshold?)"),
    (["--vocab-sise", "1000"], "no such option: --vocab-sise (did you mean --vocab-size?)"),
    (["--runner", "DataflowRunner", "--projet", "p"], "no such option: --projet (did you mean --project?)"),
    (["--corpus", "books", str(SMALL_BOOK)], f"unexpected argument '{SMALL_BOOK}': no option takes it"),
    (["--keep-code", "yes"], "unexpected argument 'yes'"),
    (["--direct_num_workers", "two"], "Beam pipeline options: argument --direct_num_workers: invalid int value"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
    (["--seed", str(2**32)], "--seed must be between 0 and 4294967295"),
    # one value per option: the last would silently win
    (["--seed", "1", "--seed=2"], "--seed is given twice (1, then 2), and only the last would be used: give it once"),
    (["--cased", "--no-cased"], "--cased and --no-cased are both given, and only the last would be used"),
    (["--out", "elsewhere"], "--out is given twice ("),
]
_REFUSED_BY_BUILD = [
    (["--max-seq-len", "64"], "no such option: --max-seq-len (did you mean --max-seq-length?)"),
    (["--max-seq", "64"], "no such option: --max-seq (did you mean --max-seq-length?)"),  # no prefix matching
    (["--max_seq_length", "64"], "no such option: --max_seq_length (did you mean --max-seq-length?)"),
    (["--valdation-fraction=0.1"], "no such option: --valdation-fraction (did you mean --validation-fraction?)"),
]


@pytest.mark.parametrize(
    "command, args, message",
    [("build", *case) for case in _REFUSED_BY_BOTH + _REFUSED_BY_BUILD] + [("vocab", *case) for case in _REFUSED_BY_BOTH],
)
def test_words_no_one_takes_are_refused_by_name(tmp_path, command, args, message):
    result = _invoke(command, "--out", tmp_path / "o", *args)
    assert result.exit_code == 1
    assert message in _message(result)
    assert not (tmp_path / "o").exists()


def test_an_option_given_again_with_the_same_value_loses_nothing():
    from typer.main import get_command

    build = get_command(data_app).commands["build"]
    params = build.get_params(build.make_context("build", ["--help"], resilient_parsing=True))
    given = ["--seed", "3", "--seed=3", "--no-dedup", "--no-dedup", "-i", "a", "-i", "b", "--input=c", "--out", "o"]
    assert repeated_option(given, params) is None
    assert repeated_option(["--out", "o", "--", "--out", "p"], params) is None
    assert repeated_option(["--out", "o", "--out", "p"], params).startswith("--out is given twice (o, then p)")


def test_the_closest_option_may_be_beams():
    known = ["--max-seq-length", "--temp_location"]
    assert "did you mean --temp_location?" in unknown_args_message(["--temp_locaton", "gs://b"], known, "build")
    assert "(did you mean" not in unknown_args_message(["--zzz"], known, "build")


def test_beams_own_flags_pass_through():
    flags = [
        "--runner", "DataflowRunner", "--project", "p", "--region", "us-central1", "--temp_location", "gs://b/tmp",
        "--dry_run=True", "--direct_num_workers", "2", "--experiments", "x", "--setup_file", "./setup.py",
    ]  # fmt: skip
    assert unknown_beam_args(flags) == []
    assert unknown_beam_args(["--runner", "DataflowRunner", "--max-seq", "5", "extra"]) == ["--max-seq", "5", "extra"]


def test_help_says_several_inputs_are_all_read():
    result = _invoke("build", "--help")
    assert result.exit_code == 0
    assert "every one is read" in " ".join(result.output.replace("│", " ").split())  # rich's table of options


# --- options that others make moot: refused, not silently ignored -------------------------------


@pytest.mark.parametrize(
    "command, args, message",
    [
        ("build", ["--vocab", "<vocab>", "--vocab-size", "500"], "--vocab-size has no effect with --vocab (a given vocab is reused, not trained): drop it"),
        ("build", ["--vocab", "<vocab>", "--no-cased", "--vocab-sample-docs", "9"], "--no-cased, --vocab-sample-docs have no effect with --vocab"),
        ("build", ["--no-dedup", "--minhash-perms", "64"], "--minhash-perms has no effect with --no-dedup (no near-duplicate detection runs)"),
        ("build", ["--dedup", "exact", "--no-dedup-verify"], "--no-dedup-verify has no effect with --dedup exact"),
        ("build", ["--num-shards", "4", "--shard-size-mb", "8"], "--shard-size-mb has no effect with --num-shards"),
        ("build", ["--corpus", "books", "--text-field", "body"], "--text-field has no effect with --corpus books (they are options of a domain corpus)"),
        ("build", ["--corpus", "books", "--keep-tables"], "--keep-tables has no effect with --corpus books (it reads no MediaWiki dump)"),
        ("build", ["--corpus", "docs/*.md", "--no-keep-disambiguation"], "--no-keep-disambiguation has no effect with --corpus docs/*.md"),
        ("build", ["--workers", "2", "--runner", "DataflowRunner", "--project", "p"], "--workers has no effect with --runner"),
        ("build", ["--no-dedup", "--dedup", "near"], "--no-dedup and --dedup near contradict each other: pass one of them"),
        ("vocab", ["--no-dedup", "--shingle-size", "3"], "--shingle-size has no effect with --no-dedup"),
        ("vocab", ["--corpus", "books", "--keep-code"], "--keep-code has no effect with --corpus books"),
    ],
)
def test_options_that_others_make_moot_are_refused(tmp_path, train_shard_dir, command, args, message):
    args = [str(train_shard_dir / "tokenizer") if a == "<vocab>" else a for a in args]
    result = _invoke(command, "--out", tmp_path / "o", *args)
    assert result.exit_code == 1
    assert f"error: {message}" in _message(result)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "fields, given",
    [
        ({"corpus": "wiki+books"}, {"keep_tables", "keep_disambiguation"}),
        ({"dedup": "near"}, {"dedup_threshold", "minhash_perms", "dedup_verify"}),
        ({"dedup": "none"}, {"no_dedup", "dedup"}),  # the same thing twice: no contradiction
        ({"corpus": "docs/*.jsonl"}, {"format", "text_field"}),
        ({}, {"vocab_size", "cased", "shard_size_mb", "workers"}),
        ({"num_shards": 3}, {"num_shards"}),
    ],
)
def test_options_that_take_effect_are_not_moot(fields, given):

    assert moot_options(BuildConfig(**fields), given, remote=False) is None


# --- the output directory: apart from the inputs, and only a build's own files ------------------


def test_out_inside_an_input_directory_or_equal_to_it_is_refused(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    (books / "a.txt").write_bytes(SMALL_BOOK.read_bytes())
    for out, where in ((books / "shards", "lies in"), (books, "is")):
        result = _invoke("build", "--corpus", "books", "--input", books, "--out", out)
        assert result.exit_code == 1
        assert f"--out {out} {where} the input directory {books}" in _message(result)
    assert sorted(p.name for p in books.iterdir()) == ["a.txt"]


def test_an_input_inside_out_is_refused(train_shard_copy):
    book = train_shard_copy / "reports" / "book.txt"
    book.parent.mkdir()
    book.write_bytes(SMALL_BOOK.read_bytes())
    before = _snapshot(train_shard_copy)
    result = _invoke("build", "--corpus", "books", "--input", book, "--out", train_shard_copy, "--overwrite")
    assert result.exit_code == 1
    assert f"the input {book} lies in --out {train_shard_copy}" in _message(result)
    assert _snapshot(train_shard_copy) == before


@pytest.mark.parametrize(
    "out, patterns, files, refused",
    [
        ("/d/shards", ["/d"], [], False),  # /d is no directory here: only existing ones count
        ("/data/out", [], ["/data/in/a.txt"], False),
        ("/data/out", [], ["/data/out/a.txt"], True),
        ("gs://b/out", [], ["gs://b/out/a.txt"], True),
        ("gs://b/out", [], ["gs://b/outside/a.txt"], False),
    ],
)
def test_check_apart(out, patterns, files, refused):
    if refused:
        with pytest.raises(UserError, match="lies in --out"):
            _check_apart(out, patterns, files)
    else:
        _check_apart(out, patterns, files)


def test_only_a_builds_own_files_count_as_its_own(tmp_path):
    ours = [
        "manifest.json", "tokenizer/vocab.txt", "train/shard-00003-of-00008.arrow", "validation/shard-00000-of-00001.arrow",
        "reports/rejects.jsonl", ".build/counts.json", f"manifest.json.tmp-{'a' * 32}", f".tmp-{'b' * 32}/train/shard-00000-of-00001.arrow",
    ]  # fmt: skip
    theirs = ["notes.txt", "train/mine.arrow", "tokenizer/merges.txt", "reports/plot.png", "other/x"]
    for rel in ours + theirs:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / "validation" / "link").symlink_to(tmp_path / "notes.txt")
    assert foreign_entries(str(tmp_path)) == sorted([*theirs[:-1], "other", "validation/link"])


def test_tokenizer_files_are_the_ones_the_layout_knows():
    from tokenizers import Tokenizer, models

    from electra_data.vocab import tokenizer_files

    assert set(tokenizer_files(Tokenizer(models.WordPiece(unk_token="[UNK]")), max_seq_length=8)) == set(TOKENIZER_FILES)


def test_overwrite_refuses_files_no_build_wrote_and_touches_nothing(train_shard_copy):
    (train_shard_copy / "train" / "notes.txt").write_text("mine")
    before = _snapshot(train_shard_copy)
    result = _invoke("build", "--corpus", "books", "--input", SMALL_BOOK, "--out", train_shard_copy, "--overwrite")
    assert result.exit_code == 1
    message = _message(result)
    assert "holds a dataset and also train/notes.txt, which no build wrote" in message
    assert _snapshot(train_shard_copy) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes in read-only directories")
def test_a_read_only_out_is_refused_before_the_build(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = _invoke("build", "--corpus", "books", "--input", SMALL_BOOK, "--out", out)
    finally:
        out.chmod(0o755)
    assert result.exit_code == 1
    assert f"--out {out}: cannot write in {out} (Permission denied)" in _message(result)
    assert list(out.iterdir()) == []


def test_an_out_that_cannot_be_created_is_refused_before_the_build(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _invoke("build", "--corpus", "books", "--input", SMALL_BOOK, "--out", blocker / "o")
    assert result.exit_code == 1
    assert f"cannot write in {blocker} (Not a directory); choose another --out" in _message(result)


def test_a_failing_overwrite_leaves_the_earlier_dataset(train_shard_copy, tmp_path):
    fragment = tmp_path / "fragment.txt"  # too short to keep: the build fails once the pipeline ran
    fragment.write_text("Far too short a book to be kept by the quality filters.\n")
    before = _snapshot(train_shard_copy)
    result = _invoke("build", "--corpus", "books", "--input", fragment, "--out", train_shard_copy, "--overwrite", *ONE_BOOK)
    assert result.exit_code == 1
    assert "no document was kept" in _message(result)
    assert _snapshot(train_shard_copy) == before
    assert _no_temporary_files(train_shard_copy)


def test_a_full_disk_during_overwrite_leaves_the_earlier_dataset(train_shard_copy, monkeypatch):
    from electra_data import fsio

    real = fsio.atomic_open

    def full(path):
        if path.endswith(".arrow"):
            raise OSError(28, "No space left on device", path)
        return real(path)

    monkeypatch.setattr(fsio, "atomic_open", full)
    before = _snapshot(train_shard_copy)
    result = _invoke("build", "--corpus", "books", "--input", SMALL_BOOK, "--out", train_shard_copy, "--overwrite", *ONE_BOOK)
    assert result.exit_code == 1
    assert "the disk is full" in _message(result)
    assert _snapshot(train_shard_copy) == before
    assert _no_temporary_files(train_shard_copy)


@pytest.mark.parametrize(
    "error, message",
    [
        ("OSError: [Errno 28] No space left on device", "the disk is full ([Errno 28] No space left on device); free space"),
        ("OSError: [Errno 122] Disk quota exceeded", "the disk is full: your quota is used up"),
        # a FAT32 drive's 4 GiB, or `ulimit -f`: before, a traceback
        ("OSError: [Errno 27] File too large [while running 'WriteShards/WriteShard']",
         "a file grew past the largest that its filesystem or `ulimit -f` allows ([Errno 27] File too large); pass a smaller --shard-size-mb"),
        ("OSError: [Errno 30] Read-only file system: '/mnt/o/x'", "the filesystem became read-only"),
        ("OSError: [Errno 5] Input/output error", "a disk failed to read or write"),
    ],
)
def test_the_filesystems_refusals_to_write_are_messages(error, message):
    from electra_data.cli import user_error_message

    assert user_error_message(RuntimeError(error)).startswith(message)


def test_other_errors_stay_errors():
    from electra_data.cli import user_error_message

    assert user_error_message(RuntimeError("ZeroDivisionError: division by zero")) is None
    assert user_error_message(RuntimeError("OSError: [Errno 9] Bad file descriptor")) is None  # a bug, not the disk


def test_overwrite_replaces_exactly_the_earlier_build(train_shard_copy):
    assert (train_shard_copy / "train" / "shard-00001-of-00002.arrow").exists()
    result = _invoke("build", "--corpus", "books", "--input", SMALL_BOOK, "--out", train_shard_copy, "--overwrite", *ONE_BOOK)
    assert result.exit_code == 0, result.output
    manifest = json.loads((train_shard_copy / "manifest.json").read_text())
    assert sorted(str(p.relative_to(train_shard_copy)) for p in train_shard_copy.rglob("*.arrow")) == sorted(
        s["path"] for s in manifest["shards"]
    )
    assert _no_temporary_files(train_shard_copy)
    assert _invoke("verify", train_shard_copy).exit_code == 0


def test_vocab_overwrite_replaces_its_files_and_keeps_the_others(tmp_path):
    out = tmp_path / "vocab"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    (out / "vocab.txt").write_text("[PAD]\n")
    refused = _invoke("vocab", "--corpus", "books", "--input", SMALL_BOOK, "--out", out, *FAST)
    assert refused.exit_code == 1 and "already holds a vocab; pass --overwrite" in _message(refused)
    result = _invoke("vocab", "--corpus", "books", "--input", SMALL_BOOK, "--out", out, "--overwrite", *FAST)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.md", *TOKENIZER_FILES])
    assert (out / "notes.md").read_text() == "mine" and len((out / "vocab.txt").read_text().splitlines()) > 100


@pytest.mark.parametrize("where", ["tokenizer", "", "tokenizer/new", "train"])
def test_vocab_refuses_an_out_in_a_dataset(train_shard_copy, where):
    # with --overwrite it replaced the dataset's tokenizer, and the shards no longer matched it
    out = train_shard_copy / where if where else train_shard_copy
    before = _snapshot(train_shard_copy)
    result = _invoke("vocab", "--corpus", "books", "--input", SMALL_BOOK, "--out", out, "--overwrite", *FAST)
    assert result.exit_code == 1
    relation = "is" if out == train_shard_copy else "lies in"
    assert f"--out {out} {relation} the dataset {train_shard_copy}, which was made with the vocab it holds" in _message(result)
    assert _snapshot(train_shard_copy) == before


def test_vocab_refuses_an_out_in_a_training_run(tmp_path):
    run = tmp_path / "run"
    (run / "discriminator").mkdir(parents=True)
    (run / "train_config.json").write_text(json.dumps({"data_dir": "d", "out_dir": str(run), "model_size": "tiny"}))
    (run / "discriminator" / "vocab.txt").write_text("[PAD]\n")
    result = _invoke("vocab", "--corpus", "books", "--input", SMALL_BOOK, "--out", run / "discriminator", "--overwrite", *FAST)
    assert result.exit_code == 1
    assert f"lies in the training run {run}" in _message(result)
    assert (run / "discriminator" / "vocab.txt").read_text() == "[PAD]\n"


def test_a_manifest_of_another_kind_marks_no_dataset(tmp_path):
    from electra_data.pipelines.outdir import check_not_in_a_dataset_or_run as _check_not_in_a_dataset_or_run

    (tmp_path / "manifest.json").write_text(json.dumps({"name": "a web app", "format": "webmanifest"}))
    (tmp_path / "train_config.json").write_text("[1, 2]")
    _check_not_in_a_dataset_or_run(str(tmp_path / "vocab"))  # no error


# --- a build of several books: what it reads, how it shards, what it says ---------------------


@pytest.fixture(scope="module")
def three_books(tmp_path_factory):
    """A build given three books after one --input (as an unquoted glob gives them), 300 shards asked for."""
    out = tmp_path_factory.mktemp("three") / "o"
    books = [BOOKS / name for name in ("pg7256.txt", "11-0.txt", "35-0.txt")]
    result = _invoke("build", "--corpus", "books", "--input", *books, "--out", out, "--num-shards", "300", *FAST)
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "manifest.json").read_text()), " ".join(result.output.split())


def test_every_file_after_input_is_read(three_books):
    _, manifest, _ = three_books
    assert manifest["counts"]["documents_read"] == 3
    assert manifest["config"]["inputs"] == [str(BOOKS / n) for n in ("pg7256.txt", "11-0.txt", "35-0.txt")]


def test_counts_reconcile(three_books):
    counts = three_books[1]["counts"]
    assert counts["documents_read"] == counts["documents_kept"] + sum(counts["dropped"].values())


def test_no_train_shard_is_empty_and_the_build_says_so(three_books):
    out, manifest, output = three_books
    train = [s for s in manifest["shards"] if s["split"] == "train"]
    assert 0 < len(train) < 300 and min(s["examples"] for s in train) > 0
    assert [s["path"] for s in train] == [f"train/shard-{i:05d}-of-{len(train):05d}.arrow" for i in range(len(train))]
    assert len(list((out / "train").iterdir())) == len(train)
    assert f"warning: --num-shards 300: the {manifest['splits']['train']['examples']:,} train examples fill only {len(train)}" in output
    assert any(w.startswith("--num-shards 300") for w in manifest["warnings"])


def test_a_validation_split_far_above_its_fraction_is_a_warning(three_books):
    _, manifest, output = three_books
    share = manifest["splits"]["validation"]["examples"] / manifest["counts"]["examples"]
    assert share > 0.1  # one of three books
    assert f"warning: the validation split holds {share:.1%} of the examples" in output
    assert "--validation-fraction 0.005" in output
    assert any(w.startswith("the validation split holds") for w in manifest["warnings"])


def _splits(train: int, validation: int) -> dict:
    return {"train": {"examples": train, "tokens": 0}, "validation": {"examples": validation, "tokens": 0}}


@pytest.mark.parametrize(
    "fraction, validation, warned",
    [(0.005, 5, False), (0.005, 15, False), (0.005, 16, True), (0.1, 150, False), (0.1, 210, True), (0.0, 0, False)],
)
def test_validation_warning_threshold(fraction, validation, warned):
    # warned when the share is over twice the fraction and over it by more than one point
    cfg = BuildConfig(validation_fraction=fraction)
    warnings = _warnings(cfg, _splits(1000 - validation, validation), train_shards=1, documents_kept=10)
    assert bool(warnings) is warned


def test_shard_numbers_skip_empty_buckets():
    assert _shard_numbers([7, 2, 5]) == {2: 0, 5: 1, 7: 2}
    assert _shard_numbers([]) == {}


# --- signals -------------------------------------------------------------------------------------




def _interrupt(tmp_path: Path, out: Path, signum: int, workers: int, whole_group: bool) -> tuple[subprocess.CompletedProcess, Path]:
    """Start a build in a process, send ``signum`` once it has started writing, and wait for it."""
    scratch = tmp_path / "tmp"  # the build's temporary directory: Beam's and the workers' log
    scratch.mkdir()
    args = [sys.executable, str(ROOT / "cli.py"), "data", "build", "--corpus", "books", "--input", str(SMALL_BOOK),
            "--out", str(out), "--overwrite", "--workers", str(workers), *ONE_BOOK]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(scratch)}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while not glob.glob(str(out / ".tmp-*")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)  # the staging directory: the checks are done, the pipeline starts
    # Ctrl-C reaches the whole foreground group (the workers too); `kill` the driver alone
    (os.killpg if whole_group else os.kill)(process.pid, signum)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr), scratch


@pytest.mark.parametrize(
    "signum, workers, whole_group, earlier",
    [
        (signal.SIGINT, 1, True, True),
        (signal.SIGTERM, 2, False, False),
        pytest.param(signal.SIGINT, 2, True, False, marks=pytest.mark.slow),
        pytest.param(signal.SIGTERM, 1, False, True, marks=pytest.mark.slow),
    ],
)
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_signal_stops_the_build_in_one_line_leaving_nothing(tmp_path, train_shard_dir, signum, workers, whole_group, earlier):
    out = tmp_path / "o"
    if earlier:
        shutil.copytree(train_shard_dir, out)
    before = _snapshot(out) if earlier else None
    result, scratch = _interrupt(tmp_path, out, signum, workers, whole_group)
    assert result.returncode == 128 + signum, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: nothing was written to"), result.stderr[-3000:]
    if earlier:
        assert _snapshot(out) == before and "what it held is untouched" in lines[0]
    else:
        assert not out.exists()
    assert list(scratch.iterdir()) == [], "temporary files or the workers' log are left behind"
    assert processes_with(str(scratch)) == [], "a worker outlived the build"


def test_what_an_interrupted_run_left():
    assert _what_is_left("/o", None, None) == "interrupted: nothing was written to /o"
    assert _what_is_left("/o", {"manifest.json": 1}, {"manifest.json": 1}).endswith("(what it held is untouched)")
    assert "partial files are left" in _what_is_left("/o", {}, {f".tmp-{'a' * 32}": 2})
    assert "holds its output" in _what_is_left("/o", {"manifest.json": 1}, {"manifest.json": 3})
    assert "no new manifest" in _what_is_left("gs://b/o", None, None)


_INTERRUPT_WHILE_IMPORTING = """
import os, signal, sys

MODULE = sys.argv[1]

class Interrupt:  # sends SIGINT to this process as it starts importing MODULE
    def find_spec(self, name, path=None, target=None):
        if name == MODULE:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["electra-data", *sys.argv[2:]]  # as the console script starts
from electra_data.cli import data_app
sys.exit(data_app())
"""


@pytest.mark.parametrize(
    "module, line",
    [
        ("typer", "interrupted before the run started: nothing was written"),  # the command's own imports
        ("electra_data.clean", "interrupted: nothing was written"),  # the options made into a config
        ("apache_beam.pvalue", "interrupted: nothing was written to {out}"),  # the run, importing Beam
    ],
)
def test_a_signal_while_importing_is_one_line(tmp_path, module, line):
    # before: a traceback of the broken import (typer), a silent 130 (clean), and a traceback of
    # a second, failing import of a half-imported Beam (pvalue)
    out = tmp_path / "o"
    args = ["build", "--corpus", "books", "--input", str(SMALL_BOOK), "--out", str(out), *ONE_BOOK]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = subprocess.run([sys.executable, "-c", _INTERRUPT_WHILE_IMPORTING, module, *args], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "TMPDIR": str(scratch)})  # fmt: skip
    assert result.returncode == 130, result.stderr[-3000:]
    assert result.stderr.strip() == line.format(out=out)
    assert not out.exists() and list(scratch.iterdir()) == []


def test_nested_interruptible_blocks_share_one_signal():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with interruptible() as outer:
            with interruptible() as inner:
                assert inner is outer
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the handler raises before this ends
    assert outer.signal == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before


def test_a_signal_that_code_in_the_block_swallows_still_stops_it():
    # pyarrow's lazy import of pandas catches every exception: a Ctrl-C then was lost, and
    # `verify` went on to print OK and exit 0
    with pytest.raises(KeyboardInterrupt):
        with interruptible() as interruption:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except BaseException:  # noqa: BLE001 - what such code does
                pass
    assert interruption.signal == signal.SIGINT
    with interruptible():  # a block no signal reached ends as usual
        pass


def test_a_signal_while_verify_reads_the_shards_is_one_line(train_shard_dir, monkeypatch):
    from electra_data import verify

    real = verify.load_columns

    def interrupted(path, vocab_size):
        try:  # as pyarrow's lazy import of pandas does with the KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except BaseException:  # noqa: BLE001
            pass
        return real(path, vocab_size)

    monkeypatch.setattr(verify, "load_columns", interrupted)
    result = _invoke("verify", train_shard_dir)
    assert result.exit_code == 130
    assert result.output.strip().splitlines()[-1] == "interrupted: nothing was written"


def test_a_signal_during_a_swap_takes_effect_at_its_end():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interruptible() as interruption:
            with deferred_interrupts():
                os.kill(os.getpid(), signal.SIGTERM)
                steps.append("swapped")
            steps.append("after the swap")
    assert steps == ["swapped"] and interruption.signal == signal.SIGTERM
    with deferred_interrupts():  # outside interruptible(): nothing is deferred, nothing raised
        pass
