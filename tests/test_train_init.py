import json

import pytest
import torch
from transformers import ElectraForMaskedLM, ElectraForPreTraining
from typer.testing import CliRunner

from electra_data.errors import UserError
from electra_data.train.cli import app
from electra_data.train.config import TrainConfig
from electra_data.train.init import find_init_source, vocab_sha256_of
from electra_data.train.loop import build_model
from electra_data.train.manifest import read_manifest
from electra_data.train.model import GdesEmbedding

runner = CliRunner(env={"COLUMNS": "250"})
TINY = ["--batch-size", "4", "--max-steps", "2", "--eval-batches", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def pretrained(train_shard_dir, tmp_path_factory):
    """Run A: a tiny model pre-trained on the shards (the "wiki" model of the workflow)."""
    out = tmp_path_factory.mktemp("init") / "A"
    result = runner.invoke(app, ["--data", str(train_shard_dir), "--out", str(out), "--model-size", "tiny", *TINY])
    assert result.exit_code == 0, result.output
    return out


def config(data, out, init_from, **overrides):
    return TrainConfig(data_dir=data, out_dir=out, model_size="tiny", init_from=init_from, **overrides)


def test_vocab_checksum_is_the_manifest_one(train_shard_dir):
    manifest = read_manifest(train_shard_dir)
    assert vocab_sha256_of(manifest.tokenizer_dir / "vocab.txt") == manifest.raw["tokenizer"]["vocab_sha256"]


def test_continue_pretraining_from_a_run(pretrained, train_shard_dir, tmp_path):
    source = find_init_source(pretrained)
    assert (source.model_size, source.generator_size) == ("tiny", 1.0) and source.generator is not None
    result = runner.invoke(app, ["--data", str(train_shard_dir), "--out", str(tmp_path / "B"),
                                 "--init-from", str(pretrained), *TINY])  # the shape comes from A
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "B" / "train_config.json").read_text())["model_size"] == "tiny"
    assert f"starting from `{pretrained}`" in (tmp_path / "B" / "README.md").read_text()


def test_the_model_starts_from_the_checkpoint(pretrained, train_shard_dir, tmp_path):
    pair = build_model(config(train_shard_dir, tmp_path, pretrained), read_manifest(train_shard_dir))
    disc = ElectraForPreTraining.from_pretrained(pretrained / "discriminator")
    gen = ElectraForMaskedLM.from_pretrained(pretrained / "generator")
    assert all(torch.equal(a, b) for a, b in zip(pair.discriminator.state_dict().values(), disc.state_dict().values()))
    assert torch.equal(pair.generator.electra.encoder.layer[0].output.dense.weight,
                       gen.electra.encoder.layer[0].output.dense.weight)
    assert pair.generator.electra.embeddings is pair.discriminator.electra.embeddings


@pytest.mark.parametrize("sharing", ["tied", "gdes"])
def test_a_discriminator_alone_gets_a_fresh_generator_on_its_embeddings(pretrained, train_shard_dir, tmp_path, sharing):
    cfg = config(train_shard_dir, tmp_path, pretrained / "discriminator", embedding_sharing=sharing)
    pair = build_model(cfg, read_manifest(train_shard_dir))
    assert pair.generator.config.hidden_size == 128  # tiny's default: as wide
    words = pair.discriminator.electra.embeddings.word_embeddings
    assert torch.equal(pair.generator.electra.embeddings.word_embeddings.weight, words.weight)
    if sharing == "gdes":
        assert isinstance(words, GdesEmbedding) and not words.delta.abs().sum()


def test_shards_with_another_vocab_are_refused(pretrained, train_shard_copy, tmp_path):
    manifest = json.loads((train_shard_copy / "manifest.json").read_text())
    manifest["tokenizer"]["vocab_sha256"] = "0" * 64
    (train_shard_copy / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["--data", str(train_shard_copy), "--out", str(tmp_path / "B"),
                                 "--init-from", str(pretrained), *TINY])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "were tokenized with another vocab than" in result.output
    assert f"electra-data build --vocab {pretrained / 'discriminator'}" in result.output


def test_shape_and_source_mistakes(pretrained, train_shard_dir, tmp_path):
    result = runner.invoke(app, ["--data", str(train_shard_dir), "--out", str(tmp_path / "B"),
                                 "--init-from", str(pretrained), "--model-size", "small", *TINY])
    assert result.exit_code == 1 and "is shaped like tiny, not small: pass --model-size tiny" in result.output
    result = runner.invoke(app, ["--data", str(train_shard_dir), "--out", str(tmp_path / "B"),
                                 "--init-from", str(pretrained), "--generator-size", "0.25", *TINY])
    assert result.exit_code == 1 and "not 0.25: pass --generator-size 1" in result.output
    with pytest.raises(UserError, match="holds no Hugging Face ELECTRA checkpoint"):
        find_init_source(tmp_path)
