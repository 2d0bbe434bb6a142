"""Which files a build reads: corpus kinds, their bundled samples, and globs and directories.

``--corpus wiki`` and ``--corpus books`` read ``--input`` (or the bundled sample);
``--corpus wiki+books`` sorts its inputs by kind (``.xml``/``.xml.bz2`` are dumps, the rest books);
any other ``--corpus`` value is the path, directory or glob of a domain corpus.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from electra_data import fsio
from electra_data.errors import UserError

__all__ = ["NAMED_CORPORA", "SAMPLE_DATA", "corpus_sources", "expand", "resolve"]

NAMED_CORPORA = ("wiki", "books", "wiki+books")
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
_SAMPLES = {"wiki": SAMPLE_DATA / "wikipedia", "books": SAMPLE_DATA / "books"}
_DUMP_SUFFIXES = (".xml", ".xml.bz2", ".bz2")


def _is_dump(path: str) -> bool:
    return path.endswith(_DUMP_SUFFIXES)


def _is_multistream_index(path: str) -> bool:
    """``X-multistream-index.txt.bz2``: read with its dump ``X-multistream.xml.bz2``, not as one."""
    return path.endswith("-index.txt.bz2")


def corpus_sources(corpus: str, inputs: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Input patterns per source (``wiki``, ``books`` or ``domain``), samples filled in."""
    if corpus == "wiki":
        return {"wiki": inputs or (str(_SAMPLES["wiki"] / "*.bz2"),)}
    if corpus == "books":
        return {"books": inputs or (str(_SAMPLES["books"]),)}
    if corpus == "wiki+books":
        if not inputs:
            return {"wiki": (str(_SAMPLES["wiki"] / "*.bz2"),), "books": (str(_SAMPLES["books"]),)}
        sources = {
            "wiki": tuple(p for p in inputs if _is_dump(p)),
            "books": tuple(p for p in inputs if not _is_dump(p)),
        }
        missing = [name for name, paths in sources.items() if not paths]
        if missing:
            raise ValueError(f"--corpus wiki+books needs both a dump (.xml, .xml.bz2) and books among --input; no {missing[0]} given")
        return sources
    return {"domain": (corpus, *inputs)}


def expand(pattern: str) -> list[str]:
    """Files a pattern names: itself, every file under a directory, or a glob's matches; sorted."""
    if not fsio.is_local(pattern):
        from apache_beam.io.filesystems import FileSystems

        if not any(c in pattern for c in "*?["):
            return [pattern]  # a file: its reader says if it is missing (and no network here)
        # object stores have no directories: a prefix is matched as a glob (gs://b/books/*)
        return sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    if os.path.isdir(pattern):
        return sorted(
            os.path.join(root, name)
            for root, dirs, files in os.walk(pattern)
            for name in files
            if not name.startswith(".")
        )
    if os.path.isfile(pattern):
        return [pattern]
    return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))


def resolve(sources: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Expand every pattern; a pattern that names no file is the user's mistake.

    Raises:
        UserError: naming the pattern.
    """
    resolved: dict[str, list[str]] = {}
    for source, patterns in sources.items():
        files: list[str] = []
        for pattern in patterns:
            matched = expand(pattern)
            if not matched:
                raise UserError(f"--input {pattern}: no such file, or no file matches it")
            if source == "wiki":  # a dump directory holds the multistream index beside the dump
                matched = [m for m in matched if not _is_multistream_index(m)]
                if not matched:
                    raise UserError(
                        f"--input {pattern}: a multistream index, which is read with its dump; "
                        "pass the dump (...-multistream.xml.bz2) instead"
                    )
            files.extend(m for m in matched if m not in files)
        resolved[source] = files
    return resolved
