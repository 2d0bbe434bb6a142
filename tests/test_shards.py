import hashlib
import json

import pyarrow as pa
import pytest
from datasets import Dataset, load_dataset

from electra_data.errors import UserError
from electra_data.shards import (
    FORMAT_NAME,
    FORMAT_VERSION,
    ids_type,
    read_manifest,
    shard_path,
    write_manifest,
    write_shard,
)

EXAMPLES = [([2, 10, 11, 3, 12, 3], 4), ([2, 40000, 3], 3), ([2, 7, 8, 9, 3], 5)]


def test_ids_type_fits_the_vocab():
    assert ids_type(30522) == pa.uint16()
    assert ids_type(65535) == pa.uint16()
    assert ids_type(65536) == pa.uint32()


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / shard_path("train", 0, 2)
    info = write_shard(str(path), iter(EXAMPLES), vocab_size=50000)
    assert path.name == "shard-00000-of-00002.arrow"
    assert info["examples"] == 3 and info["tokens"] == 14
    assert info["bytes"] == path.stat().st_size
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
    assert table.schema.field("input_ids").type == pa.list_(pa.uint16())
    assert table.schema.metadata[b"electra_data.format_version"] == b"1"
    assert table.column("input_ids").to_pylist() == [ids for ids, _ in EXAMPLES]
    assert table.column("segment_a_length").to_pylist() == [seg for _, seg in EXAMPLES]
    assert not [p for p in tmp_path.rglob("*.tmp-*")]


def test_shards_load_in_hugging_face_datasets(tmp_path):
    path = tmp_path / "shard.arrow"
    write_shard(str(path), iter(EXAMPLES), vocab_size=50000)
    assert Dataset.from_file(str(path))["input_ids"][1] == [2, 40000, 3]
    streamed = load_dataset("arrow", data_files=str(path), split="train", streaming=True)
    assert [row["segment_a_length"] for row in streamed] == [4, 3, 5]


def test_an_empty_shard_loads_in_datasets(tmp_path):
    # a build names every shard -of-N, so a small corpus may leave one empty
    path = tmp_path / "empty.arrow"
    assert write_shard(str(path), iter([]), vocab_size=50000)["examples"] == 0
    assert Dataset.from_file(str(path)).num_rows == 0
    assert pa.ipc.open_stream(pa.memory_map(str(path))).read_all().num_rows == 0


def test_failed_write_leaves_nothing_behind(tmp_path):
    def broken():
        yield EXAMPLES[0]
        raise OSError("No space left on device")

    path = tmp_path / "shard.arrow"
    with pytest.raises(OSError, match="No space"):
        write_shard(str(path), broken(), vocab_size=100)
    assert list(tmp_path.iterdir()) == []


def test_manifest_round_trip_and_errors(tmp_path):
    with pytest.raises(UserError, match="no manifest.json; the build did not finish"):
        read_manifest(str(tmp_path))
    write_manifest(str(tmp_path), {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "shards": []})
    assert read_manifest(str(tmp_path))["shards"] == []
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other", "format_version": 9}))
    with pytest.raises(UserError, match="is not 'electra-data-shards' version 1: read it with the tool or release that wrote it, or rebuild"):
        read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(UserError, match="not valid JSON .*; the file is damaged: rebuild the dataset"):
        read_manifest(str(tmp_path))
