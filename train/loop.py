"""The training loop: setup, then steps until ``max_steps``, then the export.

Reads top to bottom in one sitting. Per step: seed the step's randomness, then for each
accumulated micro-batch the objective (under autocast) and its backward; then unscale, clip,
AdamW, schedule. Every ``log_every`` steps the averaged metrics go to the monitor, every
``eval_every`` a validation pass, every ``save_every`` (and at the end, and when SIGTERM/SIGINT
arrives) a checkpoint. A non-finite loss stops the run before anything is saved from it.

Everything that can refuse the run (data, batch size, memory, ``--init-from``, the checkpoint
to resume) is checked before ``--overwrite`` deletes the earlier run. Whatever stops the run
later (a shard that changed, a full disk, a signal) ends in one message naming the last
complete checkpoint, which stays.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from transformers.utils import logging as hf_logging

from electra_data.errors import UserError
from electra_data.train import distributed
from electra_data.train.checkpoint import TrainState, latest_checkpoint, load_checkpoint, save_checkpoint
from electra_data.train.config import ARCHITECTURE, TrainConfig
from electra_data.train.data import BatchStream, ShardError
from electra_data.train.evaluate import evaluate
from electra_data.train.export import export
from electra_data.train.manifest import Manifest, read_manifest
from electra_data.train.model import ElectraPair, MaskedLM
from electra_data.train.monitor import Monitor
from electra_data.train.objective import electra_loss, mlm_loss
from electra_data.train.device import resolve_device, resolve_precision
from electra_data.train.interrupt import Interrupted, StopSignals
from electra_data.train.memory import check_memory
from electra_data.train.optim import build_optimizer, linear_schedule
from electra_data.train.rundir import RUN_CONFIG, remove_outputs, resume_hint

__all__ = ["RECORD_BATCHES", "build_model", "build_objective", "seed_step", "train"]

# Set to a directory to have each rank append the examples it trains on to rank-<r>.jsonl there:
# how a test checks that ranks read disjoint data.
RECORD_BATCHES = "ELECTRA_TRAIN_RECORD_BATCHES"


def build_model(cfg: TrainConfig, manifest: Manifest, from_init: bool = True) -> ElectraPair | MaskedLM:
    """The run's model: from ``cfg.init_from`` (checked against the data's vocab), or fresh."""
    if cfg.init_from is not None and from_init:
        from electra_data.train.init import check_vocab, find_init_source, load_init

        source = find_init_source(cfg.init_from, cfg.objective)
        check_vocab(source, manifest)
        return load_init(source, cfg, manifest)
    shape = (manifest.vocab_size, manifest.special_tokens.pad, manifest.max_seq_length)
    init = dict(init_range=cfg.init_range, attention_init=cfg.attention_init)
    if cfg.objective == "mlm":
        return MaskedLM.build(cfg.discriminator_dims, *shape, **init)
    return ElectraPair.build(cfg.discriminator_dims, cfg.generator_dims, *shape, sharing=cfg.embedding_sharing, **init)


def build_objective(cfg: TrainConfig, manifest: Manifest):
    """The loss function with everything but the networks, batch and ``rng`` bound."""
    special = manifest.special_tokens
    common = dict(special_ids=(special.cls, special.sep, special.mask), pad_id=special.pad,
                  mask_id=special.mask, mask_prob=cfg.mask_prob)
    if cfg.objective == "mlm":
        return functools.partial(mlm_loss, **common)
    return functools.partial(electra_loss, **common, disc_weight=cfg.disc_weight)


def seed_step(rng: torch.Generator, seed: int, step: int, rank: int) -> None:
    """Seed masking, sampling (``rng``) and dropout (torch's global generator) for one step.

    Randomness as a pure function of ``(seed, step, rank)`` makes a resumed run draw what an
    uninterrupted one would, on any number of ranks, with no generator state to save.
    """
    value = int(np.random.SeedSequence([seed, step, rank]).generate_state(1, np.uint64)[0] >> 1)
    rng.manual_seed(value)
    torch.manual_seed(value)


def _record(directory: Path, rank: int, step: int, batch: dict[str, torch.Tensor]) -> None:
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    rows = [ids[:n] for ids, n in zip(batch["input_ids"].tolist(), lengths)]
    with open(directory / f"rank-{rank}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": step, "rows": rows}) + "\n")


def _first_bad_step(window: list[torch.Tensor], first_step: int, per_step: int) -> int | None:
    finite = torch.isfinite(torch.stack(window)[:, 0]).tolist()  # column 0 is the loss
    return None if all(finite) else first_step + finite.index(False) // per_step


def train(cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> dict[str, float]:
    """Pre-train on a shard directory and export the result (on rank 0 under ``torchrun``).

    Args:
        cfg: The resolved training config.
        resume: Continue from the latest checkpoint in ``cfg.out_dir``.
        overwrite: Delete an earlier run's outputs in ``cfg.out_dir`` (``rundir.check_out_dir``
            must have recognised it as a run directory), once the setup has succeeded.

    Returns:
        The final metrics: the last logged training window, validation metrics and ``step``.

    Raises:
        UserError: If the data, device, batch size, checkpoint or ``--init-from`` is unusable,
            the loss stops being finite, a shard cannot be read, or a file cannot be written.
        Interrupted: If a signal stopped the run (after saving a checkpoint, if it came
            between two steps).
    """
    device = resolve_device(cfg.device)
    ddp = distributed.setup(device)
    try:
        return _train(cfg, resume, overwrite, device, ddp)
    except ShardError as e:  # a shard changed or vanished while the run went on
        raise UserError(f"{e}; {resume_hint(cfg.out_dir)}") from e
    except torch.OutOfMemoryError as e:  # what check_memory's estimate did not foresee
        raise UserError(
            f"{device} ran out of memory with --batch-size {cfg.batch_size} and --grad-accum {cfg.grad_accum}: "
            f"lower the one or raise the other; {resume_hint(cfg.out_dir)}"
        ) from e
    except OSError as e:  # a full disk, a file removed or made read-only under the run
        where = f": {e.filename}" if e.filename else ""
        raise UserError(f"training stopped: {e.strerror or e}{where}; {resume_hint(cfg.out_dir)}") from e
    finally:
        distributed.teardown(ddp)


def _train(
    cfg: TrainConfig, resume: bool, overwrite: bool, device: torch.device, ddp: distributed.Distributed
) -> dict:
    # --- setup ---
    if device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
    if cfg.batch_size % (cfg.grad_accum * ddp.world_size):
        raise UserError(f"--batch-size {cfg.batch_size} must be divisible by --grad-accum "
                        f"{cfg.grad_accum} x {ddp.world_size} processes")
    torch.manual_seed(cfg.seed)  # initial weights
    hf_logging.disable_progress_bar()  # one progress bar: ours (save_pretrained draws its own)
    manifest = read_manifest(cfg.data_dir)
    micro_batch = cfg.batch_size // (cfg.grad_accum * ddp.world_size)
    stream = BatchStream(manifest, "train", micro_batch, cfg.seed, ddp.rank, ddp.world_size)
    if cfg.batch_size > stream.examples:  # every batch would hold some examples twice
        fits = stream.examples // (cfg.grad_accum * ddp.world_size) * cfg.grad_accum * ddp.world_size
        raise UserError(
            f"--batch-size {cfg.batch_size} is larger than the training split of {cfg.data_dir} "
            f"({stream.examples} examples): use --batch-size {fits} or less, or build more data"
        )
    model = build_model(cfg, manifest, from_init=not resume)
    dtype = resolve_precision(cfg.precision, device)
    check_memory(cfg, manifest, sum(p.numel() for p in model.parameters()), device, dtype, ddp.world_size)
    model = model.to(device)
    autocast = functools.partial(torch.autocast, device.type, dtype=dtype, enabled=dtype != torch.float32)
    optimizer = build_optimizer(model, cfg)
    scheduler = linear_schedule(optimizer, cfg.warmup_steps, cfg.max_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    rng = torch.Generator(device)
    state = TrainState(model, optimizer, scheduler, scaler, stream)
    loss = build_objective(cfg, manifest)
    out, resolved, start = cfg.out_dir, cfg.to_dict(), 0
    checkpoints = out / "checkpoints"
    if resume:
        latest = latest_checkpoint(checkpoints)
        if latest is None:
            raise UserError(f"--resume: no checkpoint in {checkpoints}; start without --resume")
        saved = load_checkpoint(latest, state, resolved)
        start = saved["step"]
        # At --max-steps with no model card (the export writes it last), a signal stopped the
        # export: the loop is skipped and the export done again.
        if start > cfg.max_steps or (start == cfg.max_steps and (out / "README.md").exists()):
            raise UserError(f"{latest} is at step {start}, already --max-steps: raise it to go on")
    if cfg.compile:
        for net in model.networks().values():
            net.electra.compile()  # the encoders: the objective calls their parts, not forward
    wrapped = model  # what the loop calls: under torchrun, DDP all-reduces its gradients
    if ddp.world_size > 1:
        wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if ddp.main:
        if overwrite:  # only now: everything above that can refuse the run has passed
            remove_outputs(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / RUN_CONFIG).write_text(json.dumps(resolved, indent=2) + "\n", encoding="utf-8")
        # Now, not at the export: a checkpoint of a run that is still going, or was stopped, is
        # then usable (electra-eval RUN/checkpoints/step-N) wherever --data was relative to.
        shutil.copytree(manifest.tokenizer_dir, out / "tokenizer", dirs_exist_ok=True)
    monitor = Monitor(out, cfg.max_steps, start, f"{cfg.objective}-{cfg.model_size}", enabled=ddp.main)
    if resume:
        changed = [k for k in resolved if k not in ARCHITECTURE and saved["config"].get(k) != resolved[k]]
        monitor.note(f"resuming from {latest}" + "".join(
            f"; {k} was {saved['config'].get(k)}, now {resolved[k]}" for k in changed))

    # --- loop ---
    window: list[torch.Tensor] = []
    window_tokens = torch.zeros((), dtype=torch.long, device=device)
    window_first, metrics = start + 1, {}
    objective = functools.partial(loss, rng=rng)
    record = os.environ.get(RECORD_BATCHES)
    stop = StopSignals()
    window_start = time.perf_counter()
    with stop, monitor:
        for step in range(start + 1, cfg.max_steps + 1):
            seed_step(rng, cfg.seed, step, ddp.rank)
            lr = scheduler.get_last_lr()[0]
            optimizer.zero_grad(set_to_none=True)
            for micro in range(cfg.grad_accum):
                batch = {k: v.to(device, non_blocking=True) for k, v in next(stream).items()}
                if record:
                    _record(Path(record), ddp.rank, step, batch)
                # DDP: all-reduce gradients once per step, after the last micro-batch.
                last = micro == cfg.grad_accum - 1 or ddp.world_size == 1
                with contextlib.nullcontext() if last else wrapped.no_sync():
                    with autocast():
                        output = wrapped(batch, objective)
                    scaler.scale(output.loss / cfg.grad_accum).backward()
                window.append(output.stacked())
                window_tokens += batch["attention_mask"].sum()
            scaler.unscale_(optimizer)  # clip the true gradients, not fp16-scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            monitor.advance()

            stopping = ddp.any(stop.received is not None)
            logging = step % cfg.log_every == 0 or step == cfg.max_steps
            saving = (cfg.save_every and step % cfg.save_every == 0) or step == cfg.max_steps or stopping
            if window and (logging or saving):  # never log or save what a bad loss produced
                bad = _first_bad_step(window, window_first, cfg.grad_accum)
                if ddp.any(bad is not None):
                    last_good = latest_checkpoint(checkpoints)
                    raise UserError(
                        f"the loss is not finite at step {bad or step}: training stopped; the last good "
                        f"checkpoint is {last_good or 'none'}. Lower --learning-rate or check the data")
            if logging:
                means = ddp.mean(torch.stack(window).mean(dim=0)).tolist()
                tokens = ddp.mean(window_tokens.float()).item() * ddp.world_size
                metrics = {"step": step, "lr": lr, **dict(zip(type(output)._fields, means, strict=True)),
                           "tokens_per_s": tokens / (time.perf_counter() - window_start)}
                monitor.write(metrics)
                window, window_first = [], step + 1
                window_tokens.zero_()
            if ddp.main and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.max_steps):
                validation = evaluate(model, manifest, cfg, loss, device, autocast, micro_batch)
                if validation:
                    monitor.write({"step": step, **validation})
                metrics = {**metrics, **validation}
            if saving and ddp.main:
                save_checkpoint(checkpoints, step, state, resolved, cfg.keep_checkpoints)
            if not window:  # evaluation and saving stay out of the next tokens/s figure
                window_start = time.perf_counter()
            if stopping:
                ddp.barrier()  # other ranks must not exit (and make torchrun kill us) mid-save
                who = signal.Signals(stop.received).name if stop.received else "a signal on another rank"
                raise Interrupted(stop.received or signal.SIGTERM, f"stopped by {who} after step {step}")

    # --- export ---
    if ddp.main:
        if not metrics:  # the loop did not run: the export of a finished run is being redone
            metrics = evaluate(model, manifest, cfg, loss, device, autocast, micro_batch)
        export(out, model, manifest, resolved, cfg.max_steps, metrics)
    ddp.barrier()
    return metrics
