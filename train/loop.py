"""The training loop: setup, optimizer and schedule, evaluation, then steps until ``max_steps``.

Reads top to bottom in one sitting. Per step: next batch, ELECTRA loss, backward, clip, AdamW,
schedule. Every ``log_every`` steps the averaged metrics go to ``<out>/metrics.jsonl`` and the
progress bar; every ``save_every`` steps (and at the end) a checkpoint, with a validation pass;
at the end the export.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers.utils import logging as hf_logging

from electra_data.errors import UserError
from electra_data.train.checkpoint import save_checkpoint
from electra_data.train.config import TrainConfig
from electra_data.train.data import BatchStream
from electra_data.train.export import export
from electra_data.train.manifest import Manifest, read_manifest
from electra_data.train.model import ElectraPair
from electra_data.train.objective import ElectraOutput, electra_loss

__all__ = ["resolve_device", "build_optimizer", "linear_schedule", "evaluate", "train"]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU.

    Raises:
        UserError: If ``cuda`` is asked for and none is available.
    """
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was given but no CUDA device is available; use --device cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def build_optimizer(pair: ElectraPair, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over both models; biases and LayerNorm weights (all 1-d tensors) get no decay.

    ``pair.named_parameters()`` yields each shared tensor once, so the shared embeddings get one
    optimizer state and one update per step.
    """
    params = dict(pair.named_parameters())
    decay = [p for p in params.values() if p.ndim >= 2]
    no_decay = [p for p in params.values() if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups,
        lr=cfg.learning_rate,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_epsilon,
    )


def linear_schedule(
    optimizer: torch.optim.Optimizer, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup`` steps to the peak, then linear decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup  # the first step already moves the weights
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _mean(rows: list[torch.Tensor]) -> dict[str, float]:
    # Rows of ElectraOutput.stacked(): one transfer per log line, no per-step device sync.
    return dict(zip(ElectraOutput._fields, torch.stack(rows).mean(dim=0).tolist(), strict=True))


@torch.no_grad()
def evaluate(
    pair: ElectraPair, manifest: Manifest, cfg: TrainConfig, objective, device: torch.device
) -> dict[str, float]:
    """Mean validation metrics over ``cfg.eval_batches`` batches, prefixed ``val_``.

    The same batches and masks every time (fixed seed), so values are comparable across steps.
    Returns an empty dict when there is no validation split or ``eval_batches`` is 0.
    """
    if not cfg.eval_batches or not manifest.split("validation"):
        return {}
    stream = BatchStream(manifest, "validation", cfg.batch_size, cfg.seed)
    rng = torch.Generator(device).manual_seed(cfg.seed)
    pair.eval()
    outputs = []
    for _ in range(cfg.eval_batches):
        batch = {k: v.to(device) for k, v in next(stream).items()}
        outputs.append(objective(pair.generator, pair.discriminator, batch, rng=rng).stacked())
    pair.train()
    return {f"val_{name}": value for name, value in _mean(outputs).items()}


def _write(log, record: dict) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()


def train(cfg: TrainConfig) -> dict[str, float]:
    """Pre-train a generator-discriminator pair on a shard directory and export it.

    Args:
        cfg: The resolved training config.

    Returns:
        The final metrics: the last logged training window, validation metrics and ``step``.

    Raises:
        UserError: If the data directory or device is unusable.
    """
    # --- setup ---
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    hf_logging.disable_progress_bar()  # one progress bar: ours (save_pretrained draws its own)
    manifest = read_manifest(cfg.data_dir)
    stream = BatchStream(manifest, "train", cfg.batch_size, cfg.seed)
    special = manifest.special_tokens
    pair = ElectraPair.build(
        cfg.discriminator_dims,
        cfg.generator_dims,
        manifest.vocab_size,
        special.pad,
        manifest.max_seq_length,
    ).to(device)
    optimizer = build_optimizer(pair, cfg)
    scheduler = linear_schedule(optimizer, cfg.warmup_steps, cfg.max_steps)
    rng = torch.Generator(device).manual_seed(cfg.seed)
    objective = functools.partial(
        electra_loss,
        special_ids=(special.cls, special.sep, special.mask),
        pad_id=special.pad,
        mask_id=special.mask,
        mask_prob=cfg.mask_prob,
        disc_weight=cfg.disc_weight,
    )
    out: Path = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    resolved = cfg.to_dict()
    (out / "train_config.json").write_text(json.dumps(resolved, indent=2) + "\n", encoding="utf-8")

    # --- loop ---
    pair.train()
    window: list[torch.Tensor] = []
    window_tokens = torch.zeros((), dtype=torch.long, device=device)
    metrics: dict[str, float] = {}
    started = window_start = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, desc=f"electra-{cfg.model_size}", unit="step", dynamic_ncols=True)
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as log:
        for step in range(1, cfg.max_steps + 1):
            batch = {k: v.to(device, non_blocking=True) for k, v in next(stream).items()}
            lr = scheduler.get_last_lr()[0]
            output = objective(pair.generator, pair.discriminator, batch, rng=rng)
            optimizer.zero_grad(set_to_none=True)
            output.loss.backward()
            torch.nn.utils.clip_grad_norm_(pair.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            window.append(output.stacked())
            window_tokens += batch["attention_mask"].sum()
            bar.update()

            if step % cfg.log_every == 0 or step == cfg.max_steps:
                now = time.perf_counter()
                metrics = {"step": step, "lr": lr, **_mean(window)}
                metrics["tokens_per_s"] = window_tokens.item() / (now - window_start)
                metrics["elapsed_s"] = now - started
                _write(log, metrics)
                bar.set_postfix(
                    loss=f"{metrics['loss']:.3f}",
                    disc=f"{metrics['disc_loss']:.4f}",
                    mlm=f"{metrics['mlm_loss']:.3f}",
                    lr=f"{lr:.2e}",
                    tok_s=f"{metrics['tokens_per_s']:,.0f}",
                )
                window, window_start = [], time.perf_counter()
                window_tokens.zero_()

            if (cfg.save_every and step % cfg.save_every == 0) or step == cfg.max_steps:
                validation = evaluate(pair, manifest, cfg, objective, device)
                if validation:
                    _write(log, {"step": step, **validation})
                metrics = {**metrics, **validation}
                save_checkpoint(
                    out / "checkpoints", step, pair, optimizer, scheduler, stream, rng, resolved
                )
                if not window:  # keep evaluation and saving out of the next tokens/s figure
                    window_start = time.perf_counter()
    bar.close()

    # --- export ---
    export(out, pair, manifest, resolved, cfg.max_steps, metrics)
    return metrics
