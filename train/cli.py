"""``electra-train``: pre-train ELECTRA on a shard directory written by ``electra-data build``.

Example::

    electra-train --data shards/wiki --out runs/wiki-tiny --model-size tiny --max-steps 200

Data-parallel on N processes: ``torchrun --nproc-per-node N $(which electra-train) ...``.
"""

from __future__ import annotations

from electra_data import startup

# Started as the electra-train command: a signal while Python still imports what the command
# needs ends it with one line; train() puts the defaults back before its own handling takes over.
startup.guard("electra-train")

import dataclasses  # noqa: E402
import signal  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

import typer  # noqa: E402

from electra_data.argv import OneValueCommand  # noqa: E402
from electra_data.console import fail, interruptible, stop, warn  # noqa: E402
from electra_data.train.config import ATTENTION_INITS, DEVICES, OBJECTIVES, PRECISIONS, SHARING, SIZES, TrainConfig  # noqa: E402
from electra_data.train.interrupt import Interrupted  # noqa: E402
from electra_data.train.rundir import check_out_dir, resume_hint  # noqa: E402

__all__ = ["app", "train"]

app = typer.Typer(add_completion=False, help=__doc__)


@app.command(cls=OneValueCommand)
def train(
    ctx: typer.Context,
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
        typer.Option(help="Generator width / discriminator width [default: --init-from's, else tiny 1, base 1/3, others 1/4]."),
    ] = None,
    embedding_sharing: Annotated[
        str, typer.Option(help=f"{', '.join(SHARING)}: one embeddings module for both, DeBERTaV3's gradient-disentangled, none, or the whole encoder (with --generator-size 1).")
    ] = "tied",
    attention_init: Annotated[
        str | None,
        typer.Option(help=f"{' or '.join(ATTENTION_INITS)}: half the heads of every layer start on the previous or next token "
                          "(a small discriminator then leaves chance in hundreds of steps, not thousands), or BERT's "
                          "[default: local for tiny and mini, else standard]."),
    ] = None,
    init_range: Annotated[
        float | None,
        typer.Option(help="Standard deviation of the random initial weights [default: 0.05 with local attention, else 0.02]."),
    ] = None,
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
    seed: Annotated[int, typer.Option(help="Seed for initialisation, data order and masking (0 to 2**32 - 1).")] = 42,
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
        typer.Option(help="Replace an earlier run in --out (one with its train_config.json), once the new one "
                          "has passed its checks; other files are kept."),
    ] = False,
) -> None:
    """Pre-train an ELECTRA generator and discriminator, then export them for from_pretrained."""
    _refuse_ignored_options(ctx, objective, eval_batches, init_from)
    startup.release()
    # From here a signal stops the run wherever it is (importing torch alone takes seconds) and
    # the command ends with one line naming what is left to --resume from.
    with interruptible() as interruption:
        try:
            # Imported under the handlers: torch and transformers take seconds to load.
            from electra_data.train.evaluate import plateau_warning
            from electra_data.train.init import find_init_source
            from electra_data.train.loop import train as run_training

            try:
                if init_from is not None:  # the checkpoint's shape is the default
                    source = find_init_source(init_from, objective)
                    model_size = model_size or source.model_size
                    generator_size = generator_size or source.generator_size
                cfg = _config(
                    data_dir=data,
                    out_dir=out,
                    objective=objective,
                    model_size=model_size or "small",
                    generator_size=generator_size,
                    embedding_sharing=embedding_sharing,
                    attention_init=attention_init,
                    init_range=init_range,
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
                check_out_dir(out, data, init_from, resume, overwrite)  # before anything is written
                # --overwrite deletes the earlier run only once the setup has passed.
                metrics = run_training(cfg, resume=resume, overwrite=overwrite)
            except ValueError as e:  # UserError included
                fail(str(e))
        except Interrupted as e:  # the loop stopped between two steps, with a checkpoint
            stop(f"{e}; {resume_hint(out)}", e.signum)
        except KeyboardInterrupt:
            if interruption.signal is None:
                raise
            stop(f"interrupted by {signal.Signals(interruption.signal).name}; {resume_hint(out)}",
                 interruption.signal)
    summary = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "step")
    typer.echo(f"exported to {out} after {cfg.max_steps} steps: {summary}")
    if warning := plateau_warning(metrics):
        warn(warning)


# TrainConfig's fields whose option is not the field's name with dashes.
_OPTION_OF = {"data_dir": "--data", "out_dir": "--out"}
_FIELD = re.compile(r"\b(" + "|".join(f.name for f in dataclasses.fields(TrainConfig)) + r")\b")


def _config(**fields) -> TrainConfig:
    """``TrainConfig(**fields)``, its refusals worded in options: it names its fields, being
    Python API too, and a user of the command knows ``--batch-size``, not ``batch_size``."""
    def option(field: re.Match) -> str:
        return _OPTION_OF.get(field[1], "--" + field[1].replace("_", "-"))

    try:
        return TrainConfig(**fields)
    except ValueError as e:
        raise ValueError(_FIELD.sub(option, str(e))) from e


# Options that only one objective uses: given with the other, they would be silently ignored.
_ELECTRA_ONLY = {"generator_size": "--generator-size", "embedding_sharing": "--embedding-sharing",
                 "disc_weight": "--disc-weight"}


def _refuse_ignored_options(ctx: typer.Context, objective: str, eval_batches: int, init_from: Path | None) -> None:
    def given(name: str) -> bool:
        source = ctx.get_parameter_source(name)  # compared by name: recent typer vendors its own click
        return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")

    if objective == "mlm":
        for name, flag in _ELECTRA_ONLY.items():
            if given(name):
                fail(f"{flag} has no effect with --objective mlm (one masked LM, no generator or "
                     f"discriminator): drop it, or train with --objective electra")
    for name in ("attention_init", "init_range"):
        if init_from is not None and given(name):
            fail(f"--{name.replace('_', '-')} has no effect with --init-from (the weights come from the "
                 "checkpoint): drop one of them")
    if eval_batches == 0 and given("eval_every"):
        fail("--eval-every has no effect with --eval-batches 0 (no validation): drop one of them")

