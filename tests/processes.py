"""What the signal tests look for after a command ends: processes it may have left behind."""

from __future__ import annotations

import os
from pathlib import Path


def processes_with(marker: str) -> list[int]:
    """Processes but this one whose environment holds ``marker`` (e.g. the TMPDIR a test gave the
    command): its workers, had they outlived it."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if marker.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found
