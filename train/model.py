"""The networks a run trains, built from transformers' ELECTRA classes.

``ElectraPair`` holds a generator and a discriminator whose embeddings are shared one of three
ways (``--embedding-sharing``):

- ``tied``, as in the reference ELECTRA: one embeddings module (word, position and token-type
  tables and their LayerNorm) serves both networks, and the generator's softmax is tied to the
  word table, so the generator's dense MLM gradient trains every row the discriminator uses;
- ``gdes``, DeBERTaV3's gradient-disentangled sharing: the generator owns the tables and the
  discriminator looks up ``table.detach() + delta`` with its own zero-initialised ``delta``, so
  the discriminator's loss never pulls the generator's embeddings its way;
- ``none``: two independent networks;
- ``all``: the paper's full weight tying for a generator of the discriminator's size: one
  encoder (embeddings and transformer layers) under both heads, so the generator's MLM gradient
  trains the very attention the discriminator uses.

``MaskedLM`` is one BERT-style masked LM, for ``--objective mlm``.

``save_pretrained`` writes each network on its own and cannot record sharing *across* networks:
``save_networks`` writes Hugging Face directories with GDES baked in (``from_pretrained`` gets
the table the discriminator really uses) plus the deltas themselves, and ``load_networks``
restores the live, shared modules exactly.
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining, PreTrainedModel

from electra_data.train.config import ModelSize
from electra_data.train.local_init import local_attention_init

__all__ = [
    "DROPOUT",
    "electra_config",
    "GdesEmbedding",
    "copy_embeddings",
    "share_embeddings",
    "ElectraPair",
    "MaskedLM",
    "save_networks",
    "load_networks",
    "count_parameters",
]

DROPOUT = 0.1
WEIGHTS = "model.safetensors"
_TABLES = ("word_embeddings", "position_embeddings", "token_type_embeddings")
_DELTAS = "gdes_deltas.safetensors"
_ONE_FILE = "1000GB"  # never shard: one file per network keeps loading into live modules simple
_TIED_HEAD = "generator_lm_head.weight"
_HEADLESS = {"architectures": None, "_name_or_path": None}  # what may differ between the two configs  # save_pretrained leaves it out: it is the word table


def electra_config(
    dims: ModelSize, vocab_size: int, pad_id: int, max_seq_length: int, init_range: float = 0.02
) -> ElectraConfig:
    """A transformers ``ElectraConfig`` for one network.

    Args:
        dims: The network's dimensions.
        vocab_size: Vocabulary size from the manifest.
        pad_id: Padding id from the manifest.
        max_seq_length: Longest example in the data; position embeddings cover at least 512
            (what downstream users expect of an ELECTRA checkpoint) or this rounded up to 128.
        init_range: Standard deviation of the random initial weights.

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
        initializer_range=init_range,
    )


class GdesEmbedding(nn.Module):
    """A table that reads another network's table, detached, plus a delta of its own.

    Args:
        source: The generator's table.
        delta: The initial delta (copied).
    """

    def __init__(self, source: nn.Embedding, delta: torch.Tensor):
        super().__init__()
        # In a tuple the source is not a submodule: it is the generator's, and must be saved,
        # optimised and counted once, there.
        self._source = (source,)
        self.delta = nn.Parameter(delta.detach().clone())
        self.padding_idx = source.padding_idx

    @property
    def weight(self) -> torch.Tensor:
        """The table in use: ``source.detach() + delta``."""
        return self._source[0].weight.detach() + self.delta

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight, self.padding_idx)


def copy_embeddings(source: PreTrainedModel, target: PreTrainedModel) -> None:
    """Copy the whole embeddings module's values (tables and LayerNorm) from one network."""
    target.electra.embeddings.load_state_dict(source.electra.embeddings.state_dict())


def share_embeddings(
    discriminator: ElectraForPreTraining, generator: ElectraForMaskedLM, sharing: str
) -> None:
    """Wire the two networks' embeddings together (see the module docstring).

    ``tied``: the discriminator's module wins. ``gdes``: the delta starts at the difference of
    the two tables, so neither network changes what it computes (zero after ``copy_embeddings``).

    Raises:
        ValueError: If the table shapes differ, so they cannot be shared.
    """
    if sharing == "none":
        return
    ours, theirs = discriminator.electra.embeddings, generator.electra.embeddings
    for name in _TABLES:
        a, b = tuple(getattr(ours, name).weight.shape), tuple(getattr(theirs, name).weight.shape)
        if a != b:
            raise ValueError(f"cannot share {name}: discriminator {a} vs generator {b}")
    if sharing == "all":
        if discriminator.electra.config.to_dict() | _HEADLESS != generator.electra.config.to_dict() | _HEADLESS:
            raise ValueError("sharing all weights needs a generator of the discriminator's size "
                             "(--generator-size 1)")
        generator.electra = discriminator.electra
        generator.generator_lm_head.weight = ours.word_embeddings.weight
        return
    if sharing == "tied":
        generator.electra.embeddings = ours
        generator.generator_lm_head.weight = ours.word_embeddings.weight
        return
    for name in _TABLES:
        source = getattr(theirs, name)
        setattr(ours, name, GdesEmbedding(source, getattr(ours, name).weight - source.weight))


class ElectraPair(nn.Module):
    """Both networks in one module, so ``parameters()``, ``to()`` and ``train()`` see each shared
    tensor once (an optimizer must not hold a shared parameter twice).

    Args:
        discriminator: An ``ElectraForPreTraining``.
        generator: An ``ElectraForMaskedLM`` with the same embedding shapes.
        sharing: ``tied``, ``gdes``, ``none`` or ``all``.
    """

    def __init__(
        self, discriminator: ElectraForPreTraining, generator: ElectraForMaskedLM, sharing: str = "tied"
    ):
        super().__init__()
        share_embeddings(discriminator, generator, sharing)
        self.discriminator, self.generator, self.sharing = discriminator, generator, sharing

    @classmethod
    def build(
        cls,
        disc_dims: ModelSize,
        gen_dims: ModelSize,
        vocab_size: int,
        pad_id: int,
        max_seq_length: int,
        sharing: str = "tied",
        init_range: float = 0.02,
        attention_init: str = "standard",
    ) -> ElectraPair:
        """A freshly initialised pair; see ``electra_config`` for the arguments. ``attention_init``
        ``local`` gives the discriminator local heads (``local_init``); the generator's own
        layers keep the standard initialisation."""
        disc = ElectraForPreTraining(electra_config(disc_dims, vocab_size, pad_id, max_seq_length, init_range))
        gen = ElectraForMaskedLM(electra_config(gen_dims, vocab_size, pad_id, max_seq_length, init_range))
        if sharing == "gdes":  # DeBERTaV3 starts the delta at zero (here: at what the local init adds)
            copy_embeddings(gen, disc)
        if attention_init == "local":
            local_attention_init(disc.electra)
        return cls(disc, gen, sharing)

    def forward(self, batch: dict[str, torch.Tensor], loss):
        """``loss(generator, discriminator, batch)``: DDP syncs gradients of what runs in forward."""
        return loss(self.generator, self.discriminator, batch)

    def networks(self) -> dict[str, PreTrainedModel]:
        """The exported networks by directory name."""
        return {"discriminator": self.discriminator, "generator": self.generator}


class MaskedLM(nn.Module):
    """One masked language model (``--objective mlm``), exported as ``mlm/``.

    Args:
        mlm: An ``ElectraForMaskedLM``.
    """

    def __init__(self, mlm: ElectraForMaskedLM):
        super().__init__()
        self.mlm = mlm

    @classmethod
    def build(
        cls, dims: ModelSize, vocab_size: int, pad_id: int, max_seq_length: int,
        init_range: float = 0.02, attention_init: str = "standard",
    ) -> MaskedLM:
        """A freshly initialised model; see ``electra_config`` and ``ElectraPair.build``."""
        mlm = ElectraForMaskedLM(electra_config(dims, vocab_size, pad_id, max_seq_length, init_range))
        if attention_init == "local":
            local_attention_init(mlm.electra)
        return cls(mlm)

    def forward(self, batch: dict[str, torch.Tensor], loss):
        """``loss(mlm, batch)``."""
        return loss(self.mlm, batch)

    def networks(self) -> dict[str, PreTrainedModel]:
        """The exported networks by directory name."""
        return {"mlm": self.mlm}


def _gdes_modules(net: nn.Module) -> dict[str, GdesEmbedding]:
    return {name: m for name, m in net.named_modules() if isinstance(m, GdesEmbedding)}


def save_networks(model: ElectraPair | MaskedLM, directory: Path, deltas: bool = True) -> None:
    """Write each network as a ``from_pretrained`` directory under ``directory``.

    GDES tables are baked (``source + delta``) into the discriminator's weights; with ``deltas``
    the deltas themselves go to ``gdes_deltas.safetensors``, so ``load_networks`` restores them
    exactly (a checkpoint needs them, an export does not).
    """
    saved_deltas = {}
    for name, net in model.networks().items():
        state = net.state_dict()
        for module_name, module in _gdes_modules(net).items():
            saved_deltas[f"{name}.{module_name}"] = state.pop(f"{module_name}.delta").contiguous()
            state[f"{module_name}.weight"] = module.weight.detach().contiguous()
        net.save_pretrained(directory / name, state_dict=state, max_shard_size=_ONE_FILE)
    if deltas and saved_deltas:
        save_file(saved_deltas, directory / _DELTAS)


def load_networks(model: ElectraPair | MaskedLM, directory: Path) -> None:
    """Load a ``save_networks`` directory into live networks, in place (so an optimizer keeps
    pointing at the same parameters and the sharing stays).

    Raises:
        FileNotFoundError: If a weights file is missing.
        ValueError: If the saved weights do not fit the networks.
    """
    deltas = load_file(directory / _DELTAS) if (directory / _DELTAS).exists() else {}
    for name, net in model.networks().items():
        path = directory / name / WEIGHTS
        if not path.is_file():  # safetensors' own error does not name the file
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        state = load_file(path)
        for module_name in _gdes_modules(net):
            del state[f"{module_name}.weight"]  # the baked table; the delta is what trains
            key = f"{name}.{module_name}"
            if key not in deltas:
                raise ValueError(f"{directory} holds no GDES delta for {key}")
            state[f"{module_name}.delta"] = deltas[key]
        try:
            result = net.load_state_dict(state, strict=False)
        except RuntimeError as e:
            raise ValueError(f"{directory / name} does not fit this model: {e}") from e
        if result.unexpected_keys or set(result.missing_keys) - {_TIED_HEAD}:
            raise ValueError(f"{directory / name} does not fit this model: {result}")


def count_parameters(module: nn.Module) -> int:
    """Number of distinct parameter elements (a shared tensor counts once)."""
    return sum(p.numel() for p in module.parameters())
