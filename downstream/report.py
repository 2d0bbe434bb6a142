"""Results of an ``electra-eval`` run: per model and seed, their means and spreads, as JSON, a
Markdown table and a bar chart, each written atomically into the output directory."""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["OUTPUTS", "Entry", "summary", "results_json", "markdown_table", "write_outputs"]

OUTPUTS = ("results.json", "results.md", "results.png")
_PERCENT = {"accuracy", "macro_f1"}  # shown as percentages; correlations stay in [-1, 1]
_LABELS = {"accuracy": "accuracy", "macro_f1": "macro-F1", "matthews": "Matthews",
           "pearson": "Pearson", "spearman": "Spearman"}


@dataclass
class Entry:
    """One row of the results: a pre-trained encoder, a random-init control or the baseline.

    Attributes:
        name: What the table calls it (the MODEL argument for an encoder).
        kind: ``pretrained``, ``random_init`` or ``bag_of_words``.
        model: The directory the weights (or the control's shape) came from.
        learning_rate: The peak rate it was fine-tuned at (None for the baseline).
        layerwise_lr_decay: Its layer-wise decay (None for the baseline).
        runs: ``{"seed": s, <metric>: value, ..., "seconds": t}`` per seed.
    """

    name: str
    kind: str
    model: str | None = None
    learning_rate: float | None = None
    layerwise_lr_decay: float | None = None
    runs: list[dict] = field(default_factory=list)


def summary(entry: Entry, metrics: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (0 for one run) of each metric over the seeds."""
    out = {}
    for name in metrics:
        values = [run[name] for run in entry.runs]
        out[name] = {"mean": statistics.fmean(values),
                     "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def results_json(task: dict, config: dict, entries: list[Entry], metrics: tuple[str, ...]) -> dict:
    """The whole record: the task, the exact config, and every entry with its runs and summary."""
    return {
        "task": task,
        "config": config,
        "metrics": list(metrics),
        "models": [{**asdict(e), "summary": summary(e, metrics)} for e in entries],
    }


def _cell(name: str, mean: float, std: float, runs: int) -> str:
    if name in _PERCENT:
        value, spread = f"{100 * mean:.1f}", f"{100 * std:.1f}"
    else:
        value, spread = f"{mean:.3f}", f"{std:.3f}"
    return value if runs < 2 else f"{value} ± {spread}"


def markdown_table(results: dict) -> str:
    """A Markdown table: one row per entry, ``mean ± std`` over seeds for each metric."""
    metrics = results["metrics"]
    head = ["model", "kind", *(_LABELS[m] for m in metrics), "runs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in results["models"]:
        runs = len(model["runs"])
        cells = [_cell(m, model["summary"][m]["mean"], model["summary"][m]["std"], runs) for m in metrics]
        name = model["name"].replace("|", "\\|")
        lines.append("| " + " | ".join([name, model["kind"].replace("_", " "), *cells, str(runs)]) + " |")
    task = results["task"]
    caption = (f"{task['kind']} on `{task['test']}` ({task['test_examples']:,} test examples), fine-tuned "
               f"on `{task['train']}` ({task['train_examples']:,} examples); mean ± std over seeds "
               f"{', '.join(map(str, results['config']['seeds']))}.")
    return caption + "\n\n" + "\n".join(lines) + "\n"


def _chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    primary = results["metrics"][0]
    models = results["models"]
    means = [m["summary"][primary]["mean"] for m in models]
    stds = [m["summary"][primary]["std"] for m in models]
    colours = {"pretrained": "tab:blue", "random_init": "tab:gray", "bag_of_words": "tab:orange"}
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(models) + 1.5))
    ax.barh(range(len(models)), means, xerr=stds, capsize=4,
            color=[colours[m["kind"]] for m in models])
    ax.set_yticks(range(len(models)), [m["name"] for m in models])
    ax.invert_yaxis()
    ax.set_xlabel(f"{_LABELS[primary]} on {Path(results['task']['test']).name} (mean ± std over seeds)")
    low = min(mean - std for mean, std in zip(means, stds))
    ax.set_xlim(max(0.0, math.floor(10 * low) / 10 - 0.1) if primary in _PERCENT else None, None)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_outputs(out_dir: Path, results: dict) -> str:
    """Write ``results.json``, ``results.md`` and ``results.png``; return the Markdown table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = markdown_table(results)
    _atomic(out_dir / "results.json",
            lambda p: p.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8"))
    _atomic(out_dir / "results.md", lambda p: p.write_text(table, encoding="utf-8"))
    _atomic(out_dir / "results.png", lambda p: _chart(results, p))
    return table
