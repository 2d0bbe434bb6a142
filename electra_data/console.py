"""What the command-line tools print: user errors as one red line on stderr, never a traceback."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

__all__ = ["stderr", "fail"]

# soft_wrap: never break a path across lines.
stderr = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print a user-facing error and exit with status 1."""
    # markup=False: messages quote token names like [MASK] that rich would take for markup.
    stderr.print(f"error: {message}", style="bold red", markup=False, highlight=False)
    raise typer.Exit(code=1)
