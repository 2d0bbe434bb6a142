import pytest
import torch
from transformers import ElectraForMaskedLM, ElectraForPreTraining

from electra_data.train.config import SIZES, ModelSize, generator_dims_of
from electra_data.train.model import ElectraPair, count_parameters, electra_config, tie_weights

BERT_VOCAB = 30522


def tiny_pair(vocab_size: int = 100) -> ElectraPair:
    disc = SIZES["tiny"]
    return ElectraPair.build(disc, generator_dims_of(disc, 0.25), vocab_size, 0, 128)


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


def test_tie_weights_reestablishes_sharing_after_loading(tmp_path):
    pair = tiny_pair()
    pair.discriminator.save_pretrained(tmp_path / "d")
    pair.generator.save_pretrained(tmp_path / "g")
    disc = ElectraForPreTraining.from_pretrained(tmp_path / "d")
    gen = ElectraForMaskedLM.from_pretrained(tmp_path / "g")
    assert gen.electra.embeddings is not disc.electra.embeddings  # what loading alone gives
    tie_weights(disc, gen)
    assert gen.electra.embeddings is disc.electra.embeddings
    assert gen.generator_lm_head.weight is disc.electra.embeddings.word_embeddings.weight
    assert torch.equal(disc.electra.embeddings.word_embeddings.weight, pair.generator.generator_lm_head.weight)


def test_tie_weights_refuses_mismatched_embeddings():
    other = ModelSize(layers=1, hidden=32, heads=1, ffn=32, embedding=64)
    disc = ElectraForPreTraining(electra_config(SIZES["tiny"], 100, 0, 128))
    gen = ElectraForMaskedLM(electra_config(other, 100, 0, 128))
    with pytest.raises(ValueError, match="cannot share word_embeddings"):
        tie_weights(disc, gen)


@pytest.mark.parametrize("max_seq_length, positions", [(128, 512), (512, 512), (513, 640), (1000, 1024)])
def test_position_embeddings_cover_the_data(max_seq_length, positions):
    config = electra_config(SIZES["tiny"], 100, 0, max_seq_length)
    assert config.max_position_embeddings == positions
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.1
