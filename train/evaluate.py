"""Validation: the objective's metrics on fixed validation batches, plus the ROC-AUC of
replaced-token detection (how well the discriminator's scores rank replaced above original
tokens, whatever the decision threshold)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

from electra_data.train.config import TrainConfig
from electra_data.train.data import BatchStream
from electra_data.train.manifest import Manifest

__all__ = ["RTD_AUC_FLOOR", "roc_auc", "mean_metrics", "evaluate", "plateau_warning"]

# Below this validation RTD ROC-AUC the discriminator has not left its initial plateau: it scores
# replaced and original tokens alike, and its representations collapse onto one direction (a
# tiny run at AUC 0.51 had token vectors at mean cosine 0.98), which makes it a worse start for
# fine-tuning than random weights (53% against 75% on rt-polarity).
RTD_AUC_FLOOR = 0.6


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) formula; ties count half.

    Args:
        scores: Any shape; higher means "more likely positive".
        labels: Same shape; true for positives.

    Returns:
        The AUC, or NaN when there are no positives or no negatives.
    """
    scores, labels = scores.detach().flatten().double(), labels.flatten().bool()
    positives = int(labels.sum())
    negatives = labels.numel() - positives
    if not positives or not negatives:
        return float("nan")
    ordered, order = scores.sort()
    # Tied scores share the mean of the 1-based ranks they span.
    _, group, counts = torch.unique_consecutive(ordered, return_inverse=True, return_counts=True)
    mean_rank = counts.cumsum(0).double() - (counts.double() - 1) / 2
    positive_ranks = mean_rank[group][labels[order]].sum().item()
    return (positive_ranks - positives * (positives + 1) / 2) / (positives * negatives)


def mean_metrics(rows: list[torch.Tensor], fields: tuple[str, ...]) -> dict[str, float]:
    """Average rows of ``output.stacked()``: one device transfer for the lot."""
    return dict(zip(fields, torch.stack(rows).mean(dim=0).tolist(), strict=True))


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    manifest: Manifest,
    cfg: TrainConfig,
    loss,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager],
    micro_batch: int | None = None,
) -> dict[str, float]:
    """Mean validation metrics over ``cfg.eval_batches`` batches, prefixed ``val_``.

    The same batches and masks every time (fixed seed), so values are comparable across steps.
    The examples of ``cfg.eval_batches`` batches of ``cfg.batch_size`` are read in micro-batches
    of ``micro_batch`` (default: the whole batch): those that training's memory check let through.

    Args:
        model: The unwrapped model (``ElectraPair`` or ``MaskedLM``).
        manifest: The data's manifest.
        cfg: The run's config.
        loss: The objective with everything but ``rng`` bound.
        device: Where the model is.
        autocast: Makes the training precision's autocast context.
        micro_batch: Examples per forward pass; divides ``cfg.batch_size``.

    Returns:
        The metrics; ``val_disc_auc`` too for ELECTRA. Empty when there is no validation split
        or ``eval_batches`` is 0.
    """
    if not cfg.eval_batches or not manifest.split("validation"):
        return {}
    micro_batch = micro_batch or cfg.batch_size
    stream = BatchStream(manifest, "validation", micro_batch, cfg.seed)
    rng = torch.Generator(device).manual_seed(cfg.seed)
    detection: list[tuple[torch.Tensor, torch.Tensor]] = []
    extra = {"detection": detection} if cfg.objective == "electra" else {}
    bound = functools.partial(loss, rng=rng, **extra)
    was_training = model.training
    model.eval()
    rows, fields = [], ()
    for _ in range(cfg.eval_batches * (cfg.batch_size // micro_batch)):
        batch = {k: v.to(device) for k, v in next(stream).items()}
        with autocast():
            output = model(batch, bound)
        rows.append(output.stacked())
        fields = type(output)._fields
    model.train(was_training)
    metrics = mean_metrics(rows, fields)
    if detection:
        metrics["disc_auc"] = roc_auc(torch.cat([s for s, _ in detection]), torch.cat([t for _, t in detection]))
    return {f"val_{name}": value for name, value in metrics.items()}


def plateau_warning(metrics: dict[str, float]) -> str | None:
    """A warning for a discriminator whose final validation RTD ROC-AUC is below the floor."""
    auc = metrics.get("val_disc_auc")
    if auc is None or auc != auc or auc >= RTD_AUC_FLOOR:  # absent, NaN, or learned
        return None
    return (f"the discriminator has not learned to detect replaced tokens yet (validation RTD "
            f"ROC-AUC {auc:.3f} < {RTD_AUC_FLOOR}): such a checkpoint fine-tunes worse than random "
            "weights; train longer, or on a GPU, before using it (README: 'A checkpoint on a CPU')")
