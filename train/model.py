"""The generator-discriminator pair, built from transformers' ELECTRA classes.

As in the reference ELECTRA, the two networks share the whole embeddings module (word, position
and token-type embeddings and their LayerNorm), and the generator's output softmax is tied to the
word embeddings, so the generator's dense MLM gradient trains every embedding row the
discriminator uses. ``save_pretrained`` writes each model on its own and cannot record sharing
*across* models: call ``tie_weights`` again after loading.
"""

from __future__ import annotations

import math

from torch import nn
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

from electra_data.train.config import ModelSize

__all__ = ["DROPOUT", "electra_config", "tie_weights", "ElectraPair", "count_parameters"]

DROPOUT = 0.1


def electra_config(
    dims: ModelSize, vocab_size: int, pad_id: int, max_seq_length: int
) -> ElectraConfig:
    """A transformers ``ElectraConfig`` for one network.

    Args:
        dims: The network's dimensions.
        vocab_size: Vocabulary size from the manifest.
        pad_id: Padding id from the manifest.
        max_seq_length: Longest example in the data; position embeddings cover at least 512
            (what downstream users expect of an ELECTRA checkpoint) or this rounded up to 128.

    Returns:
        The config.
    """
    return ElectraConfig(
        vocab_size=vocab_size,
        embedding_size=dims.embedding,
        hidden_size=dims.hidden,
        num_hidden_layers=dims.layers,
        num_attention_heads=dims.heads,
        intermediate_size=dims.ffn,
        hidden_dropout_prob=DROPOUT,
        attention_probs_dropout_prob=DROPOUT,
        max_position_embeddings=max(512, 128 * math.ceil(max_seq_length / 128)),
        type_vocab_size=2,
        pad_token_id=pad_id,
    )


def tie_weights(discriminator: ElectraForPreTraining, generator: ElectraForMaskedLM) -> None:
    """Make the generator use the discriminator's embeddings module and tie its softmax to them.

    Call after construction and after any load. The discriminator's copy wins.

    Raises:
        ValueError: If the two embedding shapes differ, so they cannot be shared.
    """
    embeddings = discriminator.electra.embeddings
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        ours = tuple(getattr(embeddings, name).weight.shape)
        theirs = tuple(getattr(generator.electra.embeddings, name).weight.shape)
        if ours != theirs:
            raise ValueError(f"cannot share {name}: discriminator {ours} vs generator {theirs}")
    generator.electra.embeddings = embeddings
    generator.generator_lm_head.weight = embeddings.word_embeddings.weight


class ElectraPair(nn.Module):
    """Both networks in one module, so ``parameters()``, ``to()`` and ``train()`` see each shared
    tensor once (an optimizer must not hold a shared parameter twice).

    Args:
        discriminator: An ``ElectraForPreTraining``.
        generator: An ``ElectraForMaskedLM`` with the same embedding shapes.
    """

    def __init__(self, discriminator: ElectraForPreTraining, generator: ElectraForMaskedLM):
        super().__init__()
        tie_weights(discriminator, generator)
        self.discriminator = discriminator
        self.generator = generator

    @classmethod
    def build(
        cls,
        disc_dims: ModelSize,
        gen_dims: ModelSize,
        vocab_size: int,
        pad_id: int,
        max_seq_length: int,
    ) -> ElectraPair:
        """A freshly initialised pair; see ``electra_config`` for the arguments."""
        return cls(
            ElectraForPreTraining(electra_config(disc_dims, vocab_size, pad_id, max_seq_length)),
            ElectraForMaskedLM(electra_config(gen_dims, vocab_size, pad_id, max_seq_length)),
        )


def count_parameters(module: nn.Module) -> int:
    """Number of distinct parameter elements (a shared tensor counts once)."""
    return sum(p.numel() for p in module.parameters())
