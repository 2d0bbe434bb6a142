"""A local-attention initialisation: a transformer that starts out looking at its neighbours.

Why: from the standard initialisation (every weight N(0, 0.02)) a small ELECTRA discriminator
sits on a plateau for thousands of steps: its attention is uniform, each neighbour's share of
it 1/128, and its sublayers so small beside the residual stream that the network is nearly
linear, which cannot tell whether two neighbouring tokens fit together. Replaced-token
detection is exactly that question. ``bench/bench_rtd_plateau.py`` measures it on unigram noise
(held-out ROC-AUC after 600 steps of tiny): the standard init 0.53, local attention alone 0.53,
an init range of 0.05 alone 0.54, both together 0.77 (0.62 with a range of 0.1; a two-layer CNN
0.70). Neither alone is enough: local heads bring the neighbours, and the larger weights make
the sublayers non-linear enough to compare them.

What it does, for a network of transformers' ELECTRA classes (the checkpoint stays a plain
``ElectraModel``; only the starting values differ):

- positions get their own ``P`` = min(head size, embedding size / 2) embedding dimensions:
  sinusoids there, zeros in the word and token-type tables (and with an ``embeddings_project``
  the ``P`` dims are carried straight through to the last ``P`` hidden dims);
- in every layer the first half of the heads (at least one) get a query that is the key
  rotated by an offset in the sinusoids' planes, so that position ``i`` attends mostly to
  ``i + offset`` (about 0.88 of its weight for the default ``sharpness``); the offsets (by
  default -1 and +1) take turns over those heads, layer after layer;
- everything else keeps its random initialisation, at ``config.initializer_range``: the other
  heads start uniform, as usual. They must: fine-tuning reads the sentence from ``[CLS]``, and
  with every head local (tried first) ``[CLS]`` saw only its neighbours and a checkpoint whose
  discriminator had reached a validation AUC of 0.83 fine-tuned to a constant (50.0%).

This is in the spirit of "mimetic" initialisation (Trockman and Kolter, 2023), which gives
self-attention at initialisation the structure trained attention shows; here the structure is
the previous and next token.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["OFFSETS", "SHARPNESS", "local_attention_init"]

OFFSETS = (-1, 1)
# Query/key scale: with LayerNorm'd inputs it puts ~0.88 of a head's attention on its offset.
SHARPNESS = 2.0
# Angular frequencies of the sinusoid pairs, geometric between these (radians per position):
# the fast ones tell neighbours apart, the slow ones keep the peak unique over 512 positions.
_OMEGA = (2.0, 0.02)


def _sinusoids(positions: int, pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions x 2*pairs) table of sin/cos pairs, and the pairs' frequencies."""
    omega = torch.exp(torch.linspace(math.log(_OMEGA[0]), math.log(_OMEGA[1]), pairs))
    angles = torch.arange(positions, dtype=torch.float32)[:, None] * omega
    table = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(positions, 2 * pairs)
    return table, omega


def _rotation(omega: torch.Tensor, offset: int) -> torch.Tensor:
    """The linear map taking a position's sinusoids to those of ``position + offset``."""
    c, s = torch.cos(omega * offset), torch.sin(omega * offset)
    # sin(w(i+o)) = sin(wi)cos(wo) + cos(wi)sin(wo); cos(w(i+o)) = cos(wi)cos(wo) - sin(wi)sin(wo)
    blocks = [torch.tensor([[ci, si], [-si, ci]]) for ci, si in zip(c.tolist(), s.tolist())]
    return torch.block_diag(*blocks)


@torch.no_grad()
def local_attention_init(electra: nn.Module, offsets: tuple[int, ...] = OFFSETS, sharpness: float = SHARPNESS) -> None:
    """Re-initialise an ``ElectraModel`` (``network.electra``) in place; see the module docstring.

    Args:
        electra: The ``ElectraModel`` of a freshly initialised network.
        offsets: The local heads attend to the token this far away, in turn.
        sharpness: Query/key scale; larger puts more of those heads' attention on their offset.
    """
    config = electra.config
    emb = electra.embeddings
    embedding, hidden = config.embedding_size, config.hidden_size
    heads = config.num_attention_heads
    head = hidden // heads
    dims = min(head, embedding // 2) // 2 * 2
    table, omega = _sinusoids(emb.position_embeddings.num_embeddings, dims // 2)

    words = emb.word_embeddings.weight
    std = words.std()
    pos = slice(embedding - dims, embedding)
    # the word and token-type tables give up the position dims; words keep their norm
    words[:, pos] = 0
    words[:, : embedding - dims] *= math.sqrt(embedding / (embedding - dims))
    emb.token_type_embeddings.weight[:, pos] = 0
    emb.position_embeddings.weight.zero_()
    emb.position_embeddings.weight[:, pos] = table * std * math.sqrt(2)  # a sinusoid's variance is 1/2

    hidden_pos = slice(hidden - dims, hidden)
    if hasattr(electra, "embeddings_project"):  # embedding_size != hidden_size
        project = electra.embeddings_project
        project.weight[hidden_pos] = 0
        project.weight[:, pos] = 0
        project.weight[hidden_pos, pos] = torch.eye(dims)
        project.bias[hidden_pos] = 0

    local = max(1, heads // 2)
    for index, layer in enumerate(electra.encoder.layer):
        attention = layer.attention.self
        for h in range(local):
            offset = offsets[(index * local + h) % len(offsets)]
            rows = slice(h * head, h * head + dims)
            for linear, block in ((attention.query, _rotation(omega, offset)), (attention.key, torch.eye(dims))):
                linear.weight[h * head : (h + 1) * head] = 0
                linear.weight[rows, hidden_pos] = sharpness * block
                linear.bias[h * head : (h + 1) * head] = 0
