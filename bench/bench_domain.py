"""Does continued pre-training on a domain corpus help? Domain validation metrics of three models:

- no adaptation: the general checkpoint as it is;
- adapted: the checkpoint trained ``--steps`` more on the domain shards (``--init-from``);
- from scratch: a fresh model of the same shape trained ``--steps`` on the domain shards.

Every run uses the real trainer (``electra_data.train.loop.train``) with the checkpoint's shape,
and every model is scored by the trainer's own validation pass on the domain shards' validation
split (the same batches and masks for all three): RTD ROC-AUC, discriminator loss, MLM loss and
generator accuracy. The domain shards must be built with the checkpoint's vocab
(``electra-data build --vocab RUN/discriminator``).

Usage::

    python bench/bench_domain.py --run runs/recipe --data shards/linux-doc --steps 500 [--seed 0]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from pathlib import Path

import torch

from electra_data.train.config import TrainConfig
from electra_data.train.evaluate import evaluate
from electra_data.train.init import check_vocab, find_init_source, load_init
from electra_data.train.loop import build_objective, train
from electra_data.train.manifest import read_manifest

COLUMNS = ("val_disc_auc", "val_disc_loss", "val_mlm_loss", "val_gen_accuracy", "val_disc_recall")


def validate(cfg: TrainConfig) -> dict[str, float]:
    """The trainer's validation metrics of ``cfg.init_from`` on ``cfg.data_dir``."""
    manifest = read_manifest(cfg.data_dir)
    source = find_init_source(cfg.init_from)
    check_vocab(source, manifest)
    torch.manual_seed(cfg.seed)
    model = load_init(source, cfg, manifest)
    return evaluate(model, manifest, cfg, build_objective(cfg, manifest), torch.device("cpu"),
                    functools.partial(torch.autocast, "cpu", enabled=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="general checkpoint (a run directory)")
    parser.add_argument("--data", type=Path, required=True, help="domain shards built with its vocab")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--eval-batches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    source = find_init_source(args.run)
    common = dict(data_dir=args.data, model_size=source.model_size, generator_size=source.generator_size,
                  max_steps=args.steps, save_every=0, eval_every=0, eval_batches=args.eval_batches,
                  learning_rate=args.learning_rate, seed=args.seed, device="cpu")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["no adaptation"] = validate(TrainConfig(out_dir=Path(tmp) / "none", init_from=args.run, **common))
        for name, init in (("adapted", args.run), ("from scratch", None)):
            out = Path(tmp) / name.replace(" ", "-")
            train(TrainConfig(out_dir=out, init_from=init, **common))
            rows[name] = validate(TrainConfig(out_dir=Path(tmp) / "check", init_from=out, **common))
    print(f"\n{args.data}: validation after {args.steps} domain steps ({source.model_size}, seed {args.seed})")
    print(f"{'model':15s}" + "".join(f"{c[4:]:>16s}" for c in COLUMNS))
    for name, metrics in rows.items():
        print(f"{name:15s}" + "".join(f"{metrics[c]:16.4f}" for c in COLUMNS))


if __name__ == "__main__":
    main()
