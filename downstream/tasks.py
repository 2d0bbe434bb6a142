"""Labelled data for fine-tuning: read a train and a test file into one checked ``Task``.

Files are tables with a header: TSV (no quoting, as GLUE's), CSV (RFC 4180 quoting), JSONL or
Parquet, optionally gzip-compressed (``.tsv.gz``). Labels that are strings or integers make a
classification task, their classes numbered in sorted order (integers numerically); float labels
make a regression task. Every mistake is a ``UserError`` that names the file and what to do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from electra_data.errors import UserError

__all__ = ["FORMATS", "TASK_KINDS", "Split", "Task", "read_table", "load_task"]

FORMATS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
TASK_KINDS = ("auto", "classification", "regression")


@dataclass(frozen=True)
class Split:
    """One file's examples: texts, optional second texts, and labels (class ids or floats)."""

    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    labels: tuple[int, ...] | tuple[float, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, size: int, seed: int) -> Split:
        """``size`` examples drawn without replacement by ``seed`` (all of them if fewer)."""
        if size >= len(self):
            return self
        keep = sorted(random.Random(seed).sample(range(len(self)), size))
        pick = lambda values: tuple(values[i] for i in keep)  # noqa: E731
        return Split(pick(self.texts), pick(self.pairs) if self.pairs else None, pick(self.labels))


@dataclass(frozen=True)
class Task:
    """A fine-tuning task: ``classes`` names the class ids (empty for regression)."""

    train: Split
    test: Split
    classes: tuple[str, ...]

    @property
    def regression(self) -> bool:
        return not self.classes


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".zst")]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise UserError(f"{path}: unknown file type; name it .tsv, .csv, .jsonl or .parquet "
                        "(optionally .gz)")
    return fmt


def read_table(path: Path) -> pa.Table:
    """Read a labelled file into an Arrow table (format from its extension).

    Raises:
        UserError: If the file is missing, empty, of an unknown type or cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file")
    fmt = _format_of(path)
    try:
        if fmt == "parquet":
            return pq.read_table(path)
        with pa.input_stream(str(path), compression="detect") as stream:
            if fmt == "jsonl":
                return pajson.read_json(stream)
            parse = pacsv.ParseOptions(delimiter="\t", quote_char=False) if fmt == "tsv" else None
            return pacsv.read_csv(stream, parse_options=parse)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        if "Empty CSV file" in str(e) or path.stat().st_size == 0:
            raise UserError(f"{path} is empty: it needs a header and at least one example") from e
        raise UserError(f"{path} cannot be read as {fmt}: {e}") from e


def _column(table: pa.Table, name: str, path: Path, option: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise UserError(f"{path} has no column {name!r} (columns: {', '.join(table.column_names)}); "
                        f"name the right one with {option}")
    column = table.column(name)
    empty = column.null_count
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        empty += pc.sum(pc.equal(pc.utf8_trim_whitespace(column.fill_null("")), "")).as_py() - column.null_count
    if empty:
        raise UserError(f"{path}: column {name!r} has {empty} empty value(s); fill or drop those rows")
    return column


def _texts(table: pa.Table, name: str, path: Path, option: str) -> tuple[str, ...]:
    return tuple(str(v) for v in _column(table, name, path, option).to_pylist())


def _is_regression(kind: str, label_type: pa.DataType) -> bool:
    if kind != "auto":
        return kind == "regression"
    return pa.types.is_floating(label_type)


def load_task(
    train: Path,
    test: Path,
    *,
    text_column: str = "text",
    pair_column: str | None = None,
    label_column: str = "label",
    kind: str = "auto",
) -> Task:
    """Read and check both files of a task.

    Args:
        train: The training file.
        test: The test file.
        text_column: Column of the (first) text.
        pair_column: Column of the second text, for sentence-pair tasks.
        label_column: Column of the label.
        kind: ``auto`` (float labels are regression), ``classification`` or ``regression``.

    Returns:
        The task, labels as class ids numbered by the sorted classes of the training file.

    Raises:
        UserError: A column is missing or has empty values, a file has no examples, the
            training labels have one class, the test file has a class the training file lacks,
            or regression labels are not numbers.
    """
    tables = {path: read_table(path) for path in (train, test)}
    labels = {path: _column(t, label_column, path, "--label-column") for path, t in tables.items()}
    regression = _is_regression(kind, labels[train].type)
    for path, table in tables.items():
        if table.num_rows == 0:
            raise UserError(f"{path} has a header but no examples")
    if regression:
        values = {}
        for path, column in labels.items():
            try:
                values[path] = tuple(float(v) for v in column.to_pylist())
            except (TypeError, ValueError) as e:
                raise UserError(f"{path}: regression labels must be numbers ({e})") from e
        classes: tuple[str, ...] = ()
    else:
        raw = {path: column.to_pylist() for path, column in labels.items()}
        distinct = set(raw[train])
        numeric = all(isinstance(v, int) for v in distinct)
        ordered = sorted(distinct, key=(lambda v: v) if numeric else str)
        if len(ordered) < 2:
            raise UserError(f"{train}: every label is {ordered[0]!r}; classification needs at least "
                            "two classes (use --task regression for a numeric target)")
        ids = {str(v): i for i, v in enumerate(ordered)}
        unknown = sorted({str(v) for v in raw[test]} - ids.keys())
        if unknown:
            raise UserError(f"{test} has label(s) {', '.join(unknown[:5])} that {train} never has")
        values = {path: tuple(ids[str(v)] for v in column) for path, column in raw.items()}
        classes = tuple(str(v) for v in ordered)

    def split(path: Path) -> Split:
        table = tables[path]
        pairs = _texts(table, pair_column, path, "--text-pair-column") if pair_column else None
        return Split(_texts(table, text_column, path, "--text-column"), pairs, values[path])

    return Task(split(train), split(test), classes)
