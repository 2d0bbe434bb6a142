"""What the build's DoFns share: the rejected-output tag, drop counters, time per stage."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from apache_beam.metrics import Metrics

__all__ = ["NAMESPACE", "REJECTED", "TIME_NAMESPACE", "count_drop", "stage_timer"]

NAMESPACE = "electra_data"
TIME_NAMESPACE = "electra_data.cpu_ms"
# The tag of every transform's side output of dropped documents (`Rejected` records).
REJECTED = "rejected"


def count_drop(reason: str) -> None:
    """Count a dropped document under its reason (monitoring; the manifest counts the data)."""
    Metrics.counter(NAMESPACE, f"dropped_{reason}").inc()


@contextlib.contextmanager
def stage_timer(stage: str) -> Iterator[None]:
    """Add the wall time of the block, in ms, to the stage's counter (summed over workers)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        Metrics.counter(TIME_NAMESPACE, stage).inc(int((time.perf_counter() - start) * 1000))
