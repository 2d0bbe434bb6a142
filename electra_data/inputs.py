"""Which files a build reads: corpus kinds, their bundled samples, globs and directories.

``--corpus wiki`` and ``--corpus books`` read ``--input`` (or the bundled sample);
``--corpus wiki+books`` sorts the files of its inputs by content: a MediaWiki export (plain XML
or bz2, whatever its name) is a dump, the rest are books. ``gs://`` objects are sorted by
suffix instead (``.xml``, ``.bz2``): reading the head of each would cost a request.
Any other ``--corpus`` value is the path, directory or glob of a domain corpus.

In a directory of books only ``*.txt`` files are books; its other files (a ``MANIFEST.tsv``, a
``README``) are listed apart as ``not_books``, for the build to count as dropped. A file named
on the command line, or matched by a glob, is always read.
"""

from __future__ import annotations

import glob
import os
import stat
from pathlib import Path

from electra_data import fsio
from electra_data.errors import UserError
from electra_data.wiki import is_dump

__all__ = ["NAMED_CORPORA", "SAMPLE_DATA", "corpus_sources", "expand", "resolve", "relative_names"]

NAMED_CORPORA = ("wiki", "books", "wiki+books")
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
_SAMPLES = {"wiki": SAMPLE_DATA / "wikipedia", "books": SAMPLE_DATA / "books"}
_DUMP_SUFFIXES = (".xml", ".xml.bz2", ".bz2")
_INDEX_SUFFIX = "-index.txt.bz2"


def _has_dump_suffix(path: str) -> bool:
    return path.endswith(_DUMP_SUFFIXES) and not _is_multistream_index(path)


def _is_multistream_index(path: str) -> bool:
    """``X-multistream-index.txt.bz2``: read with its dump ``X-multistream.xml.bz2``, not as one."""
    return path.endswith(_INDEX_SUFFIX)


def _is_dump(path: str) -> bool:
    return is_dump(path) if fsio.is_local(path) else _has_dump_suffix(path)


def _identity(path: str) -> str:
    """One name per file, however the command line spelt it (``books/a.txt``, ``./books/a.txt``)."""
    return os.path.abspath(path) if fsio.is_local(path) else path


def corpus_sources(corpus: str, inputs: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Input patterns per source (``wiki``, ``books``, ``domain``, or ``wiki+books``: both,
    sorted file by file in :func:`resolve`), samples filled in.

    Raises:
        ValueError: ``wiki+books`` whose inputs are all dumps by name: no books can come of them.
    """
    if corpus == "wiki":
        return {"wiki": inputs or (str(_SAMPLES["wiki"] / "*.bz2"),)}
    if corpus == "books":
        return {"books": inputs or (str(_SAMPLES["books"]),)}
    if corpus == "wiki+books":
        if not inputs:
            return {"wiki": (str(_SAMPLES["wiki"] / "*.bz2"),), "books": (str(_SAMPLES["books"]),)}
        if all(_has_dump_suffix(p) for p in inputs):
            raise ValueError("--corpus wiki+books needs both a dump (.xml, .xml.bz2) and books among --input; no books given")
        return {"wiki+books": inputs}
    return {"domain": (corpus, *inputs)}


def _not_a_file(path: str) -> str | None:
    """What a local ``path`` is when it is neither a regular file nor a directory: reading a named
    pipe or a device could wait forever or never end, a broken link has nothing to read."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return f"a broken symbolic link (to {os.readlink(path)})" if os.path.islink(path) else None
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip
    return next((what for test, what in kinds if test(mode)), None)


def _regular_files(pattern: str, paths: list[str]) -> list[str]:
    """``paths``, once none is a pipe, a device, a socket or a broken link.

    Raises:
        UserError: naming the first that is, and what it is.
    """
    for path in paths:
        if what := _not_a_file(path):
            where = f"--input {pattern}" if path == pattern else f"--input {pattern}: {path}"
            raise UserError(f"{where} is {what}, not a file to read; give files, or move it out")
    return paths


def expand(pattern: str) -> list[str]:
    """Files a pattern names: itself, every file under a directory, or a glob's matches; sorted.

    Raises:
        UserError: a local pattern that names, or a directory that holds, something other than
            regular files and directories (a named pipe, a device, a socket, a broken link).
    """
    if not fsio.is_local(pattern):
        from apache_beam.io.filesystems import FileSystems

        if not any(c in pattern for c in "*?["):
            return [pattern]  # a file: its reader says if it is missing (and no network here)
        # object stores have no directories: a prefix is matched as a glob (gs://b/books/*)
        return sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    if os.path.isdir(pattern):
        return _regular_files(pattern, sorted(
            os.path.join(root, name)
            for root, dirs, files in os.walk(pattern)
            for name in files
            if not name.startswith(".")
        ))  # fmt: skip
    if os.path.isfile(pattern):
        return [pattern]
    matched = glob.glob(pattern, recursive=True)
    return _regular_files(pattern, sorted(p for p in matched if not os.path.isdir(p)))


def _sort(source: str, pattern: str, matched: list[str]) -> dict[str, list[str]]:
    """The files a pattern matched, by what becomes of them: ``wiki``, ``books``, ``not_books``,
    ``domain``, or ``index`` (a multistream index, read with its dump).

    Raises:
        UserError: a dump among the inputs of ``--corpus books``.
    """
    if source == "domain":
        return {"domain": matched}
    sorted_: dict[str, list[str]] = {}
    in_directory = fsio.is_local(pattern) and os.path.isdir(pattern)
    for path in matched:
        if source != "books" and _is_multistream_index(path):
            kind = "index"
        elif source == "wiki" or (source == "wiki+books" and _is_dump(path)):
            kind = "wiki"
        elif source == "books" and _is_dump(path):
            raise UserError(
                f"--input {pattern}: {path} is a MediaWiki dump, not a book; read dumps with --corpus wiki, "
                "or with --corpus wiki+books beside books"
            )
        elif in_directory and not path.lower().endswith(".txt"):
            kind = "not_books"  # a README, a MANIFEST.tsv: only *.txt files of a directory are books
        else:
            kind = "books"
        sorted_.setdefault(kind, []).append(path)
    return sorted_


def resolve(sources: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Expand every pattern and sort the files by source: ``wiki``, ``books``, ``domain``, and
    ``not_books`` (files of a books directory that are not ``*.txt``) when there are any.

    A file matched twice (a directory and a file in it) is read once.

    Raises:
        UserError: a pattern that names no file, or no file to read (a directory of books
            without a ``*.txt`` file); a multistream index without its dump; a dump given as
            a book; ``wiki+books`` without a dump or without a book.
    """
    files: dict[str, list[str]] = {}
    indexes: list[str] = []
    seen: set[str] = set()
    for source, patterns in sources.items():
        for pattern in patterns:
            matched = expand(pattern)
            if not matched:
                raise UserError(f"--input {pattern}: no such file, or no file matches it")
            sorted_ = _sort(source, pattern, matched)
            if set(sorted_) == {"not_books"}:
                others = ", ".join(os.path.basename(p) for p in sorted_["not_books"][:5])
                raise UserError(
                    f"--input {pattern}: no book in this directory (books are *.txt files; it holds {others}); "
                    "give a book of another name as an --input of its own"
                )
            indexes += sorted_.pop("index", [])
            for kind, paths in sorted_.items():
                new = [p for p in paths if _identity(p) not in seen]
                seen.update(map(_identity, new))
                files.setdefault(kind, []).extend(new)
    dumps = {_identity(d) for d in files.get("wiki", [])}
    for index in indexes:
        dump = index[: -len(_INDEX_SUFFIX)] + ".xml.bz2"
        if _identity(dump) not in dumps:
            raise UserError(
                f"{index}: a multistream index, which is read with its dump; pass the dump "
                f"({os.path.basename(dump)}) instead"
            )
    if "wiki+books" in sources:
        for source, other in (("wiki", "books"), ("books", "wiki")):
            if source not in files:
                what = "MediaWiki dump (.xml or .xml.bz2)" if source == "wiki" else "book (a *.txt file)"
                raise UserError(
                    f"--corpus wiki+books found no {what} among --input {' '.join(sources['wiki+books'])}; "
                    f"use --corpus {other} to read {other} alone"
                )
    return files


def relative_names(paths: list[str]) -> dict[str, str]:
    """A name for each file that no other file of ``paths`` has, and that stays the same when
    the files move together: the path below the deepest directory they all lie in.

    A document key is made of it (``books:<name>``): a file's base name alone is not unique
    (two books directories, two dumps of one wiki), an absolute path not stable.
    """
    parts = {p: os.path.abspath(p).split(os.sep) if fsio.is_local(p) else p.split("/") for p in paths}
    common = len(os.path.commonprefix([split[:-1] for split in parts.values()])) if parts else 0
    return {p: "/".join(split[common:]) for p, split in parts.items()}
