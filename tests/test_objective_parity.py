"""Our fast ELECTRA objective against the textbook one (tests/reference_electra.py).

Where nothing random differs (same weights, batch, masks and replacement samples) the losses
and every gradient must agree to float precision: masked-only logits, the tied head and the
shared embeddings change the cost, not the maths. Where the draw differs (inverse CDF against
Gumbel-max) the samples must follow the same distribution. bench/bench_parity.py compares the
learning curves.
"""

import pytest
import torch

from reference_electra import gumbel_max, reference_electra_loss
from electra_data.train import objective
from electra_data.train.config import SIZES, generator_dims_of
from electra_data.train.data import BatchStream
from electra_data.train.manifest import read_manifest
from electra_data.train.model import ElectraPair


@pytest.fixture(scope="module")
def setup(train_shard_dir):
    manifest = read_manifest(train_shard_dir)
    s = manifest.special_tokens
    batch = next(BatchStream(manifest, "train", 8, seed=0))
    kwargs = dict(special_ids=(s.cls, s.sep, s.mask), pad_id=s.pad, mask_id=s.mask, mask_prob=0.15,
                  disc_weight=50.0)
    return manifest, batch, kwargs


def _pair(manifest, sharing):
    torch.manual_seed(0)
    dims = SIZES["tiny"]
    fraction = 1.0 if sharing == "all" else 0.25
    return ElectraPair.build(dims, generator_dims_of(dims, fraction), manifest.vocab_size,
                             manifest.special_tokens.pad, manifest.max_seq_length, sharing)


def _ours_with_samples(pair, batch, kwargs):
    """Our loss and gradients, and the replacement ids it drew."""
    drawn = {}
    real = objective.sample_softmax

    def spy(logits, rng):
        drawn["ids"] = real(logits, rng)
        return drawn["ids"]

    objective.sample_softmax = spy
    try:
        out = objective.electra_loss(pair.generator, pair.discriminator, batch,
                                     rng=torch.Generator().manual_seed(1), **kwargs)
    finally:
        objective.sample_softmax = real
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in pair.named_parameters() if p.grad is not None}
    pair.zero_grad(set_to_none=True)
    return out, grads, drawn["ids"]


@pytest.mark.parametrize("sharing", ["tied", "gdes", "none", "all"])
def test_losses_and_gradients_match_the_textbook_objective(setup, sharing):
    manifest, batch, kwargs = setup
    pair = _pair(manifest, sharing)
    pair.eval()  # dropout off: both sides must compute the same function
    ours, our_grads, samples = _ours_with_samples(pair, batch, kwargs)
    ref = reference_electra_loss(pair.generator, pair.discriminator, batch,
                                 rng=torch.Generator().manual_seed(1), sampler=lambda _: samples, **kwargs)
    ref.loss.backward()
    ref_grads = {n: p.grad.clone() for n, p in pair.named_parameters() if p.grad is not None}
    for name in ref._fields:
        assert getattr(ours, name).item() == pytest.approx(getattr(ref, name).item(), rel=1e-5, abs=1e-6), name
    assert our_grads.keys() == ref_grads.keys() and len(ref_grads) > 30
    for name, g in ref_grads.items():
        scale = g.abs().max().clamp(min=1e-12)
        assert (our_grads[name] - g).abs().max() / scale < 1e-4, name
    # Tied: the generator's table is the discriminator's, one parameter named once.
    table = "generator.electra.embeddings.word_embeddings.weight"
    assert (table in ref_grads) == (sharing in ("gdes", "none"))


def test_inverse_cdf_samples_follow_the_gumbel_max_distribution(setup):
    """Both draws from a trained-looking (peaked) generator softmax: their histograms differ no
    more than two Gumbel-max draws differ from each other."""
    manifest, batch, _ = setup
    torch.manual_seed(0)
    logits = torch.randn(2, manifest.vocab_size) * 4.0  # a few dominant entries, a long tail
    rows = logits.repeat_interleave(10_000, dim=0)
    draws = {
        "cdf": objective.sample_softmax(rows, torch.Generator().manual_seed(1)),
        "gumbel": gumbel_max(rows, torch.Generator().manual_seed(2)),
        "gumbel2": gumbel_max(rows, torch.Generator().manual_seed(3)),
    }
    hist = {k: torch.stack([torch.bincount(v.view(2, -1)[r], minlength=manifest.vocab_size)
                            for r in range(2)]).double() / 10_000 for k, v in draws.items()}
    exact = torch.softmax(logits.double(), dim=-1)
    tv = {k: 0.5 * (h - exact).abs().sum(dim=1).max().item() for k, h in hist.items()}
    assert tv["cdf"] < 1.5 * max(tv["gumbel"], tv["gumbel2"]), tv
    assert 0.5 * (hist["cdf"] - hist["gumbel"]).abs().sum(dim=1).max() < 0.1
