"""``electra-eval``: fine-tune pre-trained checkpoints on labelled data and score them against the
same network with random weights and a bag-of-words baseline.

Example::

    electra-eval runs/wiki-mini runs/wiki-mini-mlm --train sample_data/labelled/polarity/train.tsv.gz \\
        --test sample_data/labelled/polarity/test.tsv.gz --out evals/polarity
"""

from __future__ import annotations

from electra_data import startup

startup.guard("electra-eval")  # before torch and transformers load: a Ctrl-C meanwhile is one line

import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Optional  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from tqdm import tqdm  # noqa: E402

from electra_data.argv import OneValueCommand  # noqa: E402
from electra_data.console import fail, stop  # noqa: E402
from electra_data.downstream.finetune import (  # noqa: E402
    Encoder, FinetuneConfig, encode, find_encoder, finetune, predictions,
)
from electra_data.downstream.report import OUTPUTS, Entry, results_json, write_outputs  # noqa: E402
from electra_data.downstream.scores import bag_of_words, metric_names, score  # noqa: E402
from electra_data.downstream.tasks import TASK_KINDS, Task, load_task  # noqa: E402
from electra_data.errors import UserError  # noqa: E402

__all__ = ["app", "compare"]

app = typer.Typer(add_completion=False, help=__doc__)
_TRAIN_SIZE_SEED = 0  # the --train-size subset is the same for every seed and model


def _check_writable(out: Path) -> None:
    """Refuse an --out that cannot be written before hours of fine-tuning, creating nothing."""
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--out {out} cannot be written ({existing} is not a writable directory)")


def _runs(encoder: Encoder, task: Task, cfg: FinetuneConfig, seeds: list[int], pretrained: bool,
          entry: Entry, bar: tqdm) -> None:
    train = encode(task.train, encoder.tokenizer, cfg.max_seq_length, task.regression)
    test = encode(task.test, encoder.tokenizer, cfg.max_seq_length, task.regression)
    for seed in seeds:
        bar.set_description(f"{entry.name} seed {seed}")
        start = time.perf_counter()
        outputs = finetune(encoder, task, train, test, cfg, seed, pretrained, progress=bar.update)
        predicted = predictions(outputs, task.regression).numpy()
        entry.runs.append({"seed": seed, **score(task, predicted, test.labels.numpy()),
                           "seconds": round(time.perf_counter() - start, 1)})
        # one line per fine-tuning run: a log file sees progress too (a terminal: above the bar)
        first = metric_names(task)[0]
        bar.write(f"{entry.name} seed {seed}: {first} {entry.runs[-1][first]:.4f} ({entry.runs[-1]['seconds']:.0f} s)",
                  file=sys.stderr)


def compare(models: list[Path], task: Task, cfg: FinetuneConfig, seeds: list[int],
             control: bool = True, baseline: bool = True) -> list[Entry]:
    """Every model, each random-init control (one per distinct network and vocab) and the
    baseline, fine-tuned and scored on ``task`` for each seed.

    Raises:
        UserError: If a model cannot be loaded (checked for all before any training).
    """
    encoders = [find_encoder(path) for path in models]
    def entry(name: str, kind: str, e: Encoder) -> Entry:  # with the rates this width trains at
        width = e.config.hidden_size
        return Entry(name, kind, str(e.directory), cfg.learning_rate_for(width), cfg.layerwise_lr_decay_for(width))

    jobs = [(e, True, entry(e.name, "pretrained", e)) for e in encoders]
    if control:
        controls: dict[str, Encoder] = {}
        for e in encoders:
            controls.setdefault(e.control_key(), e)
        jobs += [(e, False, entry(f"random init ({e.shape()})", "random_init", e)) for e in controls.values()]
    steps = -(-len(task.train) // cfg.batch_size) * cfg.epochs * len(seeds) * len(jobs)
    # disable=None: a bar on a terminal, nothing in a log file
    with tqdm(total=steps, unit="step", dynamic_ncols=True, disable=None) as bar:
        for encoder, pretrained, entry in jobs:
            _runs(encoder, task, cfg, seeds, pretrained, entry, bar)
    entries = [entry for _, _, entry in jobs]
    if baseline:
        start = time.perf_counter()
        name, predicted = bag_of_words(task)
        runs = {**score(task, predicted, task.test.labels), "seconds": round(time.perf_counter() - start, 1)}
        entries.append(Entry(name, "bag_of_words", runs=[{"seed": None, **runs}]))
    return entries


@app.command(cls=OneValueCommand)
def main(
    models: Annotated[list[Path], typer.Argument(
        help="Run directories of electra-train (their discriminator/, or mlm/), their checkpoints "
             "(RUN/checkpoints/step-N) or Hugging Face model directories on disk with their tokenizer.",
        show_default=False)],
    train: Annotated[Path, typer.Option(help="Training file: .tsv, .csv, .jsonl or .parquet (optionally .gz), with a header.")],
    test: Annotated[Path, typer.Option(help="Test file, same format.")],
    out: Annotated[Path, typer.Option(file_okay=False, help="Directory for results.json, results.md and results.png.")],
    text_column: Annotated[str, typer.Option(help="Column of the text.")] = "text",
    text_pair_column: Annotated[Optional[str], typer.Option(help="Column of the second text of a sentence pair.")] = None,
    label_column: Annotated[str, typer.Option(help="Column of the label.")] = "label",
    task_kind: Annotated[str, typer.Option("--task", help=f"{', '.join(TASK_KINDS)}: auto makes float labels a regression.")] = "auto",
    seeds: Annotated[int, typer.Option(help="Fine-tuning runs per model, seeds 0..N-1.")] = 3,
    epochs: Annotated[int, typer.Option(help="Passes over the training data.")] = 3,
    train_size: Annotated[Optional[int], typer.Option(help="Fine-tune on this many training examples (a fixed random subset).")] = None,
    max_seq_length: Annotated[int, typer.Option(help="Truncate examples to this many tokens.")] = 128,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = 32,
    learning_rate: Annotated[Optional[float], typer.Option(help="Peak learning rate [default: by width: 1e-3 up to 128 hidden units (measured), then the ELECTRA paper's: 3e-4 up to 256, 1e-4 up to 768, else 5e-5].")] = None,
    layerwise_lr_decay: Annotated[Optional[float], typer.Option(help="Each layer down trains at this times the rate of the one above [default: 1.0 (none) up to 128 hidden units (measured), else the paper's 0.8].")] = None,
    warmup_fraction: Annotated[float, typer.Option(help="Share of the steps with a linear warmup.")] = 0.1,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay (not on biases and LayerNorm).")] = 0.01,
    control: Annotated[bool, typer.Option(help="Also fine-tune the same network with random weights.")] = True,
    baseline: Annotated[bool, typer.Option(help="Also score a bag-of-words linear model.")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace the results of an earlier electra-eval in --out.")] = False,
) -> None:
    """Fine-tune each MODEL on --train, score it on --test, and compare with controls."""
    startup.release()  # from here a Ctrl-C stops the fine-tuning (KeyboardInterrupt below)
    try:
        cfg = FinetuneConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                             layerwise_lr_decay=layerwise_lr_decay, warmup_fraction=warmup_fraction,
                             weight_decay=weight_decay, max_seq_length=max_seq_length)
        if task_kind not in TASK_KINDS:
            raise UserError(f"--task must be one of {', '.join(TASK_KINDS)}, got {task_kind!r}")
        if seeds < 1:
            raise UserError("--seeds must be >= 1")
        if train_size is not None and train_size < 2:
            raise UserError("--train-size must be >= 2")
        _check_writable(out)
        earlier = [name for name in OUTPUTS if (out / name).exists()]
        if earlier and not overwrite:
            raise UserError(f"{out} already holds results ({', '.join(earlier)}); pass --overwrite "
                            "to replace them or choose another --out")
        task = load_task(train, test, text_column=text_column, pair_column=text_pair_column,
                         label_column=label_column, kind=task_kind)
        full_train = len(task.train)
        if train_size is not None:
            task = Task(task.train.subset(train_size, _TRAIN_SIZE_SEED), task.test, task.classes)
        seed_list = list(range(seeds))
        entries = compare(models, task, cfg, seed_list, control, baseline)
        record = results_json(
            task={"train": str(train), "test": str(test), "kind": "regression" if task.regression
                  else "classification", "classes": list(task.classes), "train_examples": len(task.train),
                  "train_examples_in_file": full_train, "test_examples": len(task.test),
                  "text_column": text_column, "text_pair_column": text_pair_column,
                  "label_column": label_column},
            config={**cfg.to_dict(), "seeds": seed_list, "train_size": train_size,
                    "models": [str(m) for m in models]},
            entries=entries,
            metrics=metric_names(task),
        )
        table = write_outputs(out, record)
    except ValueError as e:  # UserError included
        fail(str(e))
    except OSError as e:
        fail(f"cannot write the results to {out}: {e.strerror or e}")
    except KeyboardInterrupt:  # results are written whole at the end, or not at all
        stop("interrupted: no results written", signal.SIGINT)
    Console().print(table, markup=False, highlight=False)
    typer.echo(f"results in {out}/: {', '.join(OUTPUTS)}")
