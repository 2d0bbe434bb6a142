"""`electra-data verify` / `inspect` / `vocab` on a real build of the bundled Wikipedia sample."""

import errno
import json
import shutil

import pytest
from typer.testing import CliRunner

from electra_data import fsio
from electra_data.cli import data_app
from electra_data.config import BuildConfig
from electra_data.errors import UserError
from electra_data.pipelines.build import run_build
from electra_data.shards import write_manifest, write_shard
from electra_data.verify import describe_dataset, verify_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("verify") / "wiki"
    run_build(BuildConfig(out=str(out), vocab_size=3000, dedup="none", num_shards=2))
    return out


@pytest.fixture
def copy(dataset, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(dataset, target)
    return target


def _manifest(path):
    return json.loads((path / "manifest.json").read_text())


def test_a_fresh_build_verifies(dataset):
    result = runner.invoke(data_app, ["verify", str(dataset)])
    assert result.exit_code == 0, result.output
    assert "OK: 3 shards" in result.output


def test_a_flipped_byte_is_a_checksum_mismatch(copy):
    shard = copy / "train" / "shard-00001-of-00002.arrow"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = runner.invoke(data_app, ["verify", str(copy)])
    assert result.exit_code == 1
    assert "train/shard-00001-of-00002.arrow: checksum mismatch" in result.output


def _rewrite_shard(copy, rows):
    manifest = _manifest(copy)
    shard = manifest["shards"][0]
    info = write_shard(str(copy / shard["path"]), iter(rows), vocab_size=manifest["tokenizer"]["vocab_size"])
    shard.update(info)
    manifest["splits"][shard["split"]] = {"examples": info["examples"], "tokens": info["tokens"]}
    write_manifest(str(copy), manifest)
    return shard["path"]


@pytest.mark.parametrize(
    "rows, problem",
    [
        ([([2, 10, 3], 3), ([2, 2999, 3000, 3], 4)], "row 1: id 3000 >= vocab size 3000"),
        ([([2, 10, 3], 3), ([10, 11, 3], 3)], "row 1: does not start with [CLS]"),
        ([([2, 10, 3, 11, 3], 4)], "row 0: segment A does not end with [SEP]"),
        ([([2, 10, 3], 3), ([2, 3], 2)], "row 1: fewer than 3 tokens"),
        ([([2, *range(10, 140), 3], 132)], "row 0: longer than max_seq_length 128"),
    ],
)
def test_bad_rows_are_named(copy, rows, problem):
    path = _rewrite_shard(copy, rows)
    with pytest.raises(UserError, match=rf"{path}: {problem.replace('[', '.').replace(']', '.')}"):
        verify_dataset(str(copy))


def test_counts_that_do_not_add_up_are_refused(copy):
    manifest = _manifest(copy)
    manifest["splits"]["train"]["examples"] += 1
    write_manifest(str(copy), manifest)
    with pytest.raises(UserError, match="split totals"):
        verify_dataset(str(copy))


def test_missing_shard_and_escaping_path(copy):
    manifest = _manifest(copy)
    (copy / manifest["shards"][0]["path"]).unlink()
    with pytest.raises(UserError, match="missing"):
        verify_dataset(str(copy))
    manifest["shards"][0]["path"] = "../elsewhere.arrow"
    write_manifest(str(copy), manifest)
    with pytest.raises(UserError, match="leaves the dataset directory"):
        verify_dataset(str(copy))


def test_no_manifest_is_an_unfinished_build(copy):
    (copy / "manifest.json").unlink()
    result = runner.invoke(data_app, ["verify", str(copy)])
    assert result.exit_code == 1 and "the build did not finish" in result.output


def test_inspect_shows_counts_histogram_and_segments(dataset):
    info = describe_dataset(str(dataset), examples=2)
    assert info["examples"] == sum(s["examples"] for s in info["splits"].values())
    assert sum(c for _, _, c in info["length_histogram"]) == info["examples"]
    assert info["length_histogram"][-1][2] > 0.8 * info["examples"]  # most examples are full
    assert 0.05 < info["single_segment_share"] < 0.3
    first = info["decoded"][0]["segments"]
    assert first[0].startswith("[CLS]") and first[0].endswith("[SEP]")
    result = runner.invoke(data_app, ["inspect", str(dataset), "--examples", "1"])
    assert result.exit_code == 0 and "padding share" in result.output and "A: [CLS]" in result.output


def test_vocab_command_trains_a_reusable_vocab(tmp_path):
    out = tmp_path / "vocab"
    result = runner.invoke(data_app, ["vocab", "--out", str(out), "--vocab-size", "2000", "--no-dedup"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"vocab.txt", "tokenizer.json", "tokenizer_config.json"}
    again = runner.invoke(data_app, ["vocab", "--out", str(out)])
    assert again.exit_code == 1 and "already holds a vocab; pass --overwrite" in again.output


def test_a_full_disk_is_a_message_and_leaves_no_manifest(tmp_path, monkeypatch):
    real = fsio.atomic_open

    def full(path):
        if path.endswith(".arrow"):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real(path)

    monkeypatch.setattr(fsio, "atomic_open", full)
    out = tmp_path / "o"
    result = runner.invoke(data_app, ["build", "--out", str(out), "--no-dedup", "--vocab-size", "1000"])
    assert result.exit_code == 1
    assert "the disk is full" in result.output and "Traceback" not in result.output
    assert not (out / "manifest.json").exists()
