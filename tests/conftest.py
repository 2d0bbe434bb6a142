"""Shared fixtures.

Train fixtures: ``train_shard_dir`` is a STAND-IN for ``electra-data build`` output, written here
straight from the data contract (manifest + Arrow IPC stream shards + tokenizer) so the trainer's
tests do not depend on the pipeline. Replace it with a real build once that exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

# One OpenMP thread per test process (and the trainers it starts): on a small shared machine,
# torch's spinning worker threads fight other processes and a tiny model's step gets ~10x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

_ALICE = Path(__file__).resolve().parents[1] / "sample_data" / "books" / "11-0.txt"
_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4
_MAX_LEN = 128


def _train_tokenizer(paragraphs: list[str], out: Path):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(paragraphs, trainers.WordPieceTrainer(vocab_size=2000, special_tokens=_SPECIALS))
    out.mkdir(parents=True)
    tok.save(str(out / "tokenizer.json"))
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    (out / "vocab.txt").write_text("".join(f"{t}\n" for t, _ in vocab), encoding="utf-8")
    names = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")
    config = {"tokenizer_class": "ElectraTokenizer", "do_lower_case": True, "model_max_length": _MAX_LEN}
    (out / "tokenizer_config.json").write_text(json.dumps(config | dict(zip(names, _SPECIALS))), encoding="utf-8")
    return tok


def _pack(token_stream: list[int], rng: random.Random) -> list[tuple[list[int], int]]:
    """Cut the stream into ``[CLS] A [SEP] B [SEP]`` examples (10% single-segment), varied lengths."""
    examples, i = [], 0
    while i < len(token_stream):
        body = token_stream[i : i + rng.randint(20, _MAX_LEN - 3)]
        i += len(body)
        cut = len(body) if rng.random() < 0.1 or len(body) < 2 else len(body) // 2
        a = [2, *body[:cut], 3]
        examples.append((a + ([*body[cut:], 3] if cut < len(body) else []), len(a)))
    return examples


def _write_shard(path: Path, examples: list[tuple[list[int], int]]) -> dict:
    schema = pa.schema(
        [pa.field("input_ids", pa.list_(pa.uint16())), pa.field("segment_a_length", pa.uint16())],
        metadata={b"electra_data.format_version": b"1"},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.ipc.new_stream(str(path), schema) as writer:
        for start in range(0, len(examples), 64):  # several record batches, like a real shard
            chunk = examples[start : start + 64]
            writer.write_batch(
                pa.record_batch([pa.array([e[0] for e in chunk], schema.field(0).type),
                                 pa.array([e[1] for e in chunk], pa.uint16())], schema=schema)
            )
    data = path.read_bytes()
    return {"examples": len(examples), "tokens": sum(len(e[0]) for e in examples),
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def build_stand_in_shard_dir(out: Path) -> Path:
    """Write a small shard directory per the data contract from Alice in Wonderland."""
    text = _ALICE.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    tok = _train_tokenizer(paragraphs, out / "tokenizer")
    stream = [i for enc in tok.encode_batch(paragraphs, add_special_tokens=False) for i in enc.ids]
    examples = _pack(stream, random.Random(0))
    n_val = len(examples) // 10
    splits = {"train": examples[n_val:], "validation": examples[:n_val]}
    layout = {"train": 2, "validation": 1}
    shards = []
    for split, count in layout.items():
        rows = splits[split]
        for k in range(count):
            rel = f"{split}/shard-{k:05d}-of-{count:05d}.arrow"
            info = _write_shard(out / rel, rows[k * len(rows) // count : (k + 1) * len(rows) // count])
            shards.append({"path": rel, "split": split, **info})
    vocab_bytes = (out / "tokenizer" / "vocab.txt").read_bytes()
    manifest = {
        "format": "electra-data-shards",
        "format_version": 1,
        "tool_version": "test-stand-in",
        "config": {"source": _ALICE.name},
        "max_seq_length": _MAX_LEN,
        "tokenizer": {
            "path": "tokenizer",
            "vocab_size": tok.get_vocab_size(),
            "lowercase": True,
            "special_tokens": dict(zip(("pad", "unk", "cls", "sep", "mask"), range(5))),
            "vocab_sha256": hashlib.sha256(vocab_bytes).hexdigest(),
        },
        "counts": {"examples": len(examples), "tokens": sum(len(e[0]) for e in examples)},
        "splits": {
            s: {"examples": sum(x["examples"] for x in shards if x["split"] == s),
                "tokens": sum(x["tokens"] for x in shards if x["split"] == s)}
            for s in layout
        },
        "shards": shards,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def train_shard_dir(tmp_path_factory) -> Path:
    """A read-only stand-in shard directory shared by the train tests (copy before changing it)."""
    return build_stand_in_shard_dir(tmp_path_factory.mktemp("train-shards") / "shards")


@pytest.fixture
def train_shard_copy(train_shard_dir, tmp_path) -> Path:
    """A private copy of ``train_shard_dir`` that a test may break."""
    return Path(shutil.copytree(train_shard_dir, tmp_path / "shards"))
