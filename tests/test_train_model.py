import pytest
import torch
from transformers import ElectraForMaskedLM, ElectraForPreTraining

from electra_data.train.config import SIZES, ModelSize, generator_dims_of
from electra_data.train.model import (
    ElectraPair,
    GdesEmbedding,
    MaskedLM,
    count_parameters,
    electra_config,
    load_networks,
    save_networks,
    share_embeddings,
)

BERT_VOCAB = 30522


def tiny_pair(vocab_size: int = 100, sharing: str = "tied") -> ElectraPair:
    disc = SIZES["tiny"]
    fraction = 1.0 if sharing == "all" else 0.25
    return ElectraPair.build(disc, generator_dims_of(disc, fraction), vocab_size, 0, 128, sharing=sharing)


@pytest.mark.parametrize(
    "size, fraction, millions",
    [("small", 1 / 4, 14), ("base", 1 / 3, 110), ("large", 1 / 4, 335)],
)
def test_discriminator_parameter_counts_match_the_paper(size, fraction, millions):
    with torch.device("meta"):  # shapes only: no memory, no init time
        pair = ElectraPair.build(SIZES[size], generator_dims_of(SIZES[size], fraction), BERT_VOCAB, 0, 512)
    assert count_parameters(pair.discriminator) / 1e6 == pytest.approx(millions, rel=0.04)


def test_small_generator_is_a_fraction_of_the_discriminator():
    with torch.device("meta"):
        pair = ElectraPair.build(SIZES["small"], generator_dims_of(SIZES["small"], 0.25), BERT_VOCAB, 0, 512)
    shared = count_parameters(pair.discriminator.electra.embeddings)
    own = count_parameters(pair.generator) - shared
    assert 0.5e6 < own < 2e6  # 12 layers of width 64 plus the head, embeddings excluded
    assert count_parameters(pair) == count_parameters(pair.discriminator) + own


def test_embeddings_and_softmax_are_shared():
    pair = tiny_pair()
    disc, gen = pair.discriminator, pair.generator
    assert gen.electra.embeddings is disc.electra.embeddings
    assert gen.generator_lm_head.weight is disc.electra.embeddings.word_embeddings.weight
    names = [name for name, _ in pair.named_parameters()]
    assert len(names) == len({id(p) for p in pair.parameters()})
    assert not any(name.startswith("generator.electra.embeddings.") for name in names)


def test_sharing_is_reestablished_after_loading(tmp_path):
    pair = tiny_pair()
    pair.discriminator.save_pretrained(tmp_path / "d")
    pair.generator.save_pretrained(tmp_path / "g")
    disc = ElectraForPreTraining.from_pretrained(tmp_path / "d")
    gen = ElectraForMaskedLM.from_pretrained(tmp_path / "g")
    assert gen.electra.embeddings is not disc.electra.embeddings  # what loading alone gives
    share_embeddings(disc, gen, "tied")
    assert gen.electra.embeddings is disc.electra.embeddings
    assert gen.generator_lm_head.weight is disc.electra.embeddings.word_embeddings.weight
    assert torch.equal(disc.electra.embeddings.word_embeddings.weight, pair.generator.generator_lm_head.weight)


@pytest.mark.parametrize("sharing", ["tied", "gdes"])
def test_sharing_refuses_mismatched_embeddings(sharing):
    other = ModelSize(layers=1, hidden=32, heads=1, ffn=32, embedding=64)
    disc = ElectraForPreTraining(electra_config(SIZES["tiny"], 100, 0, 128))
    gen = ElectraForMaskedLM(electra_config(other, 100, 0, 128))
    with pytest.raises(ValueError, match="cannot share word_embeddings"):
        share_embeddings(disc, gen, sharing)


def test_gdes_reads_the_generator_table_detached_plus_a_zero_delta():
    pair = tiny_pair(sharing="gdes")
    disc, gen = pair.discriminator.electra.embeddings, pair.generator.electra.embeddings
    assert disc is not gen and isinstance(disc.word_embeddings, GdesEmbedding)
    assert torch.equal(disc.word_embeddings.weight, gen.word_embeddings.weight)  # delta starts at zero
    assert not disc.word_embeddings.delta.abs().sum()
    names = [name for name, _ in pair.named_parameters()]
    assert "discriminator.electra.embeddings.word_embeddings.delta" in names
    assert not any(name.startswith("discriminator.electra.embeddings.word_embeddings.weight") for name in names)
    # The discriminator's loss reaches its delta but never the generator's table.
    ids = torch.randint(5, 100, (2, 16))
    pair.discriminator(input_ids=ids).logits.sum().backward()
    assert gen.word_embeddings.weight.grad is None and disc.word_embeddings.delta.grad.abs().sum() > 0
    assert pair.generator.generator_lm_head.weight is gen.word_embeddings.weight  # own softmax tie


def test_no_sharing_keeps_two_networks():
    pair = tiny_pair(sharing="none")
    assert pair.generator.electra.embeddings is not pair.discriminator.electra.embeddings
    assert pair.generator.generator_lm_head.weight is pair.generator.electra.embeddings.word_embeddings.weight


def test_sharing_all_puts_one_encoder_under_both_heads():
    pair = tiny_pair(sharing="all")
    assert pair.generator.electra is pair.discriminator.electra
    assert pair.generator.generator_lm_head.weight is pair.discriminator.electra.embeddings.word_embeddings.weight
    names = [name for name, _ in pair.named_parameters()]
    assert not any(name.startswith("generator.electra.") for name in names)  # each weight once
    ids = torch.randint(5, 100, (2, 16))
    pair.generator(input_ids=ids).logits.sum().backward()  # the MLM trains the shared attention
    assert pair.discriminator.electra.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    disc = ElectraForPreTraining(electra_config(SIZES["tiny"], 100, 0, 128))
    smaller = ElectraForMaskedLM(electra_config(generator_dims_of(SIZES["tiny"], 0.5), 100, 0, 128))
    with pytest.raises(ValueError, match="needs a generator of the discriminator's size"):
        share_embeddings(disc, smaller, "all")


@pytest.mark.parametrize("sharing", ["tied", "gdes", "none", "all"])
def test_save_and_load_networks_round_trip_exactly(tmp_path, sharing):
    pair = tiny_pair(sharing=sharing)
    with torch.no_grad():  # a trained delta, not the zeros load_networks could get right by luck
        for p in pair.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    save_networks(pair, tmp_path)
    fresh = tiny_pair(sharing=sharing)
    load_networks(fresh, tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(pair.state_dict().values(), fresh.state_dict().values(), strict=True))
    # The exported discriminator holds the table it really uses (GDES baked in).
    exported = ElectraForPreTraining.from_pretrained(tmp_path / "discriminator")
    used = pair.discriminator.electra.embeddings.word_embeddings.weight
    assert torch.equal(exported.electra.embeddings.word_embeddings.weight, used)
    ids = torch.randint(5, 100, (2, 16))
    pair.eval()
    with torch.no_grad():
        assert torch.allclose(exported(input_ids=ids).logits, pair.discriminator(input_ids=ids).logits, atol=1e-6)


def test_loading_networks_of_another_shape_is_refused(tmp_path):
    save_networks(tiny_pair(vocab_size=100), tmp_path)
    with pytest.raises(ValueError, match="does not fit this model"):
        load_networks(tiny_pair(vocab_size=120), tmp_path)
    with pytest.raises(ValueError, match="holds no GDES delta"):
        load_networks(tiny_pair(vocab_size=100, sharing="gdes"), tmp_path)


def test_masked_lm_has_the_discriminator_shape():
    model = MaskedLM.build(SIZES["tiny"], 100, 0, 128)
    assert list(model.networks()) == ["mlm"] and model.mlm.config.hidden_size == SIZES["tiny"].hidden


@pytest.mark.parametrize("max_seq_length, positions", [(128, 512), (512, 512), (513, 640), (1000, 1024)])
def test_position_embeddings_cover_the_data(max_seq_length, positions):
    config = electra_config(SIZES["tiny"], 100, 0, max_seq_length)
    assert config.max_position_embeddings == positions
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.1
