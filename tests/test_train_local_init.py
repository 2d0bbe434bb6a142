"""The local-attention initialisation: which heads look where at step 0, and that the result is a
plain ELECTRA checkpoint."""

import json

import pytest
import torch
from transformers import ElectraForPreTraining, ElectraModel
from typer.testing import CliRunner

from electra_data.train.cli import app
from electra_data.train.config import SIZES, TrainConfig, generator_dims_of
from electra_data.train.data import BatchStream
from electra_data.train.local_init import local_attention_init
from electra_data.train.manifest import read_manifest
from electra_data.train.model import ElectraPair, MaskedLM, electra_config


@pytest.fixture(scope="module")
def vocab(train_shard_dir) -> int:
    return read_manifest(train_shard_dir).vocab_size


@pytest.fixture(scope="module")
def batch(train_shard_dir):
    return next(BatchStream(read_manifest(train_shard_dir), "train", 4, seed=0))


def _network(size: str, vocab: int = 3000, local: bool = True) -> ElectraForPreTraining:
    torch.manual_seed(0)
    net = ElectraForPreTraining(electra_config(SIZES[size], vocab, 0, 128, init_range=0.05 if local else 0.02))
    if local:
        local_attention_init(net.electra)
    return net


def _attention(net, batch) -> tuple[torch.Tensor, ...]:
    """Per layer (batch, heads, query, key) attention at initialisation, dropout off."""
    net.set_attn_implementation("eager")
    net.eval()
    with torch.no_grad():
        return net(**batch, output_attentions=True).attentions


def _on_offset(attention: torch.Tensor, head: int, offset: int, mask: torch.Tensor) -> float:
    """Mean attention of a head on the key ``offset`` away, over the pairs of real tokens."""
    on = torch.diagonal(attention[:, head], offset=offset, dim1=-2, dim2=-1)
    rows = mask[:, max(0, -offset): mask.shape[1] - max(0, offset)]
    cols = mask[:, max(0, offset): mask.shape[1] - max(0, -offset)]
    real = (rows * cols).bool()
    return on[real].mean().item()


@pytest.mark.parametrize("size", ["tiny", "mini"])  # mini: embeddings projected 128 -> 256
def test_half_the_heads_of_the_first_layer_look_at_a_neighbour_the_others_everywhere(size, batch, vocab):
    net = _network(size, vocab=vocab)
    first = _attention(net, batch)[0]
    heads = SIZES[size].heads
    local = heads // 2
    offsets = [(-1, 1)[h % 2] for h in range(local)]
    for h, offset in enumerate(offsets):
        assert _on_offset(first, h, offset, batch["attention_mask"]) > 0.8, (h, offset)
    uniform = 1 / batch["attention_mask"].sum(dim=1).min().item()  # the shortest example's
    for h in range(local, heads):
        assert first[:, h].max().item() < 3 * uniform


def test_the_offsets_take_turns_over_the_layers_of_a_two_head_model(batch, vocab):
    attentions = _attention(_network("tiny", vocab=vocab), batch)
    assert _on_offset(attentions[0], 0, -1, batch["attention_mask"]) > 0.8
    assert _on_offset(attentions[1], 0, 1, batch["attention_mask"]) > _on_offset(attentions[1], 0, -1, batch["attention_mask"]) + 0.3


def test_standard_attention_is_uniform_at_initialisation(batch, vocab):
    first = _attention(_network("tiny", vocab=vocab, local=False), batch)[0]
    assert first.max().item() < 3 / batch["attention_mask"].sum(dim=1).min().item()


def test_positions_and_words_start_on_their_own_dimensions():
    emb = _network("tiny").electra.embeddings
    words, positions = emb.word_embeddings.weight, emb.position_embeddings.weight
    split = words.shape[1] - 64  # the head size of tiny
    assert torch.all(words[:, split:] == 0) and torch.all(emb.token_type_embeddings.weight[:, split:] == 0)
    assert torch.all(positions[:, :split] == 0) and positions[:, split:].abs().min() >= 0
    # the word table keeps its norm: a larger init range is not undone
    assert words.std().item() == pytest.approx(0.05, rel=0.1)


def test_the_checkpoint_is_a_plain_electra_model(tmp_path, batch, vocab):
    net = _network("tiny", vocab=vocab)
    net.save_pretrained(tmp_path)
    loaded = ElectraModel.from_pretrained(tmp_path)
    net.eval(), loaded.eval()
    with torch.no_grad():
        assert torch.equal(net.electra(**batch).last_hidden_state, loaded(**batch).last_hidden_state)


@pytest.mark.parametrize("sharing", ["tied", "gdes", "none", "all"])
def test_a_pair_built_with_local_attention_gives_the_discriminator_local_heads(sharing, batch, vocab):
    size = SIZES["tiny"]
    generator = size if sharing == "all" else generator_dims_of(size, 0.5)
    torch.manual_seed(0)
    pair = ElectraPair.build(size, generator, vocab, 0, 128, sharing=sharing, init_range=0.05, attention_init="local")
    assert _on_offset(_attention(pair.discriminator, batch)[0], 0, -1, batch["attention_mask"]) > 0.8
    assert pair.discriminator.config.initializer_range == pair.generator.config.initializer_range == 0.05


def test_a_masked_lm_built_with_local_attention_has_local_heads(batch, vocab):
    torch.manual_seed(0)
    mlm = MaskedLM.build(SIZES["tiny"], vocab, 0, 128, init_range=0.05, attention_init="local").mlm
    assert _on_offset(_attention(mlm, batch)[0], 0, -1, batch["attention_mask"]) > 0.8


@pytest.mark.parametrize("size, init, init_range", [("tiny", "local", 0.05), ("mini", "local", 0.05), ("small", "standard", 0.02)])
def test_the_cpu_presets_start_from_local_attention(tmp_path, size, init, init_range):
    cfg = TrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o", model_size=size)
    assert (cfg.attention_init, cfg.init_range) == (init, init_range)
    # a chosen init takes its own range; a chosen range is kept
    assert TrainConfig(data_dir=tmp_path, out_dir=tmp_path, model_size=size, attention_init="standard").init_range == 0.02
    assert TrainConfig(data_dir=tmp_path, out_dir=tmp_path, model_size=size, init_range=0.1).init_range == 0.1


@pytest.mark.parametrize("field, value, why", [
    ("attention_init", "mimetic", "attention_init must be one of local, standard"),
    ("init_range", 0.0, "init_range must be > 0"),
    ("init_range", float("nan"), "init_range must be a finite number"),
])
def test_a_bad_initialisation_is_refused(tmp_path, field, value, why):
    with pytest.raises(ValueError, match=why):
        TrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o", model_size="tiny", **{field: value})


@pytest.mark.parametrize("given, message", [
    (["--attention-init", "mimetic"], "--attention-init must be one of local, standard"),
    (["--init-range", "0"], "--init-range must be > 0"),
])
def test_the_command_names_the_option(train_shard_dir, tmp_path, given, message):
    result = CliRunner().invoke(app, ["--data", str(train_shard_dir), "--out", str(tmp_path / "o"), "--model-size", "tiny",
                                      "--max-steps", "2", "--device", "cpu", *given])
    assert result.exit_code == 1 and f"error: {message}" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag, value", [("--attention-init", "local"), ("--init-range", "0.05")])
def test_an_initialisation_with_init_from_is_refused(train_shard_dir, tmp_path, flag, value):
    net = _network("tiny", vocab=read_manifest(train_shard_dir).vocab_size)
    net.save_pretrained(tmp_path / "ckpt")
    result = CliRunner().invoke(app, ["--data", str(train_shard_dir), "--out", str(tmp_path / "o"), "--init-from",
                                      str(tmp_path / "ckpt"), "--max-steps", "2", "--device", "cpu", flag, value])
    assert result.exit_code == 1, result.output
    assert f"error: {flag} has no effect with --init-from" in result.output


def test_a_tiny_run_records_its_initialisation(train_shard_dir, tmp_path):
    result = CliRunner().invoke(app, ["--data", str(train_shard_dir), "--out", str(tmp_path / "o"), "--model-size", "tiny",
                                      "--batch-size", "4", "--max-steps", "2", "--eval-batches", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "o" / "train_config.json").read_text())
    assert (recorded["attention_init"], recorded["init_range"]) == ("local", 0.05)
    assert json.loads((tmp_path / "o" / "discriminator" / "config.json").read_text())["initializer_range"] == 0.05
