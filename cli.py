"""Run electra-data from a checkout: ``python cli.py data build ...`` and ``python cli.py train ...``.

The installed console scripts ``electra-data`` and ``electra-train`` are the same commands.
"""

import typer

from electra_data.cli import data_app
from electra_data.train.cli import train

app = typer.Typer(no_args_is_help=True, add_completion=False, help="electra-data: corpus -> shards -> checkpoint.")
app.add_typer(data_app, name="data", help="Data commands: build, vocab, inspect, verify.")
app.command("train", help="Train a generator-discriminator pair on a shard directory.")(train)

if __name__ == "__main__":
    app()
