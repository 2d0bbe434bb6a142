"""The run's deliverable: Hugging Face model directories, the tokenizer and a model card.

``<out>/discriminator/`` and ``<out>/generator/`` load with ``from_pretrained`` (and each holds a
copy of the tokenizer files, so ``AutoTokenizer.from_pretrained`` works on either), and
``<out>/tokenizer/`` is the shard directory's tokenizer as trained on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from electra_data.train.manifest import Manifest
from electra_data.train.model import ElectraPair

__all__ = ["RUN_OUTPUTS", "existing_outputs", "remove_outputs", "export", "model_card"]

# Everything a run writes into its output directory; nothing else there is ever touched.
RUN_OUTPUTS = (
    "discriminator",
    "generator",
    "tokenizer",
    "checkpoints",
    "metrics.jsonl",
    "train_config.json",
    "README.md",
)


def existing_outputs(out_dir: Path) -> list[str]:
    """Names in ``out_dir`` that an earlier run wrote (and a new run would overwrite)."""
    return [name for name in RUN_OUTPUTS if (out_dir / name).exists()]


def remove_outputs(out_dir: Path) -> None:
    """Delete what an earlier run wrote into ``out_dir``, leaving any other files alone."""
    for name in existing_outputs(out_dir):
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def model_card(manifest: Manifest, config: dict, step: int, metrics: dict[str, float]) -> str:
    """A short README: the data, the resolved config, the steps and the final metrics."""
    raw = manifest.raw
    splits = "\n".join(
        f"| {name} | {sum(s.examples for s in shards):,} | {sum(s.tokens for s in shards):,} |"
        for name in ("train", "validation")
        if (shards := manifest.split(name))
    )
    rows = "\n".join(f"| {k} | {v:.4g} |" for k, v in metrics.items() if k != "step")
    return f"""# ELECTRA-{config['model_size']} pre-trained with electra-data

Generator and discriminator trained for {step:,} steps with replaced token detection.

```python
from transformers import AutoTokenizer, ElectraForPreTraining
tokenizer = AutoTokenizer.from_pretrained("discriminator")
model = ElectraForPreTraining.from_pretrained("discriminator")
```

## Data

`{manifest.root}` (electra-data {raw.get('tool_version', '?')}, format {raw['format_version']}):
vocabulary {manifest.vocab_size:,} (lowercase: {raw['tokenizer'].get('lowercase', '?')}),
max sequence length {manifest.max_seq_length}.

| split | examples | tokens |
|---|---|---|
{splits}

## Final metrics

| metric | value |
|---|---|
{rows}

## Config

```json
{json.dumps(config, indent=2)}
```
"""


def export(
    out_dir: Path,
    pair: ElectraPair,
    manifest: Manifest,
    config: dict,
    step: int,
    metrics: dict[str, float],
) -> None:
    """Write the models, tokenizer and model card into ``out_dir``.

    Args:
        out_dir: The run's output directory.
        pair: The trained models.
        manifest: The training data's manifest (for the tokenizer and the card).
        config: The resolved training config.
        step: Optimizer steps taken.
        metrics: Final metrics for the card.
    """
    shutil.copytree(manifest.tokenizer_dir, out_dir / "tokenizer", dirs_exist_ok=True)
    for name, model in (("discriminator", pair.discriminator), ("generator", pair.generator)):
        # Tokenizer first, so the model's own config.json is the one that stays.
        shutil.copytree(manifest.tokenizer_dir, out_dir / name, dirs_exist_ok=True)
        model.save_pretrained(out_dir / name)
    card = model_card(manifest, config, step, metrics)
    (out_dir / "README.md").write_text(card, encoding="utf-8")
