"""One line, not a traceback, for a signal while a command starts.

Importing what a command needs (Beam, torch, transformers) takes seconds on a busy machine. A
Ctrl-C meanwhile would otherwise print a traceback of whichever import it broke. Each console
script calls ``guard`` first thing, before those imports; its own handling (``console.interruptible``,
the trainer's ``StopSignals``) takes over once it runs. Only the standard library here: this
module is imported before anything slow.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

__all__ = ["SIGNALS", "exit_with", "guard", "release"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_with(line: bytes):
    """A handler that prints ``line`` and ends the process as the signal would (128 + its number)."""

    def handler(signum, frame) -> None:
        with contextlib.suppress(Exception):  # what the command printed, before the line
            sys.stdout.flush()
        os.write(2, line)
        os._exit(128 + signum)

    return handler


_STARTING = exit_with(b"interrupted before the run started: nothing was written\n")


def guard(command: str) -> bool:
    """If this process is the console script ``command``, end it with one line on SIGINT/SIGTERM
    until the command installs its own handling; a program that merely imports the module keeps
    its handlers. Returns whether it is that command."""
    if not (sys.argv and os.path.basename(sys.argv[0]) == command):
        return False
    for signum in SIGNALS:
        signal.signal(signum, _STARTING)
    return True


def release() -> None:
    """Put the default handlers back where ``guard``'s is still installed: its line would be
    wrong once the command runs and has written something."""
    for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(signum) is _STARTING:
            signal.signal(signum, default)
