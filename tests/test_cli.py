"""`electra-data` through typer's CliRunner: options, messages and exit codes."""

import bz2
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from electra_data.cli import data_app
from corpus_text import WIKI_DUMP

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def _invoke(*args):
    return runner.invoke(data_app, list(args))


def test_help_explains_every_option():
    result = _invoke("build", "--help")
    assert result.exit_code == 0
    for option in ("--corpus", "--input", "--out", "--overwrite", "--vocab", "--max-seq-length", "--dedup", "--workers"):
        assert option in result.output


def test_missing_input_is_a_message_not_a_traceback(tmp_path):
    result = _invoke("build", "--input", str(tmp_path / "nope.xml.bz2"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "no such file" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-seq-length", "1024"], "--max-seq-length must be between 5 and 512"),
        (["--dedup", "fuzzy"], "--dedup must be one of both, exact, near, none"),
        (["--on-error", "ignore"], "--on-error must be one of fail, skip"),
        (["--quality", "min_words"], "expected NAME=VALUE or NAME=off"),
        (["--quality", "min_wrods=3"], "expected NAME=VALUE or NAME=off"),
        (["--quality", "min_words=many"], "is not a number or 'off'"),
        (["--quality", "min_words=90", "--quality", "max_words=10"], "min_words (90) is greater than max_words"),
        (["--format", "xlsx"], "--format must be one of text, jsonl, parquet, rst, markdown"),
        (["--corpus", "wiki+books", "--input", "a.xml.bz2"], "needs both a dump"),
        (["--validation-fraction", "0.9"], "--validation-fraction must be in"),
        (["--vocab-sample-mb", "0"], "--vocab-sample-mb must be positive"),
        (["--dedup-threshold", "1.5"], "--dedup-threshold must be between 0 and 1 (a Jaccard similarity), got 1.5"),
        (["--dedup-threshold", "nan"], "--dedup-threshold must be between 0 and 1"),
    ],
)
def test_bad_options_are_refused(tmp_path, args, message):
    result = _invoke("build", "--out", str(tmp_path / "o"), *args)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


@pytest.mark.parametrize("workers", ["1", "2"])
def test_corrupt_dump_names_the_file_and_nothing_else(tmp_path, workers):
    # in a process of its own: Beam's loggers write to the real stderr, which CliRunner does not see
    truncated = tmp_path / "truncated.xml.bz2"
    truncated.write_bytes(WIKI_DUMP.read_bytes()[: 300_000])
    scratch = tmp_path / "tmp"  # the run's temporary directory, where the workers log
    scratch.mkdir()
    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "data", "build", "--input", str(truncated), "--out", str(tmp_path / "o"),
         "--vocab-size", "1000", "--workers", workers],
        capture_output=True, text=True, timeout=600, env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "truncated.xml.bz2" in lines[0], result.stderr[-2000:]
    assert "re-download the dump" in lines[0] and "while running" not in lines[0]
    assert not (tmp_path / "o" / "manifest.json").exists()
    assert not list(scratch.glob("electra-data-workers-*.log")), "the workers log is left behind"


def test_malformed_xml_names_the_file(tmp_path):
    bad = tmp_path / "bad.xml.bz2"
    bad.write_bytes(bz2.compress(b"<mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><text>x</text></page>"))
    result = _invoke("build", "--input", str(bad), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "bad.xml.bz2" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(importlib.util.find_spec("google.cloud.storage") is None, reason="needs the gcp extra")
def test_dataflow_dry_run_builds_the_job_offline_and_ships_the_package(tmp_path):
    result = _invoke(
        "build", "--corpus", "wiki", "--input", "gs://my-bucket/enwiki.xml.bz2", "--out", "gs://my-bucket/shards/wiki",
        "--runner", "DataflowRunner", "--project", "my-project", "--region", "us-central1",
        "--temp_location", "gs://my-bucket/tmp", "--dry_run=True",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output
    assert "electra_data-0.1.0-py3-none-any.whl" in result.output


@pytest.mark.skipif(importlib.util.find_spec("google.cloud.storage") is None, reason="needs the gcp extra")
def test_bad_beam_options_are_a_message(tmp_path):
    result = _invoke(
        "build", "--out", "gs://my-bucket/shards", "--runner", "DataflowRunner", "--project", "p",
        "--region", "us-central1", "--temp_location", "gs://my-bucket/tmp", "--dry_run=True",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Invalid Project ID" in result.output and "Traceback" not in result.output


def test_vocab_without_mask_token_is_named(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")
    result = _invoke("build", "--vocab", str(vocab), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "[MASK]" in result.output


def test_the_checkout_entry_runs_all_three_commands_with_their_rules():
    """``python cli.py`` (no install) has data, train and eval, each refusing a repeated option."""
    spec = importlib.util.spec_from_file_location("checkout_cli", ROOT / "cli.py")
    checkout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checkout)
    for command, option in (("train", "--max-steps"), ("eval", "--seeds")):
        result = CliRunner().invoke(checkout.app, [command, option, "2", option, "3"])
        assert result.exit_code == 1, result.output
        assert f"{option} is given twice (2, then 3)" in result.output and result.exception.__class__ is SystemExit
