"""Run electra-data from a checkout: ``python cli.py data build ...``, ``python cli.py train ...``
and ``python cli.py eval ...``.

The installed console scripts ``electra-data``, ``electra-train`` and ``electra-eval`` are the same commands.
"""

import typer

from electra_data.argv import OneValueCommand
from electra_data.cli import data_app
from electra_data.downstream.cli import main as evaluate
from electra_data.train.cli import train

app = typer.Typer(no_args_is_help=True, add_completion=False, help="electra-data: corpus -> shards -> checkpoint.")
app.add_typer(data_app, name="data", help="Data commands: build, vocab, inspect, verify.")
app.command("train", cls=OneValueCommand, help="Train a generator-discriminator pair on a shard directory.")(train)
app.command("eval", cls=OneValueCommand, help="Fine-tune checkpoints on labelled data against random-init controls.")(evaluate)

if __name__ == "__main__":
    app()
