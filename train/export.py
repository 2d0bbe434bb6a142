"""The run's deliverable: Hugging Face model directories, the tokenizer and a model card.

``<out>/discriminator/`` and ``<out>/generator/`` (``<out>/mlm/`` for ``--objective mlm``) load
with ``from_pretrained`` (and each holds a copy of the tokenizer files, so
``AutoTokenizer.from_pretrained`` works on any); ``<out>/tokenizer/``, the shard directory's
tokenizer as trained on, is written when the run starts (``loop``). ``rundir.RUN_OUTPUTS`` lists these and the run's other files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from electra_data.train.evaluate import plateau_warning
from electra_data.train.manifest import Manifest
from electra_data.train.model import ElectraPair, MaskedLM, save_networks

__all__ = ["export", "model_card"]


def model_card(manifest: Manifest, config: dict, step: int, metrics: dict[str, float]) -> str:
    """A short README: the data, the resolved config, the steps and the final metrics."""
    raw = manifest.raw
    splits = "\n".join(
        f"| {name} | {sum(s.examples for s in shards):,} | {sum(s.tokens for s in shards):,} |"
        for name in ("train", "validation")
        if (shards := manifest.split(name))
    )
    rows = "\n".join(f"| {k} | {v:.4g} |" for k, v in metrics.items() if k != "step")
    if config["objective"] == "mlm":
        title, what, folder, cls = "MLM", "A BERT-style masked LM", "mlm", "ElectraForMaskedLM"
    else:
        title, what, folder, cls = "ELECTRA", "Generator and discriminator", "discriminator", "ElectraForPreTraining"
    sharing = "" if config["objective"] == "mlm" else f", embeddings shared: {config['embedding_sharing']}"
    start = f", starting from `{config['init_from']}`" if config.get("init_from") else ""
    warning = plateau_warning(metrics)
    warning = f"\n**Warning**: {warning}.\n" if warning else ""
    return f"""# {title}-{config['model_size']} pre-trained with electra-data

{what} trained for {step:,} steps{sharing}{start}.
{warning}
```python
from transformers import AutoTokenizer, {cls}
tokenizer = AutoTokenizer.from_pretrained("{folder}")
model = {cls}.from_pretrained("{folder}")
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
    model: ElectraPair | MaskedLM,
    manifest: Manifest,
    config: dict,
    step: int,
    metrics: dict[str, float],
) -> None:
    """Write the models (each with the tokenizer's files) and the model card into ``out_dir``.

    Args:
        out_dir: The run's output directory.
        model: The trained model.
        manifest: The training data's manifest (for the tokenizer and the card).
        config: The resolved training config.
        step: Optimizer steps taken.
        metrics: Final metrics for the card.
    """
    for name in model.networks():
        # Tokenizer first, so the model's own config.json is the one that stays.
        shutil.copytree(manifest.tokenizer_dir, out_dir / name, dirs_exist_ok=True)
    save_networks(model, out_dir, deltas=False)
    card = model_card(manifest, config, step, metrics)
    (out_dir / "README.md").write_text(card, encoding="utf-8")
