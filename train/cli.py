"""``electra-train``: pre-train ELECTRA on a shard directory written by ``electra-data build``.

Example::

    electra-train --data shards/wiki --out runs/wiki-tiny --model-size tiny --max-steps 200
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from electra_data.console import fail
from electra_data.errors import UserError
from electra_data.train.config import DEVICES, SIZES, TrainConfig
from electra_data.train.export import existing_outputs, remove_outputs
from electra_data.train.loop import train as run_training

__all__ = ["app", "train"]

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def train(
    data: Annotated[
        Path,
        typer.Option(exists=True, file_okay=False, help="Shard directory written by `electra-data build`."),
    ],
    out: Annotated[
        Path, typer.Option(file_okay=False, help="Run directory: metrics, checkpoints, export.")
    ],
    model_size: Annotated[str, typer.Option(help=f"Model size preset: {', '.join(SIZES)}.")] = "small",
    generator_size: Annotated[
        float | None,
        typer.Option(help="Generator width / discriminator width [default: 1/3 base, else 1/4]."),
    ] = None,
    max_steps: Annotated[int, typer.Option(help="Optimizer steps to run.")] = 1_000_000,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Examples per step [default: tiny 32, small 128, base 256, large 2048]."),
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(help="Peak learning rate [default: 5e-4 tiny/small, 2e-4 base/large]."),
    ] = None,
    warmup_steps: Annotated[
        int | None, typer.Option(help="Linear warmup steps [default: min(10000, max_steps // 10)].")
    ] = None,
    weight_decay: Annotated[
        float, typer.Option(help="AdamW weight decay (not on biases/LayerNorm).")
    ] = 0.01,
    adam_epsilon: Annotated[float, typer.Option(help="AdamW epsilon.")] = 1e-6,
    adam_beta1: Annotated[float, typer.Option(help="AdamW beta1.")] = 0.9,
    adam_beta2: Annotated[float, typer.Option(help="AdamW beta2.")] = 0.999,
    max_grad_norm: Annotated[float, typer.Option(help="Gradient clipping norm.")] = 1.0,
    mask_prob: Annotated[
        float | None, typer.Option(help="Fraction of tokens masked [default: 0.15, large 0.25].")
    ] = None,
    disc_weight: Annotated[float, typer.Option(help="Weight of the discriminator loss.")] = 50.0,
    seed: Annotated[int, typer.Option(help="Seed for initialisation, data order and masking.")] = 42,
    save_every: Annotated[
        int, typer.Option(help="Checkpoint every N steps (0: only at the end).")
    ] = 10_000,
    log_every: Annotated[int, typer.Option(help="Log averaged metrics every N steps.")] = 10,
    eval_batches: Annotated[int, typer.Option(help="Validation batches per checkpoint (0: none).")] = 10,
    device: Annotated[str, typer.Option(help=f"Device: {', '.join(DEVICES)}.")] = "auto",
    overwrite: Annotated[
        bool,
        typer.Option(help="Replace the outputs of an earlier run in --out (other files are kept)."),
    ] = False,
) -> None:
    """Pre-train an ELECTRA generator and discriminator, then export them for from_pretrained."""
    try:
        cfg = TrainConfig(
            data_dir=data,
            out_dir=out,
            model_size=model_size,
            generator_size=generator_size,
            max_steps=max_steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            warmup_steps=warmup_steps,
            weight_decay=weight_decay,
            adam_epsilon=adam_epsilon,
            adam_beta1=adam_beta1,
            adam_beta2=adam_beta2,
            max_grad_norm=max_grad_norm,
            mask_prob=mask_prob,
            disc_weight=disc_weight,
            seed=seed,
            save_every=save_every,
            log_every=log_every,
            eval_batches=eval_batches,
            device=device,
        )
    except ValueError as e:
        fail(str(e))
    earlier = existing_outputs(out)
    if earlier and not overwrite:
        fail(
            f"{out} already holds a run ({', '.join(earlier)}); pass --overwrite or choose another --out"
        )
    if earlier:
        remove_outputs(out)
    try:
        metrics = run_training(cfg)
    except UserError as e:
        fail(str(e))
    summary = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "step")
    typer.echo(f"exported to {out} after {cfg.max_steps} steps: {summary}")
