"""Learning curves of our ELECTRA objective against the textbook one, from the same start.

Two runs of the real training loop (``electra_data.train.loop.train``) with the same config and
seed, so the same initial weights, batches, masks and dropout: one with our objective (masked-only
generator logits, inverse-CDF sampling), one with ``tests/reference_electra.py`` (full-vocabulary
logits and transformers' own losses, Gumbel-max sampling). Only the replacement samples differ,
so the curves must agree within the noise of sampling. Prints validation MLM loss, discriminator
loss, RTD ROC-AUC, generator accuracy and discriminator recall side by side at every evaluation,
and the seconds per step of each.

Usage::

    python bench/bench_parity.py --data SHARD_DIR [--steps 300] [--model-size tiny] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reference_electra import reference_electra_loss  # noqa: E402

from electra_data.train import loop  # noqa: E402
from electra_data.train.config import TrainConfig  # noqa: E402

COLUMNS = ("val_mlm_loss", "val_disc_loss", "val_disc_auc", "val_gen_accuracy", "val_disc_recall")


def reference_objective(cfg, manifest):
    special = manifest.special_tokens
    return functools.partial(reference_electra_loss, special_ids=(special.cls, special.sep, special.mask),
                             pad_id=special.pad, mask_id=special.mask, mask_prob=cfg.mask_prob,
                             disc_weight=cfg.disc_weight)


def run(cfg: TrainConfig, reference: bool) -> tuple[list[dict], float]:
    """Validation rows of one run, and its seconds per step."""
    real = loop.build_objective
    if reference:
        loop.build_objective = reference_objective
    try:
        start = time.perf_counter()
        loop.train(cfg)
        seconds = (time.perf_counter() - start) / cfg.max_steps
    finally:
        loop.build_objective = real
    rows = [json.loads(line) for line in (cfg.out_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "val_loss" in r], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--model-size", default="tiny")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            curves, pace = {}, {}
            for name in ("ours", "reference"):
                cfg = TrainConfig(data_dir=args.data, out_dir=Path(tmp) / name, model_size=args.model_size,
                                  max_steps=args.steps, eval_every=args.eval_every, save_every=0,
                                  learning_rate=args.learning_rate, seed=seed, device="cpu")
                curves[name], pace[name] = run(cfg, reference=name == "reference")
        print(f"\nseed {seed}: {args.model_size}, {args.steps} steps; s/step ours {pace['ours']:.3f}, "
              f"reference {pace['reference']:.3f} ({pace['reference'] / pace['ours']:.2f}x)")
        print("step  " + "  ".join(f"{c[4:]:>22s}" for c in COLUMNS))
        for ours, ref in zip(curves["ours"], curves["reference"]):
            cells = [f"{ours[c]:9.4f} / {ref[c]:9.4f}" for c in COLUMNS]
            print(f"{ours['step']:5d} " + "  ".join(f"{cell:>22s}" for cell in cells))
        gaps = {c: max(abs(o[c] - r[c]) for o, r in zip(curves["ours"], curves["reference"])) for c in COLUMNS}
        print("largest gap (ours / reference): " + ", ".join(f"{c[4:]} {g:.4f}" for c, g in gaps.items()))


if __name__ == "__main__":
    main()
