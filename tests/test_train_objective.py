from types import SimpleNamespace

import pytest
import torch

from transformers import ElectraForMaskedLM

from electra_data.train import objective
from electra_data.train.config import SIZES, generator_dims_of
from electra_data.train.data import BatchStream
from electra_data.train.manifest import read_manifest
from electra_data.train.model import ElectraPair, electra_config
from electra_data.train.objective import electra_loss, mask_tokens, mlm_loss, sample_softmax

PAD, CLS, SEP, MASK = 0, 2, 3, 4
SPECIALS = (CLS, SEP, MASK)


def loss_kwargs(seed=0):
    return dict(special_ids=SPECIALS, pad_id=PAD, mask_id=MASK, mask_prob=0.15, disc_weight=50.0,
                rng=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def batch(train_shard_dir):
    return next(BatchStream(read_manifest(train_shard_dir), "train", 8, seed=0))


@pytest.fixture
def pair():
    torch.manual_seed(0)
    return ElectraPair.build(SIZES["tiny"], generator_dims_of(SIZES["tiny"], 0.25), 2000, PAD, 128)


class PerfectDiscriminator(torch.nn.Module):
    """Knows the original batch, so it labels every replaced token with certainty."""

    def __init__(self, original):
        super().__init__()
        self.original, self.seen = original, None

    def forward(self, input_ids, attention_mask, token_type_ids):
        self.seen = input_ids
        return SimpleNamespace(logits=torch.where(input_ids != self.original, 30.0, -30.0))


def test_masking_rates_and_what_is_never_masked():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 2000, (64, 100), generator=g)
    ids[:, 0], ids[:, 50], ids[:, 99] = CLS, SEP, SEP
    ids[::2, 80:] = PAD
    maskable = (ids > 4).sum().item()
    selected = shown_as_mask = 0
    for _ in range(50):
        masked = mask_tokens(ids, SPECIALS, PAD, MASK, 0.15, g)
        assert not masked.is_masked[(ids == PAD) | (ids == CLS) | (ids == SEP)].any()
        assert torch.equal(masked.input_ids[~masked.is_masked], ids[~masked.is_masked])  # no random tokens
        assert (masked.is_masked.sum(dim=1) >= 1).all()
        selected += masked.is_masked.sum().item()
        shown_as_mask += (masked.input_ids[masked.is_masked] == MASK).sum().item()
    assert selected / (50 * maskable) == pytest.approx(0.15, abs=0.005)
    assert shown_as_mask / selected == pytest.approx(0.85, abs=0.01)  # the other 15% stay unchanged


def test_masking_is_deterministic_for_a_seed():
    ids = torch.randint(5, 2000, (4, 32), generator=torch.Generator().manual_seed(1))
    first = mask_tokens(ids, SPECIALS, PAD, MASK, 0.15, torch.Generator().manual_seed(7))
    second = mask_tokens(ids, SPECIALS, PAD, MASK, 0.15, torch.Generator().manual_seed(7))
    assert torch.equal(first.input_ids, second.input_ids) and torch.equal(first.is_masked, second.is_masked)


def test_sampling_follows_the_softmax():
    logits = torch.tensor([0.0, 1.0, 2.0]).expand(20000, 3)
    counts = torch.bincount(sample_softmax(logits, torch.Generator().manual_seed(0)), minlength=3)
    assert torch.allclose(counts / 20000, torch.softmax(logits[0], dim=0), atol=0.015)


def test_loss_is_finite_and_metrics_in_range(pair, batch):
    out = electra_loss(pair.generator, pair.discriminator, batch, **loss_kwargs())
    assert torch.isfinite(out.loss) and out.loss.item() == pytest.approx(
        out.mlm_loss.item() + 50 * out.disc_loss.item(), rel=1e-5)
    assert out.mlm_loss.item() == pytest.approx(torch.log(torch.tensor(2000.0)).item(), rel=0.1)  # untrained
    rates = ("gen_accuracy", "disc_accuracy", "disc_precision", "disc_recall")
    assert all(0.0 <= getattr(out, name).item() <= 1.0 for name in rates)
    assert out.stacked().tolist() == pytest.approx([value.item() for value in out])


def test_a_perfect_discriminator_has_zero_loss(pair, batch):
    disc = PerfectDiscriminator(batch["input_ids"])
    out = electra_loss(pair.generator, disc, batch, **loss_kwargs())
    assert out.disc_loss.item() < 1e-9
    assert out.disc_accuracy.item() == out.disc_precision.item() == out.disc_recall.item() == 1.0
    assert (disc.seen != batch["input_ids"]).any()  # the untrained generator does replace tokens


def test_a_sample_equal_to_the_original_is_labelled_original(pair, batch, monkeypatch):
    # electra_loss masks first with the same seeded rng, so this is the selection it will make.
    original = batch["input_ids"]
    masked = mask_tokens(original, SPECIALS, PAD, MASK, 0.15, torch.Generator().manual_seed(0))
    # A generator that always samples the original token: nothing counts as replaced.
    monkeypatch.setattr(objective, "sample_softmax", lambda logits, rng: original[masked.is_masked])
    disc = PerfectDiscriminator(original)
    out = electra_loss(pair.generator, disc, batch, **loss_kwargs(seed=0))
    assert torch.equal(disc.seen, original)
    assert out.disc_loss.item() < 1e-9 and out.disc_recall.item() == 0.0  # no positives at all


def test_gradients_reach_both_models_and_the_shared_embeddings(pair, batch):
    out = electra_loss(pair.generator, pair.discriminator, batch, **loss_kwargs())
    out.loss.backward()
    unreached = [n for n, p in pair.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert unreached == []


def test_both_losses_train_the_shared_embeddings(pair, batch):
    out = electra_loss(pair.generator, pair.discriminator, batch, **loss_kwargs())
    words = pair.discriminator.electra.embeddings.word_embeddings.weight
    mlm_grad, = torch.autograd.grad(out.mlm_loss, words, retain_graph=True)
    disc_grad, = torch.autograd.grad(out.disc_loss, words)
    assert mlm_grad.abs().sum() > 0 and disc_grad.abs().sum() > 0


def test_no_gradient_flows_through_sampling(pair, batch):
    out = electra_loss(pair.generator, pair.discriminator, batch, **loss_kwargs())
    gen = pair.generator
    generator_only = [*gen.electra.encoder.parameters(), *gen.electra.embeddings_project.parameters(),
                      *gen.generator_predictions.parameters()]
    grads = torch.autograd.grad(out.disc_loss, generator_only, allow_unused=True)
    assert all(g is None for g in grads)


def test_bert_masking_shows_random_tokens():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 2000, (64, 100), generator=g)
    masked = mask_tokens(ids, SPECIALS, PAD, MASK, 0.15, g, mask_fraction=0.8, random_fraction=0.1, vocab_size=2000)
    chosen, shown = ids[masked.is_masked], masked.input_ids[masked.is_masked]
    as_mask = (shown == MASK).float().mean().item()
    changed = ((shown != MASK) & (shown != chosen)).float().mean().item()
    assert as_mask == pytest.approx(0.8, abs=0.03) and changed == pytest.approx(0.1, abs=0.02)
    assert torch.equal(masked.input_ids[~masked.is_masked], ids[~masked.is_masked])


def test_mlm_loss_trains_every_parameter(batch):
    torch.manual_seed(0)
    model = ElectraForMaskedLM(electra_config(SIZES["tiny"], 2000, PAD, 128))
    out = mlm_loss(model, batch, special_ids=SPECIALS, pad_id=PAD, mask_id=MASK, mask_prob=0.15,
                   rng=torch.Generator().manual_seed(0))
    assert out.loss is out.mlm_loss and 0 <= out.gen_accuracy.item() <= 1
    assert out.loss.item() == pytest.approx(torch.log(torch.tensor(2000.0)).item(), rel=0.1)
    out.loss.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    assert out.stacked().shape == (3,)
