"""File writes that are atomic, on local disks and on Beam filesystems (gs://, s3://, ...).

A reader must never mistake a half-written file for a finished one: every file is written under
a temporary name and renamed into place when complete (after an fsync on local disks, so a crash
cannot leave a renamed but empty file). Object stores go through ``apache_beam.io.FileSystems``
so that Dataflow workers can write the same shard directory.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import BinaryIO

__all__ = [
    "is_local", "join", "exists", "size", "read_bytes", "read_stream", "atomic_open", "write_bytes_atomic",
    "within", "nearest_existing", "probe_write",
]  # fmt: skip


def is_local(path: str) -> bool:
    """Whether ``path`` is on a local filesystem (no ``scheme://`` prefix)."""
    return "://" not in path


def join(base: str, *parts: str) -> str:
    """Join path components with the separator of ``base``'s filesystem."""
    if is_local(base):
        return os.path.join(base, *parts)
    return "/".join([base.rstrip("/"), *parts])


def exists(path: str) -> bool:
    if is_local(path):
        return os.path.exists(path)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def size(path: str) -> int:
    if is_local(path):
        return os.path.getsize(path)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.match([path])[0].metadata_list[0].size_in_bytes


def read_stream(path: str) -> BinaryIO:
    """A seekable binary reader of ``path``, uncompressed whatever its name."""
    if is_local(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
    if is_local(path):
        with open(path, "rb") as f:
            return f.read()
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as f:
        return f.read()


@contextlib.contextmanager
def atomic_open(path: str) -> Iterator[BinaryIO]:
    """Open ``path`` for binary writing; it appears under its name only if the block succeeds."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    if is_local(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            with open(tmp, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise
        return
    from apache_beam.io.filesystems import FileSystems

    f = FileSystems.create(tmp)
    try:
        yield f
        f.close()
        FileSystems.rename([tmp], [path])
    except BaseException:
        f.close()
        with contextlib.suppress(Exception):
            FileSystems.delete([tmp])
        raise


def write_bytes_atomic(path: str, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def within(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or lies under it (local paths: once symlinks are resolved)."""
    if is_local(path) != is_local(directory):
        return False
    if is_local(path):
        path, directory = os.path.realpath(path), os.path.realpath(directory)
        return os.path.commonpath([path, directory]) == directory
    path, directory = path.rstrip("/"), directory.rstrip("/")
    return path == directory or path.startswith(directory + "/")


def nearest_existing(path: str) -> str:
    """``path`` if it exists, else its closest ancestor that does (where creating it starts)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def probe_write(directory: str) -> None:
    """Create and remove a file in ``directory``: raises the OSError that writing there would meet."""
    fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=directory)
    os.close(fd)
    os.remove(probe)
