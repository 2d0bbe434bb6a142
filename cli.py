"""Run electra-data from a checkout: ``python cli.py build ...`` and ``python cli.py train ...``.

The installed console scripts ``electra-data`` and ``electra-train`` are the same commands.
"""

import typer

from electra_data.cli import data_app
from electra_data.train.cli import app as train_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="electra-data: corpus -> shards -> checkpoint.")
app.add_typer(data_app, name="data", help="Data commands (build).")
app.add_typer(train_app, name="train", help="Train a generator-discriminator pair on a shard directory.")

if __name__ == "__main__":
    app()
