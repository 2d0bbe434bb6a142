"""ELECTRA's objective written the textbook way, as the yardstick for ``train/objective.py``.

Everything the fast path does differently is done here as the paper and the reference code do
it: the generator computes logits over the whole vocabulary at every position and its loss is
transformers' own (``labels`` with -100 at unmasked positions), replacements are drawn by
Gumbel-max over the full vocabulary, and the discriminator's loss is transformers' own
``ElectraForPreTraining`` loss. Only the masking is shared (``mask_tokens``), so that both sides
see the same masks from the same generator state.

``sampler`` replaces the Gumbel-max draw (a test passes the fast path's own samples, to compare
losses and gradients exactly where they must agree).
"""

from __future__ import annotations

import torch

from electra_data.train.objective import ElectraOutput, mask_tokens


def gumbel_max(logits: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """argmax(logits + Gumbel noise): one uniform number per vocabulary entry, as the paper."""
    u = torch.rand(logits.shape, generator=rng, device=logits.device, dtype=torch.float32)
    gumbel = -torch.log(-torch.log(u.clamp(1e-9, 1.0 - 1e-9)))
    return (logits.float() + gumbel).argmax(dim=-1)


def reference_electra_loss(generator, discriminator, batch, *, special_ids, pad_id, mask_id,
                           mask_prob, disc_weight, rng, sampler=None, detection=None) -> ElectraOutput:
    original, attention = batch["input_ids"], batch["attention_mask"]
    masked = mask_tokens(original, special_ids, pad_id, mask_id, mask_prob, rng)
    labels = original.masked_fill(~masked.is_masked, -100)
    gen = generator(input_ids=masked.input_ids, attention_mask=attention,
                    token_type_ids=batch["token_type_ids"], labels=labels)
    with torch.no_grad():
        logits = gen.logits.detach()
        sampled = sampler(logits[masked.is_masked]) if sampler else gumbel_max(logits, rng)[masked.is_masked]
        disc_input = original.masked_scatter(masked.is_masked, sampled)
        replaced = (disc_input != original).long()
    disc = discriminator(input_ids=disc_input, attention_mask=attention,
                         token_type_ids=batch["token_type_ids"], labels=replaced)
    loss = gen.loss + disc_weight * disc.loss
    with torch.no_grad():
        active = attention.bool()
        if detection is not None:
            detection.append((disc.logits[active].float(), replaced[active].bool()))
        predicted, truth = disc.logits[active] > 0, replaced[active].bool()
        hits = (predicted & truth).sum()
        targets = original[masked.is_masked]
        return ElectraOutput(
            loss=loss, mlm_loss=gen.loss, disc_loss=disc.loss,
            gen_accuracy=(logits[masked.is_masked].argmax(-1) == targets).float().mean(),
            disc_accuracy=(predicted == truth).float().mean(),
            disc_precision=hits / predicted.sum().clamp(min=1),
            disc_recall=hits / truth.sum().clamp(min=1),
        )
