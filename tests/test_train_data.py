import dataclasses
import json

import numpy as np
import pyarrow as pa
import pytest
import torch

from electra_data.errors import UserError
from electra_data.train.data import BatchStream, Shard, collate
from electra_data.train.manifest import read_manifest


def rows_of(batch):
    """The unpadded examples of a batch, as tuples."""
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    return [tuple(ids[:n]) for ids, n in zip(batch["input_ids"].tolist(), lengths)]


def all_rows(manifest, split="train"):
    rows = []
    for info in manifest.split(split):
        shard = Shard(info.path, info.examples)
        rows += [tuple(shard[i][0].tolist()) for i in range(len(shard))]
    return rows


def test_shard_row_count_must_match_the_manifest(train_shard_dir):
    info = read_manifest(train_shard_dir).split("train")[0]
    with pytest.raises(UserError, match=f"has {info.examples} rows, the manifest says 3"):
        Shard(info.path, 3)


def write_one_row_shard(path, ids_type=pa.uint16(), version=b"1", segment_type=pa.uint16()):
    schema = pa.schema([("input_ids", pa.list_(ids_type)), ("segment_a_length", segment_type)],
                       metadata={b"electra_data.format_version": version})
    with pa.ipc.new_stream(str(path), schema) as writer:
        writer.write_batch(pa.record_batch([pa.array([[2, 70000 if ids_type == pa.uint32() else 7, 3]],
                                                     schema.field(0).type), pa.array([3], segment_type)],
                                           schema=schema))
    return path


def test_shard_with_unknown_format_version(tmp_path):
    with pytest.raises(UserError, match="shard format version b'9', expected 1"):
        Shard(write_one_row_shard(tmp_path / "s.arrow", version=b"9"), 1)


def test_shard_with_wrong_columns(tmp_path):
    with pytest.raises(UserError, match="needs columns input_ids: list<uint16|uint32> and segment_a_length"):
        Shard(write_one_row_shard(tmp_path / "s.arrow", segment_type=pa.int64()), 1)


def test_shard_that_is_not_arrow(tmp_path):
    (tmp_path / "s.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(UserError, match="is not an Arrow IPC stream"):
        Shard(tmp_path / "s.arrow", 1)


def test_uint32_ids_for_large_vocabularies(tmp_path):
    ids, segment_a = Shard(write_one_row_shard(tmp_path / "s.arrow", ids_type=pa.uint32()), 1)[0]
    assert ids.dtype == np.uint32 and ids.tolist() == [2, 70000, 3] and segment_a == 3
    assert collate([(ids, segment_a)], pad_id=0)["input_ids"].tolist() == [[2, 70000, 3]]


def test_shard_rows_are_zero_copy_views(train_shard_dir):
    info = read_manifest(train_shard_dir).split("train")[0]
    shard = Shard(info.path, info.examples)
    ids, segment_a = shard[len(shard) - 1]  # a row in the last record batch
    assert ids.dtype == np.uint16 and not ids.flags.owndata
    assert ids[0] == 2 and ids[segment_a - 1] == 3 and ids[-1] == 3


def test_collate_pads_and_builds_token_types():
    rows = [(np.array([2, 10, 3, 11, 12, 3], np.uint16), 3), (np.array([2, 10, 11, 3], np.uint16), 4)]
    batch = collate(rows, pad_id=0)
    assert batch["input_ids"].tolist() == [[2, 10, 3, 11, 12, 3], [2, 10, 11, 3, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]]
    assert all(t.dtype == torch.int64 for t in batch.values())


def test_batches_are_deterministic_for_a_seed(train_shard_dir):
    manifest = read_manifest(train_shard_dir)
    a, b, c = (BatchStream(manifest, "train", 8, seed) for seed in (1, 1, 2))
    for _ in range(5):
        batch_a, batch_b, batch_c = next(a), next(b), next(c)
        assert all(torch.equal(batch_a[k], batch_b[k]) for k in batch_a)
    assert rows_of(batch_a) != rows_of(batch_c)


def test_an_epoch_is_a_permutation_and_epochs_differ(train_shard_dir):
    manifest = read_manifest(train_shard_dir)
    examples = sum(info.examples for info in manifest.split("train"))
    stream = BatchStream(manifest, "train", examples, seed=0)  # one batch is exactly one epoch
    first, second = rows_of(next(stream)), rows_of(next(stream))
    assert sorted(first) == sorted(second) == sorted(all_rows(manifest))
    assert first != second
    assert stream.state_dict()["epoch"] == 2 and stream.state_dict()["index"] == 0


def test_resume_continues_exactly_across_an_epoch_boundary(train_shard_dir):
    manifest = read_manifest(train_shard_dir)
    stream = BatchStream(manifest, "train", 32, seed=3)
    for _ in range(stream.examples // 32):  # stop just before the epoch ends
        next(stream)
    state = stream.state_dict()
    expected = [next(stream) for _ in range(3)]
    resumed = BatchStream(manifest, "train", 32, seed=3)
    resumed.load_state_dict(state)
    for want in expected:
        got = next(resumed)
        assert all(torch.equal(got[k], want[k]) for k in want)
    assert resumed.state_dict()["epoch"] == 1


def test_ranks_take_disjoint_strides_of_one_order(train_shard_dir):
    manifest = read_manifest(train_shard_dir)
    single = BatchStream(manifest, "train", 8, seed=5)
    ranks = [BatchStream(manifest, "train", 4, seed=5, rank=r, world_size=2) for r in range(2)]
    for _ in range(3):
        whole = rows_of(next(single))
        parts = [rows_of(next(s)) for s in ranks]
        assert whole[0::2] == parts[0] and whole[1::2] == parts[1]
    assert ranks[0].state_dict() == ranks[1].state_dict() == single.state_dict()


def test_resume_refuses_other_data_or_seed(train_shard_dir):
    manifest = read_manifest(train_shard_dir)
    state = BatchStream(manifest, "train", 4, seed=0).state_dict()
    with pytest.raises(UserError, match="resume with the same data and seed"):
        BatchStream(manifest, "train", 4, seed=1).load_state_dict(state)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"rank": 2, "world_size": 2}, {"world_size": 0}])
def test_bad_stream_arguments(train_shard_dir, kwargs):
    with pytest.raises(ValueError, match="need batch_size >= 1 and 0 <= rank < world_size"):
        BatchStream(read_manifest(train_shard_dir), "train", **{"batch_size": 4, "seed": 0, **kwargs})


def test_empty_split(train_shard_dir):
    manifest = read_manifest(train_shard_dir)
    train_only = dataclasses.replace(manifest, shards=manifest.split("train"))
    with pytest.raises(UserError, match="the 'validation' split .* has no examples"):
        BatchStream(train_only, "validation", 4, seed=0)


def test_out_of_range_ids_name_the_shard_and_row(train_shard_copy):
    info = read_manifest(train_shard_copy).split("train")[1]
    shard = Shard(info.path, info.examples)
    rows = [(shard[i][0].tolist(), shard[i][1]) for i in range(len(shard))]  # copies: the file is rewritten
    del shard
    rows[70][0][3] = 2500  # past the 2000-entry vocab
    schema = pa.schema([("input_ids", pa.list_(pa.uint16())), ("segment_a_length", pa.uint16())],
                       metadata={b"electra_data.format_version": b"1"})
    with pa.ipc.new_stream(str(info.path), schema) as writer:
        for start in (0, 64):  # the bad row sits in the second record batch
            chunk = rows[start:64] if start == 0 else rows[64:]
            writer.write_batch(pa.record_batch([pa.array([r[0] for r in chunk], pa.list_(pa.uint16())),
                                                pa.array([r[1] for r in chunk], pa.uint16())], schema=schema))
    manifest = json.loads((train_shard_copy / "manifest.json").read_text())  # a build that wrote these ids
    for entry in manifest["shards"]:
        if train_shard_copy / entry["path"] == info.path:
            entry["bytes"] = info.path.stat().st_size
    (train_shard_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=r"shard-00001-of-00002.arrow row 70 holds token id 2500, not below the vocab size 2000"):
        Shard(info.path, info.examples, vocab_size=2000)
    stream = BatchStream(read_manifest(train_shard_copy), "train", 64, seed=0)
    with pytest.raises(UserError, match="row 70 holds token id 2500"):
        for _ in range(stream.examples // 64 + 1):  # a batch that opens the bad shard
            next(stream)
