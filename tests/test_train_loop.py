import json
import os

import pytest
import torch
from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining, ElectraModel

from electra_data.downstream.finetune import find_encoder
from electra_data.errors import UserError
from electra_data.train import loop
from electra_data.train.checkpoint import TrainState, load_checkpoint
from electra_data.train.config import TrainConfig
from electra_data.train.data import BatchStream
from electra_data.train.device import resolve_device, resolve_precision
from electra_data.train.manifest import read_manifest
from electra_data.train.loop import train
from electra_data.train.model import ElectraPair
from electra_data.train.optim import build_optimizer, linear_schedule

STEPS = 30


@pytest.fixture(scope="module")
def tiny_run(train_shard_dir, tmp_path_factory):
    """One short real run shared by the tests below: (config, final metrics)."""
    cfg = TrainConfig(data_dir=train_shard_dir, out_dir=tmp_path_factory.mktemp("run") / "out", model_size="tiny",
                      max_steps=STEPS, batch_size=16, log_every=1, save_every=10, keep_checkpoints=2,
                      eval_every=15, eval_batches=2, seed=0, device="cpu")
    return cfg, train(cfg)


def test_schedule_warms_up_then_decays_to_zero():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = linear_schedule(optimizer, warmup=10, total=100)
    lrs = []
    for _ in range(100):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[55] == pytest.approx(0.5) and lrs[99] == pytest.approx(1 / 90)
    assert scheduler.get_last_lr()[0] == 0.0


def test_optimizer_holds_each_shared_parameter_once_and_skips_decay_on_norms(tmp_path):
    cfg = TrainConfig(data_dir=tmp_path, out_dir=tmp_path, model_size="tiny")
    pair = ElectraPair.build(cfg.discriminator_dims, cfg.generator_dims, 100, 0, 128)
    decay, no_decay = build_optimizer(pair, cfg).param_groups
    ids = [id(p) for group in (decay, no_decay) for p in group["params"]]
    assert len(ids) == len(set(ids)) == len(list(pair.parameters()))
    embeddings = pair.discriminator.electra.embeddings
    assert any(p is embeddings.word_embeddings.weight for p in decay["params"])
    assert any(p is embeddings.LayerNorm.weight for p in no_decay["params"])
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.01


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_device_is_a_user_error():
    with pytest.raises(UserError, match="no CUDA device is available"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("name, dtype", [("auto", torch.float32), ("fp32", torch.float32),
                                         ("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_precision_on_cpu(name, dtype):
    assert resolve_precision(name, torch.device("cpu")) == dtype


def test_training_lowers_the_discriminator_loss(tiny_run):
    cfg, metrics = tiny_run
    records = [json.loads(line) for line in (cfg.out_dir / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if "disc_loss" in r]
    assert [r["step"] for r in train_records] == list(range(1, STEPS + 1))
    first = sum(r["disc_loss"] for r in train_records[:3]) / 3
    last = sum(r["disc_loss"] for r in train_records[-3:]) / 3
    assert last < first
    assert metrics["step"] == STEPS and "val_disc_loss" in metrics and 0 <= metrics["val_disc_auc"] <= 1
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert [r["step"] for r in records if "val_disc_auc" in r] == [15, 30]  # every --eval-every and at the end
    assert json.loads((cfg.out_dir / "train_config.json").read_text()) == cfg.to_dict()
    assert (cfg.out_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_export_loads_offline_and_runs(tiny_run):
    out = tiny_run[0].out_dir
    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    inputs = tokenizer("Alice was beginning to get very tired", "of sitting by her sister", return_tensors="pt")
    disc = ElectraForPreTraining.from_pretrained(out / "discriminator")
    gen = ElectraForMaskedLM.from_pretrained(out / "generator")
    encoder = ElectraModel.from_pretrained(out / "discriminator")
    with torch.no_grad():
        assert disc(**inputs).logits.shape == inputs["input_ids"].shape
        assert gen(**inputs).logits.shape == (*inputs["input_ids"].shape, 2000)
        assert encoder(**inputs).last_hidden_state.shape == (*inputs["input_ids"].shape, 128)
    # Trained with shared embeddings, so both exports hold the same values.
    assert torch.equal(gen.electra.embeddings.word_embeddings.weight, disc.electra.embeddings.word_embeddings.weight)
    assert AutoTokenizer.from_pretrained(out / "discriminator").vocab == tokenizer.vocab
    card = (out / "README.md").read_text()
    assert "ELECTRA-tiny" in card and f"{STEPS} steps" in card and "disc_loss" in card


def test_checkpoints_restore_the_full_training_state(tiny_run):
    cfg, _ = tiny_run
    # Saved at 10, 20 and 30; --keep-checkpoints 2 removed the first.
    assert sorted(p.name for p in (cfg.out_dir / "checkpoints").iterdir()) == ["step-0000020", "step-0000030"]
    manifest = read_manifest(cfg.data_dir)
    pair = ElectraPair.build(cfg.discriminator_dims, cfg.generator_dims, 2000, 0, 128)
    optimizer = build_optimizer(pair, cfg)
    scheduler = linear_schedule(optimizer, cfg.warmup_steps, cfg.max_steps)
    stream = BatchStream(manifest, "train", cfg.batch_size, cfg.seed)
    live = TrainState(pair, optimizer, scheduler, torch.amp.GradScaler("cpu", enabled=False), stream)
    state = load_checkpoint(cfg.out_dir / "checkpoints" / "step-0000030", live, cfg.to_dict())
    assert state["step"] == STEPS and state["config"] == cfg.to_dict()
    assert scheduler.last_epoch == STEPS
    assert stream.state_dict()["epoch"] * stream.examples + stream.state_dict()["index"] == STEPS * cfg.batch_size
    exported = ElectraForPreTraining.from_pretrained(cfg.out_dir / "discriminator")
    assert all(torch.equal(a, b) for a, b in zip(pair.discriminator.state_dict().values(),
                                                 exported.state_dict().values(), strict=True))
    words = pair.discriminator.electra.embeddings.word_embeddings.weight
    assert pair.generator.generator_lm_head.weight is words and pair.generator.electra.embeddings.word_embeddings.weight is words
    assert optimizer.state[words]["step"].item() == STEPS  # the optimizer state is keyed to live parameters


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(train_shard_dir, tmp_path, monkeypatch):
    real = loop.electra_loss

    def poisoned(*args, **kwargs):  # from the 5th call (step 5) on, the loss is NaN
        output = real(*args, **kwargs)
        poisoned.calls += 1
        return output._replace(loss=output.loss * float("nan")) if poisoned.calls >= 5 else output

    poisoned.calls = 0
    monkeypatch.setattr(loop, "electra_loss", poisoned)
    monkeypatch.chdir(tmp_path)  # --data relative, as a user types it
    cfg = TrainConfig(data_dir=os.path.relpath(train_shard_dir), out_dir=tmp_path / "out", model_size="tiny",
                      max_steps=8, batch_size=4, log_every=4, save_every=3, eval_batches=0, device="cpu")
    with pytest.raises(UserError, match=r"the loss is not finite at step 5: .* last good checkpoint is .*step-0000003"):
        train(cfg)
    assert [p.name for p in (cfg.out_dir / "checkpoints").iterdir()] == ["step-0000003"]
    # Stopped before its export, the run has its own tokenizer: the checkpoint can be fine-tuned
    # from anywhere, not only from where --data's relative path leads to the shards.
    monkeypatch.chdir(cfg.out_dir)
    assert find_encoder(cfg.out_dir / "checkpoints" / "step-0000003").tokenizer.vocab == \
        AutoTokenizer.from_pretrained(train_shard_dir / "tokenizer").vocab
