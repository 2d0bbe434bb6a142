"""How SIGINT (Ctrl-C) and SIGTERM stop a training run.

The command runs under ``console.interruptible()``, the toolkit's one mechanism: a signal
raises ``KeyboardInterrupt`` wherever the program is (a half-written checkpoint is removed on
the way out), and the command ends with one line and exit status 128 + the signal's number.
Inside the training loop, ``StopSignals`` turns the first signal into a flag the loop checks
after each step, so that a job scheduler's preemption ends with a checkpoint (``Interrupted``);
a second signal goes to ``interruptible()`` and stops the run at once.
"""

from __future__ import annotations

import signal

__all__ = ["Interrupted", "StopSignals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """The loop stopped between two steps, after saving a checkpoint, because of ``signum``."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


class StopSignals:
    """Within the block, the first SIGINT/SIGTERM only sets ``received`` (its number); the
    handler that was there before then takes the next one."""

    def __init__(self):
        self.received: int | None = None

    def __enter__(self) -> StopSignals:
        self._previous = {s: signal.signal(s, self._handle) for s in _SIGNALS}
        return self

    def _handle(self, signum, frame):
        self.received = signum
        signal.signal(signum, self._previous[signum])

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
