"""``electra-train``: pre-train ELECTRA on a shard directory written by ``electra-data build``.

Example::

    electra-train --data shards/wiki --out runs/wiki-tiny --model-size tiny --max-steps 200

Data-parallel on N processes: ``torchrun --nproc-per-node N $(which electra-train) ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from electra_data.console import fail, stderr
from electra_data.errors import UserError
from electra_data.train.config import DEVICES, OBJECTIVES, PRECISIONS, SHARING, SIZES, TrainConfig
from electra_data.train.evaluate import plateau_warning
from electra_data.train.export import existing_outputs, remove_outputs
from electra_data.train.init import find_init_source
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
    resume: Annotated[
        bool, typer.Option(help="Continue from the latest checkpoint in --out (same architecture).")
    ] = False,
    objective: Annotated[
        str, typer.Option(help=f"{' or '.join(OBJECTIVES)}: replaced token detection, or a BERT-style MLM of the discriminator's size.")
    ] = "electra",
    model_size: Annotated[
        str | None,
        typer.Option(help=f"Model size preset: {', '.join(SIZES)} [default: --init-from's shape, else small]."),
    ] = None,
    generator_size: Annotated[
        float | None,
        typer.Option(help="Generator width / discriminator width [default: --init-from's, else 1/3 base, 1/4 others]."),
    ] = None,
    embedding_sharing: Annotated[
        str, typer.Option(help=f"{', '.join(SHARING)}: one embeddings module for both, DeBERTaV3's gradient-disentangled, none, or the whole encoder (with --generator-size 1).")
    ] = "tied",
    init_from: Annotated[
        Path | None,
        typer.Option(exists=True, file_okay=False,
                     help="Start from this Hugging Face ELECTRA checkpoint (discriminator dir, or a run dir)."),
    ] = None,
    max_steps: Annotated[int, typer.Option(help="Optimizer steps to run.")] = 1_000_000,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Examples per optimizer step, all processes together [default: tiny 32, small 128, base 256, large 2048]."),
    ] = None,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches accumulated per optimizer step.")] = 1,
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
    keep_checkpoints: Annotated[int, typer.Option(help="Keep the last K checkpoints.")] = 3,
    log_every: Annotated[int, typer.Option(help="Log averaged metrics every N steps.")] = 10,
    eval_every: Annotated[
        int | None, typer.Option(help="Validate every N steps and at the end [default: --save-every; 0: end only].")
    ] = None,
    eval_batches: Annotated[int, typer.Option(help="Validation batches per evaluation (0: none).")] = 10,
    device: Annotated[str, typer.Option(help=f"Device: {', '.join(DEVICES)}.")] = "auto",
    precision: Annotated[
        str, typer.Option(help=f"{', '.join(PRECISIONS)}; auto: bf16 (else fp16) on CUDA, fp32 on CPU.")
    ] = "auto",
    compile: Annotated[bool, typer.Option(help="Compile the networks with torch.compile.")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(help="Replace the outputs of an earlier run in --out (other files are kept)."),
    ] = False,
) -> None:
    """Pre-train an ELECTRA generator and discriminator, then export them for from_pretrained."""
    try:
        if init_from is not None:  # the checkpoint's shape is the default
            source = find_init_source(init_from, objective)
            model_size = model_size or source.model_size
            generator_size = generator_size or source.generator_size
        cfg = TrainConfig(
            data_dir=data,
            out_dir=out,
            objective=objective,
            model_size=model_size or "small",
            generator_size=generator_size,
            embedding_sharing=embedding_sharing,
            init_from=init_from,
            max_steps=max_steps,
            batch_size=batch_size,
            grad_accum=grad_accum,
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
            keep_checkpoints=keep_checkpoints,
            log_every=log_every,
            eval_every=eval_every,
            eval_batches=eval_batches,
            device=device,
            precision=precision,
            compile=compile,
        )
    except ValueError as e:  # UserError included
        fail(str(e))
    if resume and overwrite:
        fail("--resume continues the run in --out and --overwrite deletes it: pass one of them")
    earlier = existing_outputs(out)
    if earlier and not overwrite and not resume:
        fail(
            f"{out} already holds a run ({', '.join(earlier)}); pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    if earlier and overwrite:
        remove_outputs(out)
    try:
        metrics = run_training(cfg, resume=resume)
    except UserError as e:
        fail(str(e))
    summary = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "step")
    typer.echo(f"exported to {out} after {cfg.max_steps} steps: {summary}")
    if warning := plateau_warning(metrics):
        stderr.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
