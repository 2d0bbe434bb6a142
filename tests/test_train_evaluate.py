import json

import pytest
import torch

from electra_data.train.evaluate import roc_auc
from electra_data.train.monitor import plot_curves


def pairwise_auc(scores, labels):
    """The definition: P(score of a positive > score of a negative), ties counting half."""
    pos, neg = scores[labels], scores[~labels]
    greater = (pos[:, None] > neg[None, :]).double().sum()
    ties = (pos[:, None] == neg[None, :]).double().sum()
    return ((greater + 0.5 * ties) / (len(pos) * len(neg))).item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_matches_the_pairwise_definition_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 20, (500,), generator=g).float()  # many ties
    labels = torch.rand(500, generator=g) < 0.3
    assert roc_auc(scores, labels) == pytest.approx(pairwise_auc(scores, labels), abs=1e-12)


def test_roc_auc_extremes():
    labels = torch.tensor([False, False, True, True])
    assert roc_auc(torch.tensor([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(torch.tensor([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert roc_auc(torch.zeros(4), labels) == 0.5
    assert roc_auc(torch.zeros(4), torch.zeros(4, dtype=torch.bool)) != roc_auc(torch.zeros(4), labels)  # NaN


def test_plot_of_training_and_validation_curves(tmp_path):
    records = [{"step": s, "lr": 1e-3, "mlm_loss": 7 - s / 10, "disc_loss": 0.6, "gen_accuracy": 0.1,
                "disc_accuracy": 0.8} for s in range(1, 11)] + [{"step": 10, "val_disc_auc": 0.6}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    plot_curves(tmp_path / "metrics.jsonl", tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_discriminator_on_its_plateau_gets_a_warning():
    from electra_data.train.evaluate import plateau_warning

    assert "ROC-AUC 0.509 < 0.6" in plateau_warning({"val_disc_auc": 0.509})
    assert "worse than random" in plateau_warning({"val_disc_auc": 0.509})
    assert plateau_warning({"val_disc_auc": 0.71}) is None
    assert plateau_warning({"val_disc_auc": float("nan")}) is None  # no positives: nothing to say
    assert plateau_warning({"val_mlm_loss": 6.0}) is None  # an MLM run, or no validation
