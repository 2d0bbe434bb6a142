"""Order-based choices of the writers and reports break ties by a total order (issue 13): their
output is the same bytes whatever order the runner hands the elements in, and never compares
values that have no order (the ``detail`` dicts of rejects)."""

import json

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from electra_data.dedup import document_id
from electra_data.documents import Document, Rejected
from electra_data.pipelines.duplicates_report import DuplicatesReport
from electra_data.pipelines.write import WriteRejectsSample, _write_one
from electra_data.shards import ids_dtype

VOCAB_SIZE = 800


def _pipeline():
    return BeamTestPipeline(runner=FnApiRunner())


def _row(order_key, ids, segment_a_length):
    return order_key, np.asarray(ids, dtype=ids_dtype(VOCAB_SIZE)).tobytes(), segment_a_length


def test_shard_order_with_colliding_order_keys_is_the_same_in_any_input_order(tmp_path):
    # 64-bit order keys collide somewhere in ~1e9 examples: the rows that share one must still
    # come out in one order, not in the order they arrived in
    rows = [_row(7, [2, 10, 11, 3], 3), _row(7, [2, 12, 3], 2), _row(7, [2, 10, 11, 3], 2), _row(5, [2, 13, 3], 2)]
    written = []
    for i, order in enumerate([rows, rows[::-1], rows[1:] + rows[:1]]):
        info = _write_one((("train", 0), order), str(tmp_path / str(i)), 1, VOCAB_SIZE)
        written.append((tmp_path / str(i) / info["path"]).read_bytes())
    assert written[0] == written[1] == written[2]
    table = pa.ipc.open_stream(written[0]).read_all()
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


def _report(tmp_path, name, docs, rejects):
    path = tmp_path / f"{name}.jsonl"
    with _pipeline() as p:
        _ = (p | "Docs" >> beam.Create(docs), p | "Rejects" >> beam.Create(rejects)) | DuplicatesReport(str(path))
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
