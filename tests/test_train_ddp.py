import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from electra_data.train.data import BatchStream
from electra_data.train.loop import RECORD_BATCHES
from electra_data.train.manifest import read_manifest

TRAIN = Path(sys.executable).parent / "electra-train"
STEPS, BATCH = 3, 8


def rows_of(batch):
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    return [ids[:n] for ids, n in zip(batch["input_ids"].tolist(), lengths)]


def test_torchrun_with_two_cpu_processes_splits_the_data(train_shard_dir, tmp_path):
    record, out = tmp_path / "record", tmp_path / "ddp"
    record.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone", str(TRAIN),
         "--data", str(train_shard_dir), "--out", str(out), "--model-size", "tiny", "--batch-size", str(BATCH),
         "--max-steps", str(STEPS), "--log-every", "1", "--eval-batches", "1", "--device", "cpu", "--seed", "0"],
        env={**os.environ, RECORD_BATCHES: str(record)}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    seen = [[json.loads(line) for line in (record / f"rank-{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    single = BatchStream(read_manifest(train_shard_dir), "train", BATCH, seed=0)
    for step in range(STEPS):
        whole = rows_of(next(single))  # what one process would train on at this step
        rank0, rank1 = seen[0][step]["rows"], seen[1][step]["rows"]
        assert len(rank0) == len(rank1) == BATCH // 2
        assert not {tuple(r) for r in rank0} & {tuple(r) for r in rank1}
        assert rank0 == whole[0::2] and rank1 == whole[1::2]

    # Rank 0 alone logged, saved and exported, after the single-process run's step count.
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "tokens_per_s" in r] == list(range(1, STEPS + 1))
    assert [p.name for p in (out / "checkpoints").iterdir()] == [f"step-{STEPS:07d}"]
    state = torch.load(out / "checkpoints" / f"step-{STEPS:07d}" / "state.pt", weights_only=True)
    assert state["data"] == single.state_dict()
    assert (out / "discriminator" / "model.safetensors").is_file()
