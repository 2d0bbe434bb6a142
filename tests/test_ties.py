"""Order-based choices of the writers and reports break ties by a total order (issue 13): their
output is the same bytes whatever order the runner hands the elements in (and whatever the split
of the documents into units), and never compares values that have no order (the ``detail``
dicts of rejects)."""

import json
import random
import tempfile
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from tokenizers import Tokenizer, models

from electra_data import spill
from electra_data.dedup import document_id
from electra_data.documents import Document, Rejected
from electra_data.pipelines import workdir
from electra_data.pipelines.dedup import ExactDedup
from electra_data.pipelines.duplicates_report import EXCERPT, ChosenClusters, DuplicatesReport
from electra_data.pipelines.metrics import REJECTED
from electra_data.pipelines.select import SelectDocuments
from electra_data.pipelines.tokenize import EXAMPLE_SCHEMA
from electra_data.pipelines.write import WriteRejectsSample, WriteShards
from electra_data.shards import ids_dtype
from spilled import collect, load, write_units

VOCAB_SIZE = 800


def _pipeline():
    return BeamTestPipeline(runner=FnApiRunner())


def _row(order_key, ids, segment_a_length):
    """A packed example as a unit's example run holds it (``pipelines.tokenize``): a train one."""
    return order_key, np.asarray(ids, dtype=ids_dtype(VOCAB_SIZE)).tobytes(), segment_a_length, False


def _tokenizer_json() -> str:
    """A tokenizer of VOCAB_SIZE entries: the shard writer takes the ids' type from its size."""
    vocab = {"[UNK]": 0, **{f"t{i}": i for i in range(1, VOCAB_SIZE)}}
    return Tokenizer(models.WordPiece(vocab, unk_token="[UNK]")).to_str()


def _write_shards(work: Path, out: Path, runs: dict[str, list[tuple]]) -> dict[str, bytes]:
    """Shards written by ``WriteShards`` (one train shard), wired as the build wires it, from the
    units' example runs as ``PackUnits`` writes them: ``runs`` maps a unit to its rows.

    Returns:
        {relative path: bytes} of the shards.
    """
    for unit, rows in runs.items():
        spill.write_run(workdir.run_path(str(work), "examples", unit), EXAMPLE_SCHEMA, rows, 1, lambda r: 0)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        tokenizer = p | "Tokenizer" >> beam.Create([_tokenizer_json()])
        packed = p | "Packed" >> beam.Create([(unit, len(rows)) for unit, rows in runs.items()])
        infos = packed | WriteShards(str(work), str(out), tokenizer, num_shards=1, shard_size_mb=1)
        collect(infos, work / "infos.pkl", "Infos")
    return {info["path"]: (out / info["path"]).read_bytes() for info in load(work / "infos.pkl")}


def test_shard_order_with_colliding_order_keys_is_the_same_in_any_input_order(tmp_path):
    # 64-bit order keys collide somewhere in ~1e9 examples: the rows that share one must still
    # come out in one order, not in the order they arrived in, nor in the order of their units
    rows = [_row(7, [2, 10, 11, 3], 3), _row(7, [2, 12, 3], 2), _row(7, [2, 10, 11, 3], 2), _row(5, [2, 13, 3], 2)]
    splits = [
        {"u-0": rows},
        {"u-0": rows[::-1]},
        {"u-0": rows[1:2], "u-1": rows[2:] + rows[:1]},
        {"u-0": rows[2:], "u-1": rows[:2]},
        {f"u-{i}": [r] for i, r in enumerate(rows[::-1])},  # one a unit
    ]
    written = [_write_shards(tmp_path / f"work-{i}", tmp_path / f"out-{i}", runs) for i, runs in enumerate(splits)]
    assert all(w == written[0] for w in written)
    train = [path for path in written[0] if path.startswith("train")]
    assert len(train) == 1
    table = pa.ipc.open_stream(written[0][train[0]]).read_all()
    assert table.column(0).to_pylist() == [[2, 13, 3], [2, 10, 11, 3], [2, 10, 11, 3], [2, 12, 3]]
    assert table.column(1).to_pylist() == [2, 2, 3, 2]


def _rejected(key, detail, reason="near_duplicate"):
    return Rejected(key, "wiki", f"page {key}", reason, "the same first 300 characters", detail)


# Two rejects that differ only in their detail: same key (two dumps of one wiki), title and excerpt.
TIED = [
    _rejected("w:2", {"duplicate_of": "w:1", "jaccard": 0.91}),
    _rejected("w:2", {"duplicate_of": "w:1", "jaccard": None, "via": ["w:3", 0.95]}),
    _rejected("w:4", {"duplicate_of": "w:1", "jaccard": 0.85}),
]


def test_rejects_sample_with_tied_keys_compares_no_dicts_and_ignores_input_order(tmp_path):
    reports = []
    for i, order in enumerate([TIED, TIED[::-1]]):
        path = tmp_path / f"rejects-{i}.jsonl"
        with _pipeline() as p:
            _ = p | beam.Create(order) | WriteRejectsSample(str(path))
        reports.append(path.read_bytes())
    assert reports[0] == reports[1]
    assert sorted(json.loads(line)["key"] for line in reports[0].decode().splitlines()) == ["w:2", "w:2", "w:4"]


def _doc(key, text):
    return Document(key, "wiki", f"page {key}", text)


def _picked(doc):
    """A kept document as ``SelectDocuments`` hands it to the report: (key, (content hash, shown))."""
    return doc.key, (document_id(doc)[1], {"title": doc.title, "excerpt": doc.text[:EXCERPT]})


def _report(tmp_path, name, docs, rejects):
    path = tmp_path / f"{name}.jsonl"
    with _pipeline() as p:
        picked = p | "Picked" >> beam.Create([_picked(d) for d in docs])
        _ = (picked, p | "Rejects" >> beam.Create(rejects)) | DuplicatesReport(str(path))
    return path.read_bytes()


def test_duplicates_report_members_with_tied_keys_compare_no_dicts_and_ignore_input_order(tmp_path):
    docs = [_doc("w:1", "the kept text")]
    first, second = (_report(tmp_path, str(i), docs, order) for i, order in enumerate([TIED, TIED[::-1]]))
    assert first == second
    [cluster] = [json.loads(line) for line in first.decode().splitlines()]
    assert cluster["removed_count"] == 3
    assert [(r["key"], r["jaccard"]) for r in cluster["removed"]] == [("w:2", 0.91), ("w:2", None), ("w:4", 0.85)]


def test_duplicates_report_names_the_kept_document_of_smallest_id_when_keys_collide(tmp_path):
    # Two documents share the kept key w:1 (a reject names the kept one by key only): the report
    # shows the one of smallest document id (key, content hash), not whichever arrived last.
    docs = [_doc("w:1", "first text of one"), _doc("w:1", "another text of one"), _doc("w:4", "unrelated")]
    rejects = [_rejected("w:2", {"duplicate_of": "w:1", "jaccard": 0.91})]
    smallest = min(docs[:2], key=document_id)
    first, second = (_report(tmp_path, str(i), order, rejects) for i, order in enumerate([docs, docs[::-1]]))
    assert first == second
    [cluster] = [json.loads(line) for line in first.decode().splitlines()]
    assert cluster["kept"] == {"key": "w:1", "title": smallest.title, "excerpt": smallest.text}


def _report_of_units(tmp_path, docs, *, per_unit, partitions) -> bytes:
    """The duplicates report of exact dedup over ``docs`` written in units, wired as the build
    wires it (the kept documents it shows are picked from the units by ``SelectDocuments``)."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    units = write_units(work, docs, per_unit=per_unit, partitions=partitions, exact=True)
    w, path = str(work), work / "duplicates.jsonl"
    with beam.Pipeline(runner=FnApiRunner()) as p:
        names = p | "Units" >> beam.Create(units)
        drops = names | ExactDedup(w, partitions)
        selected = names | SelectDocuments(w, drops, drops | ChosenClusters(), seed=0)
        _ = (selected.picked, selected[REJECTED]) | DuplicatesReport(str(path))
    return path.read_bytes()


def test_duplicates_report_through_units_is_the_same_whatever_the_order_and_split(tmp_path):
    # Two kept documents share the key w:1, both with copies removed as duplicates of "w:1", and
    # one of them read twice: one cluster, shown with the w:1 of smallest id, whatever the order
    # of the documents, their units and the partitions of the runs.
    one, other = _doc("w:1", "The first text of one."), _doc("w:1", "Another text of one.")
    docs = [one, other, one, _doc("w:2", "THE FIRST TEXT OF ONE"), _doc("w:3", "another text, of one")]
    docs += [_doc("w:4", "Unrelated."), _doc("w:5", "unrelated")]
    reports = [
        _report_of_units(tmp_path, random.Random(seed).sample(docs, len(docs)), per_unit=n, partitions=parts)
        for seed, n, parts in [(0, 1, 1), (1, 2, 3), (2, 10, 2)]
    ]
    assert reports[0] == reports[1] == reports[2]
    clusters = [json.loads(line) for line in reports[0].decode().splitlines()]
    smallest = min(one, other, key=document_id)
    assert [c["kept"] for c in clusters] == [
        {"key": "w:1", "title": "page w:1", "excerpt": smallest.text},
        {"key": "w:4", "title": "page w:4", "excerpt": "Unrelated."},
    ]
    assert [(r["key"], r["excerpt"]) for r in clusters[0]["removed"]] == [
        ("w:1", "The first text of one."), ("w:2", "THE FIRST TEXT OF ONE"), ("w:3", "another text, of one"),
    ]  # fmt: skip
    assert [r["key"] for r in clusters[1]["removed"]] == ["w:5"]
