"""Where a run's metrics go: ``metrics.jsonl``, the progress bar, TensorBoard when it is
installed, and ``curves.png`` at the end. Only rank 0 monitors; other ranks get a silent one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["METRICS", "PLOT", "TENSORBOARD", "Monitor", "plot_curves"]

METRICS, PLOT, TENSORBOARD = "metrics.jsonl", "curves.png", "tensorboard"


def _tensorboard_writer(out: Path):
    try:  # optional: torch.utils.tensorboard needs the tensorboard package
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / TENSORBOARD))


class Monitor:
    """Metrics sink of one run.

    Args:
        out: The run directory.
        total: Steps the run ends at.
        start: Steps already taken (a resumed run); ``metrics.jsonl`` keeps only records up to
            here, so the steps a killed run took after its last checkpoint are not listed twice.
        description: Progress bar label.
        enabled: False on ranks other than 0: every call does nothing.
    """

    def __init__(self, out: Path, total: int, start: int, description: str, enabled: bool = True):
        self.enabled, self.out = enabled, out
        if not enabled:
            return
        path = out / METRICS
        kept = []
        if start and path.exists():
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            kept = [json.dumps(r) + "\n" for r in records if r["step"] <= start]
        path.write_text("".join(kept), encoding="utf-8")
        self._log = open(path, "a", encoding="utf-8")
        self._board = _tensorboard_writer(out)
        self._bar = tqdm(
            total=total, initial=start, desc=description, unit="step", dynamic_ncols=True
        )

    def advance(self) -> None:
        """One optimizer step done."""
        if self.enabled:
            self._bar.update()

    def write(self, record: dict) -> None:
        """Log one record (it has a ``step``); training records also update the progress bar."""
        if not self.enabled:
            return
        self._log.write(json.dumps(record) + "\n")
        self._log.flush()
        if self._board is not None:
            for name, value in record.items():
                if name != "step":
                    self._board.add_scalar(name, value, record["step"])
        if "tokens_per_s" in record:
            shown = {k: f"{record[k]:.3f}" for k in ("loss", "disc_loss", "mlm_loss") if k in record}
            self._bar.set_postfix(**shown, lr=f"{record['lr']:.2e}", tok_s=f"{record['tokens_per_s']:,.0f}")

    def note(self, message: str) -> None:
        """Print a line to stderr without breaking the progress bar."""
        if self.enabled:
            self._bar.write(message, file=sys.stderr)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Close the outputs; after a complete run, plot the curves of the whole run."""
        if not self.enabled:
            return
        self._bar.close()
        self._log.close()
        if self._board is not None:
            self._board.close()
        if exc_type is None:
            plot_curves(self.out / METRICS, self.out / PLOT)


def plot_curves(metrics: Path, png: Path) -> None:
    """Draw the losses, accuracies and learning rate of ``metrics.jsonl`` into a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a training machine
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()]
    panels = {
        "loss": ("mlm_loss", "disc_loss", "val_mlm_loss", "val_disc_loss"),
        "accuracy": ("gen_accuracy", "disc_accuracy", "val_gen_accuracy", "val_disc_accuracy", "val_disc_auc"),
        "learning rate": ("lr",),
    }
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), constrained_layout=True)
    for ax, (title, names) in zip(axes, panels.items()):
        for name in names:
            points = [(r["step"], r[name]) for r in records if name in r]
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, marker="o" if name.startswith("val_") else None, label=name)
        ax.set(title=title, xlabel="step")
        if ax.lines:
            ax.legend(fontsize="small")
    fig.savefig(png, dpi=100)
    plt.close(fig)
