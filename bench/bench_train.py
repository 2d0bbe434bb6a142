"""Trainer step time against a textbook ELECTRA loop, loader throughput and FLOP/s utilisation.

Everything is measured in one run, on the same machine and the same batches:

- ours: ``electra_data.train`` (shared embeddings, generator logits at masked positions only,
  inverse-CDF sampling) one optimizer step = objective + backward + clip + AdamW;
- reference, written the textbook way: the same two transformers models without any sharing,
  ``ElectraForMaskedLM(labels=...)`` (full-vocabulary logits at every position),
  Gumbel-max sampling, ``ElectraForPreTraining(labels=...)``, the same optimizer step;
- the loader alone (``BatchStream``), in batches/s, against the trainer's steps/s;
- achieved model FLOP/s of our step over the peak matmul FLOP/s of a big ``torch.matmul``.

Usage::

    python bench/bench_train.py [--data /tmp/bench-shards] [--sizes tiny small] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from transformers import ElectraForMaskedLM, ElectraForPreTraining

from electra_data.train.config import TrainConfig
from electra_data.train.data import BatchStream
from electra_data.train.loop import build_model, build_objective, seed_step
from electra_data.train.manifest import read_manifest
from electra_data.train.model import electra_config
from electra_data.train.objective import mask_tokens
from electra_data.train.optim import build_optimizer

STEPS = {"tiny": 10, "small": 3}


def timed(step, batches, warmup: int) -> float:
    """Median seconds of ``step(batch)`` after ``warmup`` untimed steps."""
    times = []
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        step(batch)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def our_step(cfg, manifest):
    torch.manual_seed(0)
    model = build_model(cfg, manifest)
    optimizer = build_optimizer(model, cfg)
    loss = build_objective(cfg, manifest)
    rng = torch.Generator()
    step_no = [0]

    def step(batch):
        step_no[0] += 1
        seed_step(rng, cfg.seed, step_no[0], 0)
        optimizer.zero_grad(set_to_none=True)
        model(batch, lambda g, d, b: loss(g, d, b, rng=rng)).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()

    return step, model


def reference_step(cfg, manifest):
    """The textbook loop: two independent models, full-vocabulary logits, HF losses."""
    torch.manual_seed(0)
    special, shape = manifest.special_tokens, (manifest.vocab_size, manifest.special_tokens.pad, manifest.max_seq_length)
    gen = ElectraForMaskedLM(electra_config(cfg.generator_dims, *shape))
    disc = ElectraForPreTraining(electra_config(cfg.discriminator_dims, *shape))
    params = [*gen.parameters(), *disc.parameters()]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, eps=cfg.adam_epsilon, weight_decay=cfg.weight_decay)
    rng = torch.Generator().manual_seed(0)

    def step(batch):
        ids, attention, types = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
        masked = mask_tokens(ids, (special.cls, special.sep, special.mask), special.pad, special.mask, cfg.mask_prob, rng)
        labels = ids.masked_fill(~masked.is_masked, -100)
        gen_out = gen(input_ids=masked.input_ids, attention_mask=attention, token_type_ids=types, labels=labels)
        with torch.no_grad():
            logits = gen_out.logits[masked.is_masked]
            gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=rng).clamp_(1e-9, 1)))
            disc_input = ids.masked_scatter(masked.is_masked, (logits + gumbel).argmax(dim=-1))
        disc_out = disc(input_ids=disc_input, attention_mask=attention, token_type_ids=types,
                        labels=(disc_input != ids).long())
        optimizer.zero_grad(set_to_none=True)
        (gen_out.loss + cfg.disc_weight * disc_out.loss).backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()

    return step


def step_flops(model, cfg, batches) -> float:
    """Model FLOPs of one of our steps: 6 x (non-embedding parameters) x tokens for each encoder,
    attention's 12 x layers x length x hidden per token, and the generator's softmax at the masked
    positions (6 x vocab x embedding each)."""
    tokens = statistics.mean(int(b["attention_mask"].sum()) for b in batches)
    length = statistics.mean(b["input_ids"].shape[1] for b in batches)
    total = 0.0
    for net in model.networks().values():
        dense = sum(p.numel() for n, p in net.electra.named_parameters() if "embeddings." not in n)
        c = net.config
        total += 6 * dense * tokens + 12 * c.num_hidden_layers * length * c.hidden_size * tokens
    gen = model.generator.config
    total += 6 * gen.vocab_size * gen.embedding_size * tokens * cfg.mask_prob
    return total


def peak_matmul_flops(n: int = 2048, repeat: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    start = time.perf_counter()
    for _ in range(repeat):
        torch.matmul(a, b)
    return 2 * n**3 * repeat / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-shards"))
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    parser.add_argument("--batch-size", type=int, default=32, help="the same for every size (CPU memory)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not (args.data / "manifest.json").exists():
        subprocess.run(["electra-data", "build", "--out", str(args.data)], check=True)
    manifest = read_manifest(args.data)
    peak = peak_matmul_flops()
    print(f"threads {args.threads}; peak fp32 matmul {peak / 1e9:.1f} GFLOP/s; batch {args.batch_size}")
    for size in args.sizes:
        cfg = TrainConfig(data_dir=args.data, out_dir="/nonexistent", model_size=size,
                          batch_size=args.batch_size, device="cpu", seed=0)
        stream = BatchStream(manifest, "train", cfg.batch_size, seed=0)
        batches = [next(stream) for _ in range(STEPS[size] + args.warmup)]
        ours, model = our_step(cfg, manifest)
        t_ours = timed(ours, batches, args.warmup)
        t_ref = timed(reference_step(cfg, manifest), batches, args.warmup)
        loader = BatchStream(manifest, "train", cfg.batch_size, seed=1)
        n, start = 200, time.perf_counter()
        for _ in range(n):
            next(loader)
        loader_rate = n / (time.perf_counter() - start)
        flops = step_flops(model, cfg, batches) / t_ours
        print(f"{size:5s}: ours {t_ours * 1000:8.1f} ms/step, reference {t_ref * 1000:8.1f} ms/step, "
              f"ratio {t_ours / t_ref:.2f} (target <= 0.8); loader {loader_rate:,.0f} batches/s = "
              f"{loader_rate * t_ours:,.0f}x the trainer's {1 / t_ours:.2f} steps/s (target >= 10x); "
              f"{flops / 1e9:.1f} GFLOP/s = {flops / peak:.0%} of peak")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
