import json

import pytest

from electra_data.errors import UserError
from electra_data.train.manifest import read_manifest


def edit_manifest(root, change):
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_manifest_is_read(train_shard_dir):
    manifest = read_manifest(train_shard_dir)
    assert manifest.vocab_size == 2000 and manifest.max_seq_length == 128
    assert (manifest.special_tokens.pad, manifest.special_tokens.mask) == (0, 4)
    assert len(manifest.split("train")) == 2 and len(manifest.split("validation")) == 1
    assert manifest.tokenizer_dir == train_shard_dir.resolve() / "tokenizer"


def test_missing_directory(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_manifest(tmp_path / "nope")


def test_missing_manifest_means_unfinished_build(train_shard_copy):
    (train_shard_copy / "manifest.json").unlink()
    with pytest.raises(UserError, match="no manifest.json .*the build did not finish; rerun electra-data build"):
        read_manifest(train_shard_copy)


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda m: m.update(format_version=2), "format_version 2; this trainer reads version 1"),
        (lambda m: m.update(format="something-else"), "is not an electra-data-shards manifest"),
        (lambda m: m["shards"][0].update(path="../outside.arrow"), "'../outside.arrow' .* leaves the directory"),
        (lambda m: m["shards"][0].update(path="/etc/passwd"), "'/etc/passwd' .* leaves the directory"),
        (lambda m: m["tokenizer"].update(path="../.."), "tokenizer path '../..' .* leaves the directory"),
        (lambda m: m.pop("shards"), "is malformed \\(KeyError"),
        (lambda m: m["tokenizer"]["special_tokens"].pop("mask"), "is malformed"),
    ],
)
def test_manifest_errors(train_shard_copy, change, why):
    edit_manifest(train_shard_copy, change)
    with pytest.raises(UserError, match=why):
        read_manifest(train_shard_copy)


def test_manifest_that_is_not_json(train_shard_copy):
    (train_shard_copy / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="is malformed \\(JSONDecodeError"):
        read_manifest(train_shard_copy)


def test_missing_shard(train_shard_copy):
    (train_shard_copy / "train" / "shard-00001-of-00002.arrow").unlink()
    with pytest.raises(UserError, match="shard .*shard-00001-of-00002.arrow listed in the manifest is missing"):
        read_manifest(train_shard_copy)


def test_missing_tokenizer(train_shard_copy):
    (train_shard_copy / "tokenizer" / "tokenizer_config.json").unlink()
    with pytest.raises(UserError, match="tokenizer .* is missing or incomplete"):
        read_manifest(train_shard_copy)
