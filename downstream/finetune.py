"""ELECTRA's fine-tuning recipe on one task: an encoder plus a classification (or regression)
head, AdamW with layer-wise learning-rate decay, linear warmup then linear decay, seeded.

Layer-wise decay as in the ELECTRA reference code: the embeddings have depth 0, encoder layer
``i`` depth ``i + 1`` and the task head depth ``layers + 2``; a parameter at depth ``d`` trains
at ``lr * decay ** (layers + 2 - d)``, so the head gets the full rate and lower layers, which
hold the most general features, move least.

Everything random (the head's initial weights, a control's weights, dropout, the order of the
examples) is drawn from the seed, so a run on a CPU repeats exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel
from transformers.utils import logging as hf_logging

from electra_data.downstream.tasks import Split, Task
from electra_data.errors import UserError
from electra_data.train.optim import fused_supported, linear_schedule

__all__ = ["FinetuneConfig", "Encoder", "find_encoder", "layer_depth", "parameter_groups",
           "Encoded", "encode", "finetune", "predictions"]

# Default (learning rate, layer-wise decay) by hidden size. Up to 128 units (tiny) measured on
# rt-polarity and subjectivity for pre-trained encoders and their random-init controls alike:
# 3e-4 with decay 0.8 left every one of them 2.5-7.4 points short of 1e-3 without decay (README,
# "A checkpoint on a CPU"). Above, the ELECTRA paper's for Small, Base and Large.
_DEFAULTS = ((128, 1e-3, 1.0), (256, 3e-4, 0.8), (768, 1e-4, 0.8), (1 << 30, 5e-5, 0.8))
_RUN_FOLDERS = ("discriminator", "mlm")  # what electra-train exports, in order of preference
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
_LAYER = re.compile(r"\bencoder\.layer\.(\d+)\.")


@dataclass(frozen=True)
class FinetuneConfig:
    """The recipe's hyper-parameters; ``learning_rate`` and ``layerwise_lr_decay`` left None take
    the defaults for the encoder's width (``learning_rate_for``, ``layerwise_lr_decay_for``)."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float | None = None
    layerwise_lr_decay: float | None = None
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_seq_length: int = 128

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, "--epochs must be >= 1"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.learning_rate is None or self.learning_rate > 0, "--learning-rate must be > 0"),
            (self.layerwise_lr_decay is None or 0 < self.layerwise_lr_decay <= 1, "--layerwise-lr-decay must be in (0, 1]"),
            (0 <= self.warmup_fraction < 1, "--warmup-fraction must be in [0, 1)"),
            (self.weight_decay >= 0, "--weight-decay must be >= 0"),
            (self.max_grad_norm > 0, "--max-grad-norm must be > 0"),
            (8 <= self.max_seq_length <= 4096, "--max-seq-length must be in [8, 4096]"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(why)

    def learning_rate_for(self, hidden_size: int) -> float:
        """The configured rate, or the default for this width."""
        if self.learning_rate is not None:
            return self.learning_rate
        return next(lr for width, lr, _ in _DEFAULTS if hidden_size <= width)

    def layerwise_lr_decay_for(self, hidden_size: int) -> float:
        """The configured layer-wise decay, or the default for this width."""
        if self.layerwise_lr_decay is not None:
            return self.layerwise_lr_decay
        return next(decay for width, _, decay in _DEFAULTS if hidden_size <= width)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Encoder:
    """A pre-trained encoder on disk: its directory, config and tokenizer, checked loadable."""

    name: str
    directory: Path
    config: object  # a transformers PretrainedConfig
    tokenizer: object  # a transformers tokenizer

    @property
    def layers(self) -> int:
        return int(self.config.num_hidden_layers)

    def shape(self) -> str:
        """``electra 4L/256H`` and the vocab: what a random-init control has to match."""
        c = self.config
        return f"{c.model_type} {c.num_hidden_layers}L/{c.hidden_size}H, vocab {c.vocab_size:,}"

    def control_key(self) -> str:
        """Equal for encoders whose random-init controls would be the same network and input."""
        config = {k: v for k, v in self.config.to_dict().items()
                  if k not in ("architectures", "_name_or_path", "transformers_version", "torch_dtype", "dtype")}
        return json.dumps([config, sorted(self.tokenizer.get_vocab().items())], sort_keys=True, default=str)


def find_encoder(path: Path) -> Encoder:
    """Resolve ``MODEL``: a run directory (its ``discriminator/``, else its ``mlm/``), one of its
    checkpoints (``RUN/checkpoints/step-N``, tokenizer from ``RUN/tokenizer``) or any directory
    that ``from_pretrained`` loads, with its tokenizer. Never reaches a model hub.

    Raises:
        UserError: If the path is not a directory, holds no model config, or the config or the
            tokenizer cannot be loaded.
    """
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"model {path} is not a directory (give a run directory of electra-train "
                        "or a Hugging Face model directory on disk)")
    directory = next((path / f for f in _RUN_FOLDERS if (path / f / "config.json").is_file()), path)
    if not (directory / "config.json").is_file():
        raise UserError(f"model {path} holds no config.json (nor discriminator/ or mlm/ with one)")
    try:
        config = AutoConfig.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot read the model config in {directory}: {e}") from e
    source = _tokenizer_dir(directory)
    why = (f"cannot load the tokenizer of {directory}: it needs vocab.txt or tokenizer.json beside "
           "the model (or, for a checkpoint of electra-train, in its run's tokenizer/)")
    if source is None:
        raise UserError(why)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"{why} ({e})") from e
    if tokenizer.pad_token_id is None:
        raise UserError(f"the tokenizer in {directory} has no padding token")
    if len(tokenizer) > config.vocab_size:
        raise UserError(f"the tokenizer in {directory} has {len(tokenizer):,} entries but the model "
                        f"only {config.vocab_size:,}: they do not belong together")
    return Encoder(str(path), directory, config, tokenizer)


def _tokenizer_dir(directory: Path) -> Path | None:
    """The model's own folder, or for ``RUN/checkpoints/step-N/<network>`` (which holds weights
    only) the run's ``tokenizer/`` (written when the run starts) or, for a run of a version that
    wrote it only at the end, its shards': the first that has tokenizer files."""
    candidates = [directory]
    if directory.parent.parent.name == "checkpoints":
        run = directory.parents[2]
        candidates.append(run / "tokenizer")
        try:
            candidates.append(Path(json.loads((run / "train_config.json").read_text())["data_dir"]) / "tokenizer")
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no readable config: the run's own tokenizer/ is the only other place
    return next((c for c in candidates if any((c / f).is_file() for f in _TOKENIZER_FILES)), None)


def layer_depth(name: str, layers: int) -> int:
    """Depth of a parameter for layer-wise decay: embeddings 0, layer i i+1, head layers+2."""
    if ".embeddings" in name or name.startswith("embeddings") or "embeddings_project" in name:
        return 0
    match = _LAYER.search(name)
    return int(match.group(1)) + 1 if match else layers + 2


def parameter_groups(model: torch.nn.Module, layers: int, lr: float, decay: float,
                     weight_decay: float) -> list[dict]:
    """AdamW groups, one per (depth, decayed or not): biases and LayerNorm (1-d) get no decay."""
    groups: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        groups.setdefault((layer_depth(name, layers), param.ndim >= 2), []).append(param)
    return [
        {"params": params, "lr": lr * decay ** (layers + 2 - depth),
         "weight_decay": weight_decay if decayed else 0.0}
        for (depth, decayed), params in sorted(groups.items())
    ]


@dataclass(frozen=True)
class Encoded:
    """A split tokenized for one encoder: id lists, token type lists, and the labels."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: torch.Tensor


def encode(split: Split, tokenizer, max_seq_length: int, regression: bool) -> Encoded:
    """Tokenize once per encoder (truncating to ``max_seq_length``, pairs cut longest first)."""
    out = tokenizer(list(split.texts), list(split.pairs) if split.pairs else None, truncation=True,
                    max_length=max_seq_length, return_token_type_ids=True)
    dtype = torch.float32 if regression else torch.long
    return Encoded(out["input_ids"], out["token_type_ids"], torch.tensor(split.labels, dtype=dtype))


def _batch(data: Encoded, rows: np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    longest = max(len(data.input_ids[i]) for i in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    types = torch.zeros((len(rows), longest), dtype=torch.long)
    for j, i in enumerate(rows):
        ids[j, : len(data.input_ids[i])] = torch.tensor(data.input_ids[i])
        types[j, : len(data.token_type_ids[i])] = torch.tensor(data.token_type_ids[i])
    lengths = torch.tensor([len(data.input_ids[i]) for i in rows])
    mask = (torch.arange(longest)[None, :] < lengths[:, None]).long()
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _build(encoder: Encoder, task: Task, pretrained: bool, seed: int) -> PreTrainedModel:
    labels = 1 if task.regression else len(task.classes)
    problem = "regression" if task.regression else "single_label_classification"
    torch.manual_seed(seed)  # the head's (or the whole control's) initial weights
    hf_logging.disable_progress_bar()  # one progress bar: ours
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights were newly initialised": the head, as meant
    try:
        if pretrained:
            return AutoModelForSequenceClassification.from_pretrained(
                encoder.directory, num_labels=labels, problem_type=problem, local_files_only=True)
        config = AutoConfig.from_pretrained(encoder.directory, num_labels=labels, problem_type=problem,
                                            local_files_only=True)
        return AutoModelForSequenceClassification.from_config(config)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise UserError(f"cannot load a sequence classifier from {encoder.directory}: {e}") from e
    finally:
        hf_logging.set_verbosity(verbosity)


@torch.no_grad()
def _predict(model: PreTrainedModel, data: Encoded, batch_size: int, pad_id: int) -> torch.Tensor:
    model.eval()
    order = np.argsort([len(ids) for ids in data.input_ids], kind="stable")  # less padding
    outputs = torch.empty((len(order), model.config.num_labels))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        outputs[torch.from_numpy(rows)] = model(**_batch(data, rows, pad_id)).logits.float()
    return outputs


def predictions(outputs: torch.Tensor, regression: bool) -> torch.Tensor:
    """Class ids (argmax) or values from the model's test outputs."""
    return outputs.squeeze(-1) if regression else outputs.argmax(dim=-1)


def finetune(
    encoder: Encoder,
    task: Task,
    train: Encoded,
    test: Encoded,
    cfg: FinetuneConfig,
    seed: int,
    pretrained: bool = True,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Fine-tune one encoder (or its random-init control) on ``train``; predict ``test``.

    Args:
        encoder: The encoder on disk.
        task: The task (for the number of classes).
        train: The encoded training split.
        test: The encoded test split.
        cfg: The recipe.
        seed: Seeds the head, a control's weights, dropout and the example order.
        pretrained: ``False`` trains the same network from random weights.
        progress: Called with 1 after each optimizer step.

    Returns:
        The model's outputs on the test split, ``(examples, classes)`` (1 for regression), in its
        order: ``predictions`` turns them into class ids or values.
    """
    model = _build(encoder, task, pretrained, seed)
    pad_id = encoder.tokenizer.pad_token_id
    steps_per_epoch = -(-len(train.input_ids) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    lr = cfg.learning_rate_for(encoder.config.hidden_size)
    decay = cfg.layerwise_lr_decay_for(encoder.config.hidden_size)
    optimizer = torch.optim.AdamW(
        parameter_groups(model, encoder.layers, lr, decay, cfg.weight_decay),
        betas=(0.9, 0.999), eps=1e-6, fused=fused_supported(model.parameters()))
    scheduler = linear_schedule(optimizer, round(cfg.warmup_fraction * total), total)
    model.train()
    for epoch in range(cfg.epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(train.input_ids))
        for start in range(0, len(order), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            logits = model(**_batch(train, rows, pad_id)).logits
            targets = train.labels[torch.from_numpy(rows)]
            if task.regression:
                loss = F.mse_loss(logits.squeeze(-1).float(), targets)
            else:
                loss = F.cross_entropy(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            if progress:
                progress(1)
    if not torch.isfinite(loss):
        raise UserError(f"fine-tuning {encoder.name} (seed {seed}) diverged: the loss is not finite; "
                        "lower --learning-rate")
    return _predict(model, test, cfg.batch_size * 2, pad_id)
