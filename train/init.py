"""Domain adaptation: continue pre-training from a Hugging Face ELECTRA checkpoint (``--init-from``).

The checkpoint is a discriminator directory (``config.json`` + weights + ``vocab.txt``, e.g. a
released ``electra-small-discriminator``) or a run directory of ours holding ``discriminator/``
and maybe ``generator/`` (``mlm/`` for ``--objective mlm``). Without a generator, a fresh one of
the configured width starts from the discriminator's embeddings. The shards must be tokenized
with the checkpoint's vocab: the manifest's ``vocab_sha256`` is compared with the checkpoint's
``vocab.txt``, hashed the same way (the tokens in id order, each followed by a newline).
"""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError
from transformers import ElectraForMaskedLM, ElectraForPreTraining

from electra_data.errors import UserError
from electra_data.train.config import SIZES, ModelSize, TrainConfig
from electra_data.train.manifest import Manifest
from electra_data.train.model import ElectraPair, MaskedLM, copy_embeddings

__all__ = ["InitSource", "find_init_source", "vocab_sha256_of", "check_vocab", "load_init"]


@dataclass(frozen=True)
class InitSource:
    """Where the starting weights are.

    Attributes:
        main: The discriminator's directory (the masked LM's for ``--objective mlm``).
        generator: The generator's directory, if the checkpoint has one.
        vocab: The checkpoint's ``vocab.txt``.
        model_size: The ``SIZES`` preset the main network's shape matches.
        generator_size: The generator's width over the discriminator's, if there is one.
    """

    main: Path
    generator: Path | None
    vocab: Path
    model_size: str
    generator_size: float | None


# config.json's fields that make a network's ModelSize.
_SHAPE = {"num_hidden_layers": "layers", "hidden_size": "hidden", "num_attention_heads": "heads",
          "intermediate_size": "ffn", "embedding_size": "embedding"}


def _hf_config(directory: Path) -> dict:
    """``directory``'s config.json, checked to be an ELECTRA config with a possible shape."""
    path = directory / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from e
    if not isinstance(config, dict) or config.get("model_type") != "electra":
        kind = config.get("model_type") if isinstance(config, dict) else None
        raise UserError(f"{directory} holds a {kind!r} model, not an ELECTRA one")
    missing = [key for key in _SHAPE if type(config.get(key)) is not int]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)} (or not as an integer): not a complete ELECTRA config")
    try:
        _dims(config)
    except ValueError as e:  # ModelSize's checks: sizes below 1, heads that do not divide
        raise UserError(f"{path} holds an impossible shape: {e}") from e
    return config


def _dims(config: dict) -> ModelSize:
    return ModelSize(**{field: config[key] for key, field in _SHAPE.items()})


def find_init_source(path: Path, objective: str = "electra") -> InitSource:
    """Locate the networks and vocab of a checkpoint and recognise its shape.

    Raises:
        UserError: If ``path`` holds no ELECTRA checkpoint, no ``vocab.txt``, or a shape that
            matches no ``--model-size`` preset.
    """
    path = Path(path)
    names = ("mlm", "discriminator") if objective == "mlm" else ("discriminator",)
    main = next((path / n for n in names if (path / n / "config.json").is_file()), path)
    if not (main / "config.json").is_file():
        raise UserError(
            f"--init-from {path} holds no Hugging Face ELECTRA checkpoint: expected config.json "
            "there or in its discriminator/ folder"
        )
    generator = path / "generator" if objective == "electra" and main != path else None
    if generator is not None and not (generator / "config.json").is_file():
        generator = None
    vocab = next((v for v in (main / "vocab.txt", path / "tokenizer" / "vocab.txt") if v.is_file()), None)
    if vocab is None:
        raise UserError(f"--init-from {path} has no vocab.txt, so its vocab cannot be checked")
    dims = _dims(_hf_config(main))
    size = next((name for name, preset in SIZES.items() if preset == dims), None)
    if size is None:
        raise UserError(f"{main} has shape {dims}, which matches no --model-size ({', '.join(SIZES)})")
    fraction = None
    if generator is not None:
        fraction = _hf_config(generator)["hidden_size"] / dims.hidden
    return InitSource(main, generator, vocab, size, fraction)


def vocab_sha256_of(vocab_txt: Path) -> str:
    """sha256 of the tokens in id order, each followed by a newline (the manifest's scheme)."""
    tokens = vocab_txt.read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    return hashlib.sha256("".join(t + "\n" for t in tokens).encode("utf-8")).hexdigest()


def check_vocab(source: InitSource, manifest: Manifest) -> None:
    """Refuse shards tokenized with another vocab than the checkpoint's.

    Raises:
        UserError: Saying how to rebuild the shards with the checkpoint's vocab.
    """
    ours = manifest.raw["tokenizer"].get("vocab_sha256")
    if ours != vocab_sha256_of(source.vocab):
        raise UserError(
            f"the shards in {manifest.root} were tokenized with another vocab than {source.vocab}: "
            f"rebuild them with it: electra-data build --vocab {source.vocab.parent} --out NEW_DIR ..."
        )


def load_init(source: InitSource, cfg: TrainConfig, manifest: Manifest) -> ElectraPair | MaskedLM:
    """Build the run's model from the checkpoint (after ``check_vocab``).

    Raises:
        UserError: If the checkpoint cannot be loaded, has another shape than ``cfg`` asks for,
            or has fewer positions than the data's longest example.
    """
    config = _hf_config(source.main)
    if _dims(config) != cfg.discriminator_dims:
        raise UserError(
            f"--init-from {source.main} is shaped like {source.model_size}, not {cfg.model_size}: "
            f"pass --model-size {source.model_size}"
        )
    if source.generator_size is not None and abs(source.generator_size - cfg.generator_size) > 1e-6:
        raise UserError(
            f"the generator in {source.generator} is {source.generator_size:g} of the "
            f"discriminator's width, not {cfg.generator_size:g}: pass --generator-size "
            f"{source.generator_size:g}"
        )
    if config.get("max_position_embeddings", 0) < manifest.max_seq_length:
        raise UserError(
            f"{source.main} has {config.get('max_position_embeddings')} positions, fewer than the "
            f"data's max_seq_length {manifest.max_seq_length}: rebuild with a shorter --max-seq-length"
        )
    if cfg.objective == "mlm":
        return MaskedLM(_from_pretrained(ElectraForMaskedLM, source.main))
    disc = _from_pretrained(ElectraForPreTraining, source.main)
    if source.generator is not None:
        gen = _from_pretrained(ElectraForMaskedLM, source.generator)
    else:
        gen = ElectraForMaskedLM(_generator_config(disc, cfg.generator_dims))
        copy_embeddings(disc, gen)
    return ElectraPair(disc, gen, cfg.embedding_sharing)


def _from_pretrained(cls, directory: Path):
    try:
        with warnings.catch_warnings():  # torch's note on a pickle's protocol, before refusing it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return cls.from_pretrained(directory)
    except pickle.UnpicklingError as e:
        # torch's own message is 20 lines that end by advising weights_only=False: never that.
        weights = ", ".join(sorted(p.name for p in directory.glob("*.bin"))) or "the weights file"
        raise UserError(
            f"--init-from: {weights} in {directory} is not a safe checkpoint: it holds Python objects, "
            "not only tensors, and loading it could run code; use a model.safetensors checkpoint"
        ) from e
    except (OSError, ValueError, SafetensorError) as e:  # broken or mismatched weight files
        raise UserError(f"cannot start from {directory}: {e}") from e


def _generator_config(disc: ElectraForPreTraining, dims: ModelSize):
    config = copy.deepcopy(disc.config)
    config.hidden_size, config.num_attention_heads = dims.hidden, dims.heads
    config.intermediate_size, config.num_hidden_layers = dims.ffn, dims.layers
    return config
