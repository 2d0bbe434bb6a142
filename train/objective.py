"""Replaced token detection: dynamic masking, the generator's MLM and the discriminator's BCE.

Follows the ELECTRA paper and reference code: mask ``mask_prob`` of the maskable tokens (85%
become ``[MASK]``, 15% stay, no random tokens), let the generator predict them, sample
replacements from its softmax with no gradient through the sampling, and train the
discriminator to tell replaced tokens from originals on every non-pad token.

``mlm_loss`` is the BERT baseline on the same masking machinery (80% ``[MASK]``, 10% random,
10% unchanged), for comparisons matched in data, size and steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from transformers import ElectraForMaskedLM, ElectraForPreTraining

__all__ = [
    "MASK_TOKEN_FRACTION",
    "Masked",
    "ElectraOutput",
    "MlmOutput",
    "mask_tokens",
    "sample_softmax",
    "electra_loss",
    "mlm_loss",
]

# Of the selected positions, this fraction shows [MASK]; the rest keep their token (reference
# ELECTRA drops BERT's 10% random tokens: the generator already supplies plausible replacements).
MASK_TOKEN_FRACTION = 0.85
BERT_MASK_FRACTION, BERT_RANDOM_FRACTION = 0.8, 0.1


class Masked(NamedTuple):
    """Masking of one batch: the generator's input and which positions it must predict."""

    input_ids: torch.Tensor
    is_masked: torch.Tensor


class ElectraOutput(NamedTuple):
    """Losses and metrics of one batch; metrics are detached scalar tensors (no device sync)."""

    loss: torch.Tensor
    mlm_loss: torch.Tensor
    disc_loss: torch.Tensor
    gen_accuracy: torch.Tensor
    disc_accuracy: torch.Tensor
    disc_precision: torch.Tensor
    disc_recall: torch.Tensor

    def stacked(self) -> torch.Tensor:
        """Every field in one detached float vector: cheap to keep, one device sync to read."""
        return torch.stack([value.detach().float() for value in self])


class MlmOutput(NamedTuple):
    """Loss and accuracy of one masked-LM batch (``loss`` is ``mlm_loss``, named for the loop)."""

    loss: torch.Tensor
    mlm_loss: torch.Tensor
    gen_accuracy: torch.Tensor

    stacked = ElectraOutput.stacked


def mask_tokens(
    input_ids: torch.Tensor,
    special_ids: Iterable[int],
    pad_id: int,
    mask_id: int,
    mask_prob: float,
    rng: torch.Generator,
    mask_fraction: float = MASK_TOKEN_FRACTION,
    random_fraction: float = 0.0,
    vocab_size: int = 0,
) -> Masked:
    """Choose positions to predict and hide most of them behind ``[MASK]``.

    Each row gets ``round(mask_prob * maskable)`` positions (at least one when any is maskable),
    chosen uniformly among tokens that are neither special nor padding. A fixed count per row, as
    in the reference code, keeps the number of predictions steady from batch to batch. Of the
    chosen positions ``mask_fraction`` show ``[MASK]``, ``random_fraction`` a uniformly random id
    below ``vocab_size`` and the rest their own token.

    Args:
        input_ids: ``(batch, length)`` token ids.
        special_ids: Ids never masked ([CLS], [SEP], [MASK]).
        pad_id: Padding id, never masked.
        mask_id: The [MASK] id.
        mask_prob: Fraction of maskable tokens to select.
        rng: Random generator on ``input_ids``' device; the only source of randomness.
        mask_fraction: Share of the chosen positions shown as ``[MASK]``.
        random_fraction: Share shown as a random token (BERT: 0.1; ELECTRA: none).
        vocab_size: Random tokens are drawn below this; needed when ``random_fraction`` > 0.

    Returns:
        The masked ids and the boolean selection.
    """
    specials = torch.tensor([*special_ids, pad_id], device=input_ids.device)
    maskable = ~torch.isin(input_ids, specials)
    count = (maskable.sum(dim=1) * mask_prob).round().clamp(min=1)
    # Random scores with unmaskable positions last: a position is chosen if its rank < count.
    scores = torch.rand(input_ids.shape, generator=rng, device=input_ids.device)
    ranks = scores.masked_fill(~maskable, 2.0).argsort(dim=1).argsort(dim=1)
    is_masked = (ranks < count[:, None]) & maskable
    shown = torch.rand(input_ids.shape, generator=rng, device=input_ids.device)
    result = input_ids.masked_fill(is_masked & (shown < mask_fraction), mask_id)
    if random_fraction:  # drawn only when asked, so ELECTRA's random stream stays as it is
        random_ids = torch.randint(vocab_size, input_ids.shape, generator=rng, device=input_ids.device)
        show_random = is_masked & (shown >= mask_fraction) & (shown < mask_fraction + random_fraction)
        result = torch.where(show_random, random_ids, result)
    return Masked(result, is_masked)


def sample_softmax(logits: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Sample ids from ``softmax(logits)`` (temperature 1) by inverting its CDF.

    The same distribution as the reference's Gumbel-max, but one uniform number per row instead
    of one per vocabulary entry: on a CPU, drawing ~18M numbers per step (614 masked positions x
    30k entries) cost as much as the rest of a tiny model's step.

    Args:
        logits: ``(rows, vocab)`` unnormalised scores.
        rng: Random generator on ``logits``' device.

    Returns:
        ``(rows,)`` sampled ids.
    """
    cdf = torch.softmax(logits.float(), dim=-1).cumsum_(dim=-1)
    # Scale by the last entry so that rounding in the cumsum never pushes u past the end.
    u = torch.rand((cdf.shape[0], 1), generator=rng, device=cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp_(max=cdf.shape[-1] - 1)


def electra_loss(
    generator: ElectraForMaskedLM,
    discriminator: ElectraForPreTraining,
    batch: dict[str, torch.Tensor],
    *,
    special_ids: Iterable[int],
    pad_id: int,
    mask_id: int,
    mask_prob: float,
    disc_weight: float,
    rng: torch.Generator,
    detection: list | None = None,
) -> ElectraOutput:
    """The ELECTRA loss ``mlm + disc_weight * bce`` of one batch.

    Args:
        generator: The MLM generator.
        discriminator: The replaced-token discriminator.
        batch: ``input_ids``, ``attention_mask`` and ``token_type_ids``, ``(batch, length)``.
        special_ids: Ids never masked.
        pad_id: Padding id.
        mask_id: The [MASK] id.
        mask_prob: Fraction of maskable tokens to predict.
        disc_weight: Weight of the discriminator loss.
        rng: Random generator for masking and sampling, on the batch's device.
        detection: If given, the discriminator's logits and labels on non-pad tokens are
            appended to it (validation computes the ROC-AUC from them).

    Returns:
        Losses and metrics.
    """
    original, attention = batch["input_ids"], batch["attention_mask"]
    token_types = batch["token_type_ids"]
    masked = mask_tokens(original, special_ids, pad_id, mask_id, mask_prob, rng)
    logits = _masked_logits(generator, masked, batch)
    targets = original[masked.is_masked]
    mlm_loss = F.cross_entropy(logits.float(), targets)

    with torch.no_grad():  # the discriminator's loss must not reach the generator via sampling
        sampled = sample_softmax(logits.detach(), rng)
        disc_input = original.masked_scatter(masked.is_masked, sampled)
        replaced = disc_input != original  # a sample equal to the original counts as original
    disc_logits = discriminator(
        input_ids=disc_input, attention_mask=attention, token_type_ids=token_types
    ).logits
    active = attention.bool()
    disc_loss = F.binary_cross_entropy_with_logits(
        disc_logits[active].float(), replaced[active].float()
    )

    loss = mlm_loss + disc_weight * disc_loss

    with torch.no_grad():
        if detection is not None:
            detection.append((disc_logits[active].float(), replaced[active]))
        predicted, truth = disc_logits[active] > 0, replaced[active]
        hits = (predicted & truth).sum()
        return ElectraOutput(
            loss=loss,
            mlm_loss=mlm_loss,
            disc_loss=disc_loss,
            gen_accuracy=(logits.argmax(dim=-1) == targets).float().mean(),
            disc_accuracy=(predicted == truth).float().mean(),
            disc_precision=hits / predicted.sum().clamp(min=1),
            disc_recall=hits / truth.sum().clamp(min=1),
        )


def _masked_logits(net: ElectraForMaskedLM, masked: Masked, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Vocabulary logits at the masked positions only: ~15% of the full softmax's cost."""
    hidden = net.electra(
        input_ids=masked.input_ids,
        attention_mask=batch["attention_mask"],
        token_type_ids=batch["token_type_ids"],
    ).last_hidden_state
    return net.generator_lm_head(net.generator_predictions(hidden[masked.is_masked]))


def mlm_loss(
    model: ElectraForMaskedLM,
    batch: dict[str, torch.Tensor],
    *,
    special_ids: Iterable[int],
    pad_id: int,
    mask_id: int,
    mask_prob: float,
    rng: torch.Generator,
) -> MlmOutput:
    """BERT's masked-LM loss of one batch (80% ``[MASK]``, 10% random, 10% unchanged).

    Args:
        model: The masked language model.
        batch: As for ``electra_loss``.
        special_ids: Ids never masked.
        pad_id: Padding id.
        mask_id: The [MASK] id.
        mask_prob: Fraction of maskable tokens to predict.
        rng: Random generator for masking, on the batch's device.

    Returns:
        The loss and the accuracy on the masked positions.
    """
    original = batch["input_ids"]
    masked = mask_tokens(
        original, special_ids, pad_id, mask_id, mask_prob, rng,
        BERT_MASK_FRACTION, BERT_RANDOM_FRACTION, model.config.vocab_size,
    )
    logits = _masked_logits(model, masked, batch)
    targets = original[masked.is_masked]
    loss = F.cross_entropy(logits.float(), targets)
    accuracy = (logits.detach().argmax(dim=-1) == targets).float().mean()
    return MlmOutput(loss=loss, mlm_loss=loss, gen_accuracy=accuracy)
