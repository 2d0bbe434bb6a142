"""Progress of a long local build, across the local runner's worker processes.

Workers cannot share memory with the driver, so progress goes through the build's work
directory: whichever worker runs a work item of a stage (a dump, a multistream range, a bundle)
keeps an :class:`ItemProgress` that writes ``WORK_DIR/progress/<stage>/<item>.json``
(``{"bytes": n, "docs": m, "done": bool}``) at most once a second. Item names are deterministic,
so a retried item overwrites its own file and nothing is counted twice. The driver's
:class:`ProgressDisplay` polls those files: a live bar on a terminal, a plain line every
``interval`` seconds in a log. Progress is advisory: a write that fails is skipped, never an
error, and a work directory that is not local (``gs://``, Dataflow) gets none.

:func:`snapshot` (summing the files) and :func:`status_line` (the line a log gets) are pure, so
that both are tested without threads or a terminal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Self, TextIO

from electra_data import fsio

__all__ = ["STAGES", "ItemProgress", "ProgressDisplay", "StageProgress", "snapshot", "status_line", "summary_line"]

STAGES: tuple[str, ...] = ("read", "clean", "dedup", "select", "vocab", "pack", "sort", "write")

_WRITE_EVERY = 1.0  # seconds between two writes of one item's file
_POLL = 0.5  # seconds between two polls of the driver, at least
_POLL_SHARE = 0.05  # the most of its time the driver spends polling (many files: less often)


def _progress_dir(work_dir: str) -> str:
    return os.path.join(work_dir, "progress")


def _file_name(item: str) -> str:
    """A safe, deterministic file name for ``item``: its readable characters (the end, which
    tells paths apart) and a hash of the whole name, so that names cleaned alike stay apart."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", item)[-80:].lstrip(".")
    digest = hashlib.blake2b(item.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()
    return f"{readable}-{digest}.json"


class ItemProgress:
    """Progress of one work item of one stage, written by whichever worker runs it.

    Args:
        work_dir: The build's work directory; not local (``gs://...``): nothing is written.
        stage: One of :data:`STAGES`.
        item: The item's name, the same on every try (e.g. ``"dump.xml.bz2:638-575005"``).

    Attributes:
        path: The item's file; None when ``work_dir`` is not local.

    Raises:
        ValueError: ``stage`` is not one of :data:`STAGES`.
    """

    def __init__(self, work_dir: str, stage: str, item: str):
        if stage not in STAGES:
            raise ValueError(f"unknown progress stage {stage!r}; use one of {', '.join(STAGES)}")
        local = fsio.is_local(work_dir)
        self.path = os.path.join(_progress_dir(work_dir), stage, _file_name(item)) if local else None
        self.bytes = 0
        self.docs = 0
        self._done = False
        self._written = -math.inf  # the first advance writes at once: the stage shows as begun

    def advance(self, nbytes: int = 0, docs: int = 0) -> None:
        """Add bytes of input consumed and documents produced; writes the item's file at most
        once a second."""
        self.bytes += nbytes
        self.docs += docs
        if time.monotonic() - self._written >= _WRITE_EVERY:
            self._write()

    def done(self) -> None:
        """Mark the item finished and write its file."""
        self._done = True
        self._write()

    def _write(self) -> None:
        self._written = time.monotonic()
        if self.path is None:
            return
        data = json.dumps({"bytes": self.bytes, "docs": self.docs, "done": self._done}).encode()
        # Temporary name and rename, as fsio.atomic_open, but without its fsync: a progress
        # file lost to a crash costs nothing, while an fsync a second per worker slows the build.
        tmp = f"{self.path}.tmp-{uuid.uuid4().hex}"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)
        except OSError:  # advisory: a full or read-only disk must not stop the build
            with contextlib.suppress(OSError):
                os.remove(tmp)


@dataclass(frozen=True)
class StageProgress:
    """The sum of a stage's item files: input bytes consumed, documents produced, items that
    have a file (begun) and items done."""

    bytes: int = 0
    docs: int = 0
    items: int = 0
    done: int = 0


def _read_item(path: str) -> tuple[int, int, bool] | None:
    """An item file's ``(bytes, docs, done)``; None for a file that vanished or is not one."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
        nbytes, docs, done = data["bytes"], data["docs"], data["done"]
    except (OSError, ValueError, TypeError, KeyError):  # vanished, garbage, not an object
        return None
    if not (type(nbytes) is int and type(docs) is int and nbytes >= 0 and docs >= 0 and isinstance(done, bool)):
        return None
    return nbytes, docs, done


def snapshot(work_dir: str, *, cache: dict[str, tuple[int, int, bool]] | None = None) -> dict[str, StageProgress]:
    """Sum the item files of every stage that has any, in :data:`STAGES` order.

    Files that vanish while being read, garbage and temporary files are left out; a work
    directory that is not local, or has no progress yet, gives ``{}``.

    Args:
        work_dir: The build's work directory.
        cache: A dict the caller keeps from one call to the next: the file of an item done is
            read once (a build of a whole dump has hundreds of thousands of them).
    """
    if not fsio.is_local(work_dir):
        return {}
    stages = {}
    for stage in STAGES:
        directory = os.path.join(_progress_dir(work_dir), stage)
        try:
            names = [name for name in os.listdir(directory) if name.endswith(".json")]
        except OSError:
            continue
        items = []
        for name in names:
            path = os.path.join(directory, name)
            found = cache.get(path) if cache is not None else None
            if found is None and (found := _read_item(path)) and found[2] and cache is not None:
                cache[path] = found  # done: final (a retry ends with the same counts)
            if found:
                items.append(found)
        if items:
            stages[stage] = StageProgress(
                bytes=sum(i[0] for i in items), docs=sum(i[1] for i in items), items=len(items), done=sum(i[2] for i in items)
            )
    return stages


def _size(n: float) -> str:
    """``1.2 GB``: decimal units, as file managers and download sites give sizes."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _rate(per_second: float) -> str:
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"


def _current_stage(snap: dict[str, StageProgress]) -> str | None:
    """The latest stage that has begun (Beam runs stages side by side: the furthest counts)."""
    return next((stage for stage in reversed(STAGES) if stage in snap), None)


@dataclass(frozen=True)
class _Status:
    """What a status shows besides the input read; None: not known (yet)."""

    rate: str | None  # documents per second of the current stage
    elapsed: str
    eta: str | None  # of the current stage
    stage: str | None
    done: int  # the current stage's items done, of
    total: int | None  # its items, where known


def _status(
    snap: dict[str, StageProgress], total_bytes: int, items: dict[str, int], elapsed: float, stage_elapsed: float | None
) -> _Status:
    stage = _current_stage(snap)
    current = snap.get(stage, StageProgress())
    since = elapsed if stage_elapsed is None else stage_elapsed  # how long the stage has run
    total = items.get(stage) if stage else None
    eta = None
    if since > 0 and stage == "read" and current.bytes and total_bytes > 0:
        eta = max(0, total_bytes - current.bytes) / (current.bytes / since)
    elif since > 0 and stage and total and current.done:
        eta = max(0, total - current.done) / (current.done / since)
    return _Status(
        rate=f"{_rate(current.docs / since)} docs/s" if current.docs and since > 0 else None,
        elapsed=f"{_duration(elapsed)} elapsed",
        eta=None if eta is None else f"ETA {_duration(eta)}",
        stage=stage,
        done=current.done,
        total=total,
    )


def _read_part(snap: dict[str, StageProgress], total_bytes: int) -> str:
    done = snap.get("read", StageProgress()).bytes
    if total_bytes <= 0:
        return f"read {_size(done)}"
    return f"read {_size(done)} of {_size(total_bytes)} ({min(100, 100 * done // total_bytes)}%)"


def status_line(
    snap: dict[str, StageProgress],
    total_bytes: int,
    items: dict[str, int] | None,
    elapsed: float,
    *,
    stage_elapsed: float | None = None,
) -> str:
    """One line of a build's progress, e.g. ``build: read 1.2 GB of 5.4 GB (22%), 3,400 docs/s,
    0:05:10 elapsed, ETA 0:18:20, stage read (12/350 items)``.

    Args:
        snap: What :func:`snapshot` gave.
        total_bytes: The size of the inputs on disk (compressed, for compressed dumps).
        items: The number of items of the stages whose totals are known.
        elapsed: Seconds since the build began.
        stage_elapsed: Seconds since the current stage (the latest of :data:`STAGES` with any
            file) began; None: ``elapsed``. Its documents per second and ETA count from then.

    The ETA is the current stage's: from the byte rate while reading, from the rate of items
    done in later stages, and left out when neither is known yet.
    """
    status = _status(snap, total_bytes, items or {}, elapsed, stage_elapsed)
    parts = [_read_part(snap, total_bytes), status.rate, status.elapsed, status.eta]
    if status.stage:
        done = f"{status.done}/{status.total} items" if status.total else f"{status.done} items done"
        parts.append(f"stage {status.stage} ({done})")
    return "build: " + ", ".join(part for part in parts if part)


def summary_line(snap: dict[str, StageProgress], elapsed: float) -> str:
    """The line a build that succeeded ends with: what it read, in how long."""
    read = snap.get("read", StageProgress())
    rate = f" ({_rate(read.docs / elapsed)} docs/s)" if read.docs and elapsed > 0 else ""
    return f"build: done in {_duration(elapsed)}: read {_size(read.bytes)}, {read.docs:,} documents{rate}"


class ProgressDisplay:
    """The driver's view of a build's progress: a thread that polls ``WORK_DIR/progress``.

    On a terminal, a live bar of the input read, with documents per second, elapsed time, ETA
    and the current stage; elsewhere (a log, CI) one :func:`status_line` every ``interval``
    seconds. Entering removes progress files an earlier build left in ``work_dir``; leaving
    stops the thread and, when the block succeeded, prints a summary line.

    Args:
        work_dir: The build's work directory (where :class:`ItemProgress` writes).
        total_bytes: The inputs' sizes on disk (compressed sizes for ``.bz2`` dumps).
        items: Items per stage, where known up front; :meth:`set_items` adds the others.
        interval: Seconds between two lines off a terminal.
        stream: Where to print; default ``sys.stderr``.
        tty: Draw the live bar; default: whether ``stream`` is a terminal.
    """

    def __init__(
        self,
        work_dir: str,
        *,
        total_bytes: int,
        items: dict[str, int] | None = None,
        interval: float = 30.0,
        stream: TextIO | None = None,
        tty: bool | None = None,
    ):
        if interval <= 0:
            raise ValueError(f"interval must be positive, not {interval}")
        self.work_dir = work_dir
        self.total_bytes = total_bytes
        self.items = dict(items or {})
        self.interval = interval
        self.stream = sys.stderr if stream is None else stream
        self.tty = getattr(self.stream, "isatty", lambda: False)() if tty is None else tty
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._stage: tuple[str | None, float] = (None, 0.0)  # the current stage, and when it became so
        self._bar = None

    def set_items(self, stage: str, count: int) -> None:
        """The number of items of ``stage``, once the pipeline knows it."""
        self.items = {**self.items, stage: count}  # replaced whole: the thread reads it meanwhile

    def __enter__(self) -> Self:
        if fsio.is_local(self.work_dir):
            shutil.rmtree(_progress_dir(self.work_dir), ignore_errors=True)
        self._started = time.monotonic()
        self._stage = (None, self._started)
        if self.tty:
            self._bar = _Bar(self.stream, self.total_bytes)
        self._thread = threading.Thread(target=self._run, name="electra-data-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            with contextlib.suppress(OSError, ValueError):
                self._bar.close()
        if exc_type is None:
            snap = snapshot(self.work_dir)
            self._print(summary_line(snap, time.monotonic() - self._started))

    def _run(self) -> None:
        last_line, cache, wait = time.monotonic(), {}, min(_POLL, self.interval)
        while not self._stop.wait(wait):
            now = time.monotonic()
            snap = snapshot(self.work_dir, cache=cache)
            wait = max(min(_POLL, self.interval), (time.monotonic() - now) / _POLL_SHARE)
            stage = _current_stage(snap)
            if stage != self._stage[0]:
                self._stage = (stage, now)
            elapsed, stage_elapsed = now - self._started, now - self._stage[1]
            if self._bar is not None:
                status = _status(snap, self.total_bytes, self.items, elapsed, stage_elapsed)
                with contextlib.suppress(OSError, ValueError):  # a closed or broken stream: no bar
                    self._bar.update(snap.get("read", StageProgress()).bytes, status)
            elif now - last_line >= self.interval:
                last_line = now
                self._print(status_line(snap, self.total_bytes, self.items, elapsed, stage_elapsed=stage_elapsed))

    def _print(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream: no progress
            print(line, file=self.stream, flush=True)


class _Bar:
    """rich's live bar of the input read: ``read 12/350 ━━━━━━━━ 1.2/5.4 GB ETA 0:18:20, 3,400
    docs/s, 0:05:10 elapsed``, cut short on a narrow terminal."""

    def __init__(self, stream: TextIO, total_bytes: int):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
        from rich.table import Column

        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=20),
            DownloadColumn(table_column=Column(no_wrap=True)),  # decimal MB/GB, as the plain line
            TextColumn("{task.fields[status]}", markup=False, table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=Console(file=stream, force_terminal=True),
            auto_refresh=False,  # refreshed by the display's thread, after each poll
            # what else the driver prints to stderr goes above the bar; its stdout stays stdout
            redirect_stdout=False,
            redirect_stderr=stream is sys.stderr,
            transient=True,  # the summary line takes its place
        )
        self._task = self._progress.add_task("starting", total=total_bytes or None, status="")
        self._progress.start()

    def update(self, completed: int, status: _Status) -> None:
        stage = "starting"
        if status.stage:
            stage = f"{status.stage} {status.done}/{status.total}" if status.total else f"{status.stage} {status.done} done"
        rest = ", ".join(part for part in (status.eta, status.rate, status.elapsed) if part)
        self._progress.update(self._task, completed=completed, description=stage, status=rest)
        self._progress.refresh()

    def close(self) -> None:
        self._progress.stop()
