"""`electra-data verify` / `inspect` / `vocab` on a real build of the bundled Wikipedia sample."""

import errno
import hashlib
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


def _cli_error(command, path):
    """Run a command expecting a user error: exit 1, one line, no traceback; returns that line."""
    result = runner.invoke(data_app, [command, str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    return lines[0]


def test_an_edited_vocab_line_is_named_with_both_checksums(copy):
    vocab = copy / "tokenizer" / "vocab.txt"
    lines = vocab.read_text(encoding="utf-8").splitlines()
    lines[1000] = lines[1000] + "x"
    vocab.write_text("\n".join(lines) + "\n", encoding="utf-8")
    recorded = _manifest(copy)["tokenizer"]["vocab_sha256"]
    edited = hashlib.sha256(vocab.read_bytes()).hexdigest()
    line = _cli_error("verify", copy)
    assert f"tokenizer/vocab.txt: vocab_sha256 is {edited}, but manifest.json records {recorded}" in line


def test_an_appended_vocab_line_is_a_vocab_size_mismatch(copy):
    with open(copy / "tokenizer" / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("extra\n")
    line = _cli_error("verify", copy)
    assert "tokenizer/vocab.txt: vocab_size is 3001, but manifest.json records 3000" in line


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("vocab_size", 2999, "tokenizer/tokenizer.json: vocab_size is 3000, but manifest.json records 2999"),
        ("special_tokens", {"pad": 0, "unk": 1, "cls": 3, "sep": 2, "mask": 4}, "tokenizer/tokenizer.json: special_tokens is"),
        ("lowercase", False, "tokenizer/tokenizer.json: lowercase is True, but manifest.json records False"),
    ],
)
def test_tokenizer_facts_the_manifest_records_are_checked(copy, field, value, message):
    manifest = _manifest(copy)
    manifest["tokenizer"][field] = value
    write_manifest(str(copy), manifest)
    assert message in _cli_error("verify", copy)


def test_tokenizer_files_are_checked_each_and_one_is_enough(copy):
    (copy / "tokenizer" / "tokenizer.json").unlink()
    (copy / "tokenizer" / "tokenizer_config.json").write_text("[1")
    assert "tokenizer_config.json: not readable JSON" in _cli_error("verify", copy)
    (copy / "tokenizer" / "tokenizer_config.json").unlink()
    assert runner.invoke(data_app, ["verify", str(copy)]).exit_code == 0  # vocab.txt alone matches
    (copy / "tokenizer" / "vocab.txt").unlink()
    assert "tokenizer: no tokenizer.json or vocab.txt" in _cli_error("verify", copy)


def _parent(manifest, path):
    for key in path[:-1]:
        manifest = manifest[key]
    return manifest


def _set(path, value):
    return lambda manifest: _parent(manifest, path).__setitem__(path[-1], value)


def _delete(path):
    return lambda manifest: _parent(manifest, path).__delitem__(path[-1])


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: [], "manifest.json: a manifest is a JSON object, this is []"),
        (lambda m: 3, "manifest.json: a manifest is a JSON object, this is 3"),
        (_delete(["shards"]), "manifest.json: shards is missing"),
        (_set(["shards"], {}), "manifest.json: shards must be an array, got {}"),
        (_set(["shards", 0, "examples"], "12"), 'manifest.json: shards[0].examples must be a non-negative integer, got "12"'),
        (_set(["shards", 1, "path"], 5), "manifest.json: shards[1].path must be a string, got 5"),
        (_set(["shards", 2, "bytes"], 1.5), "manifest.json: shards[2].bytes must be a non-negative integer, got 1.5"),
        (_set(["shards", 0, "split"], "test"), "manifest.json: shards[0].split must be one of train, validation"),
        (_set(["shards", 0], None), "manifest.json: shards[0] must be an object, got null"),
        (_delete(["shards", 0, "sha256"]), "manifest.json: shards[0].sha256 is missing"),
        (_set(["tokenizer"], None), "manifest.json: tokenizer must be an object, got null"),
        (_delete(["tokenizer", "special_tokens", "cls"]), "manifest.json: tokenizer.special_tokens.cls is missing"),
        (_set(["tokenizer", "vocab_size"], 0), "manifest.json: tokenizer.vocab_size must be a positive integer, got 0"),
        (_set(["max_seq_length"], True), "manifest.json: max_seq_length must be a positive integer, got true"),
        (_delete(["splits", "validation"]), "manifest.json: splits.validation is missing"),
        (_set(["splits", "train", "tokens"], -1), "manifest.json: splits.train.tokens must be a non-negative integer"),
        (_set(["shards", 0, "path"], "train/\x00.arrow"), "manifest.json: path 'train/\\x00.arrow' leaves the dataset directory"),
        (_set(["tokenizer", "path"], "/etc"), "manifest.json: path '/etc' leaves the dataset directory"),
    ],
)
@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_a_damaged_manifest_is_one_message_naming_the_field(copy, command, edit, message):
    manifest = _manifest(copy)
    edited = edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest if edited is None else edited))
    line = _cli_error(command, copy)
    assert message in line
    if "leaves" not in message and "JSON object" not in message:
        assert "rebuild the dataset with electra-data build" in line


def test_a_shard_listed_twice_is_refused(copy):
    manifest = _manifest(copy)
    first = manifest["shards"][0]
    manifest["shards"].append(first)
    manifest["splits"][first["split"]]["examples"] += first["examples"]
    manifest["splits"][first["split"]]["tokens"] += first["tokens"]
    write_manifest(str(copy), manifest)
    assert f"manifest.json: {first['path']} is listed twice" in _cli_error("verify", copy)


def test_an_unreadable_manifest_is_a_message(copy):
    (copy / "manifest.json").unlink()
    (copy / "manifest.json").mkdir()
    assert "manifest.json: cannot be read" in _cli_error("verify", copy)
