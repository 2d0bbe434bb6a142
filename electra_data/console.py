"""What the command-line tools print and how they stop: one line for a user's error, a warning or
a signal, never a traceback.

Ctrl-C (SIGINT) and SIGTERM stop a run at once: ``interruptible()`` turns them into a
``KeyboardInterrupt`` in the driver, so that every cleanup on its way out runs, and the command
then says in one line what the run left and exits with 128 + the signal's number, as a shell
reports a process the signal killed. Steps that must not stop half-way (swapping a finished
output into place) run under ``deferred_interrupts()``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NoReturn

import typer
from rich.console import Console

__all__ = ["Interruption", "deferred_interrupts", "fail", "interruptible", "stderr", "stop", "warn", "worker_log"]

# soft_wrap: never break a path across lines.
stderr = Console(stderr=True, soft_wrap=True)
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def fail(message: str) -> NoReturn:
    """Print a user-facing error and exit with status 1."""
    # markup=False: messages quote token names like [MASK] that rich would take for markup.
    stderr.print(f"error: {message}", style="bold red", markup=False, highlight=False)
    raise typer.Exit(code=1)


def warn(message: str) -> None:
    """Print a warning: the run goes on, but its result may not be what the user meant."""
    stderr.print(f"warning: {message}", style="yellow", markup=False, highlight=False)


def stop(message: str, signum: int) -> NoReturn:
    """Print what an interrupted run left, and exit with the status of a process ``signum`` killed."""
    stderr.print(message, style="bold yellow", markup=False, highlight=False)
    raise typer.Exit(code=128 + signum)


@dataclass
class Interruption:
    """The signal that stopped this run (None: none yet), whether it must wait, and what the run
    has left so far (``left()``: the line to print; None: nothing written)."""

    signal: int | None = None
    deferred: bool = False
    left: Callable[[], str] | None = None


_state = Interruption()
_depth = 0  # interruptible() blocks open: the inner ones share the outermost one's state


def worker_log() -> str:
    """Where the local runner's worker processes of this driver write their stderr.

    Here, not beside the runner, so that a command stopped while it imports Beam can remove the
    log without importing Beam again (a half-imported Beam cannot be imported twice).
    """
    return os.path.join(tempfile.gettempdir(), f"electra-data-workers-{os.getpid()}.log")


def _children(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc (Linux); elsewhere none."""
    parents: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    # "pid (command) state ppid ...": the command may hold spaces and parentheses
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # not a process, or it ended meanwhile
    found, frontier = [], [pid]
    while frontier:
        above = frontier.pop()
        below = [child for child, parent in parents.items() if parent == above]
        found += below
        frontier += below
    return found


def _stop_children() -> None:
    """Kill the processes this one started: the local runner's workers (and their shells).

    Otherwise a worker goes on writing while the driver cleans up, and Beam would wait for it
    to finish its bundle before letting the driver exit.
    """
    for pid in _children(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _quiet() -> None:
    """Silence what the end of the workers makes Beam's and gRPC's threads print: the run is over."""
    threading.excepthook = lambda args: None
    logging.disable(logging.CRITICAL)


def _on_signal(signum: int, frame) -> None:
    if _state.signal is not None:
        return  # the first one is being handled: let the cleanup finish
    _state.signal = signum
    if _state.deferred:
        return  # deferred_interrupts() raises at the end of its block
    _quiet()
    _stop_children()
    raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible() -> Iterator[Interruption]:
    """Within the block, SIGINT and SIGTERM raise KeyboardInterrupt; ``.signal`` then says which.

    A block that a signal reached never ends normally: if the KeyboardInterrupt was swallowed on
    its way out (code that catches every exception, such as pyarrow's lazy import of pandas),
    it is raised again at the end of the block, so that no signal is lost. Put the ``except``
    that handles it around the block, not in it.

    Blocks nest: an inner one (a step of the command) shares the outer one's state, so that a
    signal is the command's whichever step it reaches, and only the outermost restores the
    handlers.
    """
    global _state, _depth
    if _depth:
        _depth += 1
        try:
            yield _state
        finally:
            _depth -= 1
    elif threading.current_thread() is not threading.main_thread():
        _state = Interruption()
        yield _state  # only the main thread may take signals: Python's default handling stays
        return
    else:
        _state = state = Interruption()
        previous = {s: signal.signal(s, _on_signal) for s in _SIGNALS}
        _depth = 1
        try:
            yield state
        finally:
            _depth = 0
            for s, handler in previous.items():
                signal.signal(s, handler)
            _state = Interruption()  # outside the block no signal is ours to defer
        if state.signal is not None:
            raise KeyboardInterrupt
        return
    if _state.signal is not None:
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """A signal received within the block (under ``interruptible()``) takes effect at its end."""
    _state.deferred = True
    try:
        yield
    finally:
        _state.deferred = False
    if _state.signal is not None:
        raise KeyboardInterrupt
