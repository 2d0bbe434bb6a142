"""Training configuration: model size presets and the one frozen config a run is built from.

Config flows one way: CLI options -> ``TrainConfig`` (validated and resolved here) -> the loop.
Fields left as ``None`` take the per-size defaults of the ELECTRA paper, resolved in
``__post_init__`` so every consumer (and the JSON written beside the outputs) sees real values.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ModelSize",
    "SIZES",
    "DEVICES",
    "OBJECTIVES",
    "SHARING",
    "PRECISIONS",
    "ATTENTION_INITS",
    "ARCHITECTURE",
    "MAX_SEED",
    "generator_dims_of",
    "TrainConfig",
]


@dataclass(frozen=True)
class ModelSize:
    """Transformer dimensions of one network.

    Attributes:
        layers: Number of transformer layers.
        hidden: Hidden size.
        heads: Attention heads; must divide ``hidden``.
        ffn: Intermediate (feed-forward) size.
        embedding: Embedding size, shared by generator and discriminator.
    """

    layers: int
    hidden: int
    heads: int
    ffn: int
    embedding: int

    def __post_init__(self):
        for name in ("layers", "hidden", "heads", "ffn", "embedding"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden size {self.hidden} is not divisible by {self.heads} heads")


# Discriminator sizes from the ELECTRA paper (Table 6), plus a `tiny` debug preset that makes a
# CPU step take a fraction of a second.
SIZES: dict[str, ModelSize] = {
    "tiny": ModelSize(layers=2, hidden=128, heads=2, ffn=512, embedding=128),
    "mini": ModelSize(layers=4, hidden=256, heads=4, ffn=1024, embedding=128),
    "small": ModelSize(layers=12, hidden=256, heads=4, ffn=1024, embedding=128),
    "base": ModelSize(layers=12, hidden=768, heads=12, ffn=3072, embedding=768),
    "large": ModelSize(layers=24, hidden=1024, heads=16, ffn=4096, embedding=1024),
}
DEVICES = ("auto", "cpu", "cuda")
OBJECTIVES = ("electra", "mlm")
SHARING = ("tied", "gdes", "none", "all")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ATTENTION_INITS = ("local", "standard")
# The fields that decide the shapes and wiring of the saved weights: a resumed run must keep them.
ARCHITECTURE = ("objective", "model_size", "generator_size", "embedding_sharing")
MAX_SEED = 2**32 - 1
_REALS = ("generator_size", "init_range", "learning_rate", "weight_decay", "adam_epsilon", "adam_beta1", "adam_beta2",
          "max_grad_norm", "mask_prob", "disc_weight")

# The CPU presets start from local attention and a larger init range: from the standard init a
# small discriminator sat at chance for thousands of steps (train/local_init.py); the paper's
# sizes keep the paper's initialisation.
_ATTENTION_INIT = {"tiny": "local", "mini": "local", "small": "standard", "base": "standard", "large": "standard"}
_INIT_RANGE = {"local": 0.05, "standard": 0.02}
# The paper's 1/4-1/2 generators were measured on discriminators 2-6x tiny's width; tiny's own, as
# wide as its discriminator, is the one measured best downstream (README: "A checkpoint on a CPU"): at
# half width it stalled at an MLM loss of 5.8 and its discriminator fine-tuned below random weights.
_GENERATOR_FRACTION = {"tiny": 1.0, "mini": 1 / 4, "small": 1 / 4, "base": 1 / 3, "large": 1 / 4}
_BATCH_SIZE = {"tiny": 32, "mini": 32, "small": 128, "base": 256, "large": 2048}
_LEARNING_RATE = {"tiny": 5e-4, "mini": 5e-4, "small": 5e-4, "base": 2e-4, "large": 2e-4}


def generator_dims_of(disc: ModelSize, fraction: float) -> ModelSize:
    """The generator's dimensions: same depth and embedding, width scaled by ``fraction``.

    Args:
        disc: Discriminator dimensions.
        fraction: Generator width relative to the discriminator, in (0, 1].

    Returns:
        The generator's ``ModelSize``.

    Raises:
        ValueError: If the scaled hidden size does not split evenly into the scaled heads.
    """
    return ModelSize(
        layers=disc.layers,
        hidden=max(1, round(disc.hidden * fraction)),
        heads=max(1, round(disc.heads * fraction)),
        ffn=max(1, round(disc.ffn * fraction)),
        embedding=disc.embedding,
    )


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on. ``None`` means "the default for this size".

    Attributes:
        data_dir: Shard directory written by ``electra-data build``.
        out_dir: Where metrics, checkpoints and the exported models go.
        objective: ``electra`` (replaced token detection) or ``mlm`` (a BERT-style masked LM
            of the discriminator's size on the same data, for matched comparisons).
        model_size: One of ``SIZES`` (tiny, mini, small, base, large).
        generator_size: Generator width as a fraction of the discriminator's
            (default 1/3 for base, else 1/4).
        embedding_sharing: ``tied`` (one embeddings module for both networks), ``gdes``
            (DeBERTaV3's gradient-disentangled sharing), ``none``, or ``all`` (one encoder under
            both heads; needs ``generator_size`` 1).
        attention_init: ``local`` (half the heads of every layer start on the previous or next
            token, ``train/local_init.py``; default for tiny and mini) or ``standard``.
        init_range: Standard deviation of the random initial weights (default 0.05 with local
            attention, else 0.02 as in BERT and ELECTRA).
        init_from: Start from this Hugging Face ELECTRA checkpoint (a discriminator directory or
            a run directory holding ``discriminator/`` and maybe ``generator/``).
        max_steps: Optimizer steps to run.
        batch_size: Examples per optimizer step, over all ranks and accumulated micro-batches
            (default 32/128/256/2048 for tiny/small/base/large).
        grad_accum: Micro-batches accumulated per optimizer step; divides ``batch_size``.
        learning_rate: Peak learning rate (default 5e-4 tiny/small, 2e-4 base/large).
        warmup_steps: Linear warmup steps (default ``min(10000, max_steps // 10)``).
        weight_decay: AdamW weight decay, not applied to biases and LayerNorm weights.
        adam_epsilon: AdamW epsilon.
        adam_beta1: AdamW beta1.
        adam_beta2: AdamW beta2.
        max_grad_norm: Gradient clipping norm.
        mask_prob: Fraction of maskable tokens masked (default 0.15, 0.25 for large).
        disc_weight: Weight of the discriminator loss relative to the MLM loss.
        seed: Seed for initialisation, data order and masking.
        save_every: Write a checkpoint every this many steps (0: only at the end).
        keep_checkpoints: How many of the latest checkpoints to keep.
        log_every: Log averaged metrics every this many steps.
        eval_every: Evaluate every this many steps and at the end (default ``save_every``;
            0: only at the end).
        eval_batches: Validation batches per evaluation (0: no evaluation).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        precision: ``auto`` (bf16 on a CUDA device that has it, else fp16 on CUDA, fp32 on CPU),
            ``fp32``, ``bf16`` or ``fp16`` (autocast; fp16 with loss scaling).
        compile: Compile the networks with ``torch.compile``.
    """

    data_dir: Path
    out_dir: Path
    objective: str = "electra"
    model_size: str = "small"
    generator_size: float | None = None
    embedding_sharing: str = "tied"
    attention_init: str | None = None
    init_range: float | None = None
    init_from: Path | None = None
    max_steps: int = 1_000_000
    batch_size: int | None = None
    grad_accum: int = 1
    learning_rate: float | None = None
    warmup_steps: int | None = None
    weight_decay: float = 0.01
    adam_epsilon: float = 1e-6
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    max_grad_norm: float = 1.0
    mask_prob: float | None = None
    disc_weight: float = 50.0
    seed: int = 42
    save_every: int = 10_000
    keep_checkpoints: int = 3
    log_every: int = 10
    eval_every: int | None = None
    eval_batches: int = 10
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False

    def __post_init__(self):
        if self.model_size not in SIZES:
            raise ValueError(
                f"model_size must be one of {', '.join(SIZES)}, got {self.model_size!r}"
            )
        size = self.model_size
        attention_init = self.attention_init or _ATTENTION_INIT[size]
        defaults = {
            "attention_init": attention_init,
            "init_range": _INIT_RANGE.get(attention_init, 0.02),  # an unknown init is refused below
            "generator_size": _GENERATOR_FRACTION[size],
            "batch_size": _BATCH_SIZE[size],
            "learning_rate": _LEARNING_RATE[size],
            "warmup_steps": min(10_000, self.max_steps // 10),
            "mask_prob": 0.25 if size == "large" else 0.15,
            "eval_every": self.save_every,
        }
        # Frozen dataclasses have no setter: resolving defaults is the one sanctioned mutation,
        # done here so no consumer ever sees a None.
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.init_from is not None:
            object.__setattr__(self, "init_from", Path(self.init_from))
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        self._validate()

    def _validate(self) -> None:
        for name in _REALS:  # NaN fails every comparison below with a misleading message; inf passes some
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        checks = [
            (self.objective in OBJECTIVES, f"objective must be one of {', '.join(OBJECTIVES)}"),
            (self.embedding_sharing in SHARING, f"embedding_sharing must be one of {', '.join(SHARING)}"),
            (self.attention_init in ATTENTION_INITS, f"attention_init must be one of {', '.join(ATTENTION_INITS)}"),
            (self.init_range > 0, "init_range must be > 0"),
            (0 < self.generator_size <= 1, "generator_size must be in (0, 1]"),
            (self.embedding_sharing != "all" or self.generator_size == 1,
             "embedding_sharing all ties every weight: it needs generator_size 1"),
            (self.max_steps >= 1, "max_steps must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.grad_accum >= 1, "grad_accum must be >= 1"),
            (
                self.grad_accum < 1 or self.batch_size % self.grad_accum == 0,
                "batch_size must be divisible by grad_accum",
            ),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (0 <= self.warmup_steps <= self.max_steps, "warmup_steps must be in [0, max_steps]"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.adam_epsilon > 0, "adam_epsilon must be > 0"),
            (0 <= self.adam_beta1 < 1 and 0 <= self.adam_beta2 < 1,
             "adam betas (adam_beta1, adam_beta2) must be in [0, 1)"),
            (self.max_grad_norm > 0, "max_grad_norm must be > 0"),
            (0 < self.mask_prob < 1, "mask_prob must be in (0, 1)"),
            (self.disc_weight >= 0, "disc_weight must be >= 0"),
            # 32 bits, like every seed of the toolkit; past 2**64 torch's seeding overflowed mid-setup.
            (0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED} (2**32 - 1), got {self.seed}"),
            (self.save_every >= 0, "save_every must be >= 0 (0 saves only at the end)"),
            (self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1"),
            (self.log_every >= 1, "log_every must be >= 1"),
            (self.eval_every >= 0, "eval_every must be >= 0 (0 evaluates only at the end)"),
            (self.eval_batches >= 0, "eval_batches must be >= 0"),
            (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(why)
        generator_dims_of(self.discriminator_dims, self.generator_size)  # raises if indivisible

    @property
    def discriminator_dims(self) -> ModelSize:
        """The discriminator's dimensions."""
        return SIZES[self.model_size]

    @property
    def generator_dims(self) -> ModelSize:
        """The generator's dimensions."""
        return generator_dims_of(self.discriminator_dims, self.generator_size)

    def to_dict(self) -> dict:
        """The resolved config as JSON- and ``torch.load(weights_only=True)``-safe values."""
        fields = dataclasses.asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in fields.items()}

    def architecture(self) -> dict:
        """The ``ARCHITECTURE`` fields: what a resumed run must share with the saved one."""
        return {name: getattr(self, name) for name in ARCHITECTURE}
