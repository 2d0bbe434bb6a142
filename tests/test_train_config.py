import dataclasses
import json

import pytest

from electra_data.train.config import SIZES, ModelSize, TrainConfig, generator_dims_of


def make(**overrides) -> TrainConfig:
    return TrainConfig(**{"data_dir": "data", "out_dir": "out", **overrides})


@pytest.mark.parametrize(
    "size, fraction, batch, lr, mask_prob",
    [
        ("tiny", 1.0, 32, 5e-4, 0.15),
        ("mini", 1 / 4, 32, 5e-4, 0.15),
        ("small", 1 / 4, 128, 5e-4, 0.15),
        ("base", 1 / 3, 256, 2e-4, 0.15),
        ("large", 1 / 4, 2048, 2e-4, 0.25),
    ],
)
def test_per_size_defaults_are_resolved(size, fraction, batch, lr, mask_prob):
    cfg = make(model_size=size)
    assert (cfg.generator_size, cfg.batch_size, cfg.learning_rate, cfg.mask_prob) == (fraction, batch, lr, mask_prob)


@pytest.mark.parametrize("max_steps, warmup", [(200, 20), (1_000_000, 10_000), (5, 0)])
def test_warmup_default(max_steps, warmup):
    assert make(max_steps=max_steps).warmup_steps == warmup


def test_explicit_values_win_over_defaults():
    cfg = make(model_size="base", batch_size=8, learning_rate=1e-3, warmup_steps=3, mask_prob=0.2)
    assert (cfg.batch_size, cfg.learning_rate, cfg.warmup_steps, cfg.mask_prob) == (8, 1e-3, 3, 0.2)


@pytest.mark.parametrize(
    "overrides, why",
    [
        ({"model_size": "huge"}, "model_size must be one of tiny, mini, small, base, large"),
        ({"generator_size": 0.0}, "generator_size must be in"),
        ({"generator_size": 1.5}, "generator_size must be in"),
        ({"embedding_sharing": "all", "generator_size": 0.5}, "it needs generator_size 1"),
        ({"max_steps": 0}, "max_steps must be >= 1"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"learning_rate": -1.0}, "learning_rate must be > 0"),
        ({"max_steps": 10, "warmup_steps": 11}, r"warmup_steps must be in \[0, max_steps\]"),
        ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
        ({"adam_epsilon": 0.0}, "adam_epsilon must be > 0"),
        ({"adam_beta2": 1.0}, "adam betas"),
        ({"max_grad_norm": 0.0}, "max_grad_norm must be > 0"),
        ({"mask_prob": 1.0}, "mask_prob must be in"),
        ({"disc_weight": -1.0}, "disc_weight must be >= 0"),
        ({"seed": -1}, r"seed must be in 0\.\.4294967295 \(2\*\*32 - 1\), got -1"),
        ({"seed": 2**32}, "seed must be in 0..4294967295"),  # torch's seeding overflowed past 2**64
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number, got nan"),
        ({"save_every": -1}, "save_every must be >= 0"),
        ({"log_every": 0}, "log_every must be >= 1"),
        ({"eval_batches": -1}, "eval_batches must be >= 0"),
        ({"device": "tpu"}, "device must be one of auto, cpu, cuda"),
        ({"objective": "gpt"}, "objective must be one of electra, mlm"),
        ({"embedding_sharing": "some"}, "embedding_sharing must be one of tied, gdes, none"),
        ({"grad_accum": 0}, "grad_accum must be >= 1"),
        ({"batch_size": 10, "grad_accum": 4}, "batch_size must be divisible by grad_accum"),
        ({"keep_checkpoints": 0}, "keep_checkpoints must be >= 1"),
        ({"eval_every": -1}, "eval_every must be >= 0"),
        ({"precision": "fp8"}, "precision must be one of auto, fp32, bf16, fp16"),
        ({"model_size": "base", "generator_size": 0.3}, "not divisible"),
    ],
)
def test_bad_values_raise(overrides, why):
    with pytest.raises(ValueError, match=why):
        make(**overrides)


@pytest.mark.parametrize(
    "size, expected",
    [
        ("tiny", ModelSize(layers=2, hidden=128, heads=2, ffn=512, embedding=128)),  # as wide: measured best
        ("mini", ModelSize(layers=4, hidden=64, heads=1, ffn=256, embedding=128)),
        ("small", ModelSize(layers=12, hidden=64, heads=1, ffn=256, embedding=128)),
        ("base", ModelSize(layers=12, hidden=256, heads=4, ffn=1024, embedding=768)),
        ("large", ModelSize(layers=24, hidden=256, heads=4, ffn=1024, embedding=1024)),
    ],
)
def test_generator_dims_per_size(size, expected):
    assert make(model_size=size).generator_dims == expected
    assert generator_dims_of(SIZES[size], make(model_size=size).generator_size) == expected


def test_model_size_rejects_bad_dims():
    with pytest.raises(ValueError, match="not divisible by 3 heads"):
        ModelSize(layers=1, hidden=128, heads=3, ffn=1, embedding=1)
    with pytest.raises(ValueError, match="layers must be >= 1"):
        ModelSize(layers=0, hidden=128, heads=1, ffn=1, embedding=1)


def test_eval_every_defaults_to_save_every():
    assert make(save_every=500).eval_every == 500 and make(save_every=500, eval_every=7).eval_every == 7


def test_config_is_frozen_and_serialisable():
    cfg = make(model_size="tiny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.max_steps = 3
    as_dict = json.loads(json.dumps(cfg.to_dict()))
    assert as_dict["data_dir"] == "data" and as_dict["batch_size"] == 32
    assert TrainConfig(**as_dict) == cfg  # the resolved config recreates the run's config
    assert cfg.architecture() == {"objective": "electra", "model_size": "tiny", "generator_size": 1.0,
                                  "embedding_sharing": "tied"}
    with_init = make(init_from="runs/x")
    assert TrainConfig(**json.loads(json.dumps(with_init.to_dict()))) == with_init
