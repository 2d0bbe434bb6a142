"""`run_build` end to end on the bundled Wikipedia sample (the real pipeline, local runner)."""

import json
import os
from pathlib import Path

import pyarrow as pa
import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from electra_data.config import BuildConfig
from electra_data.errors import UserError
from electra_data.inputs import resolve
from electra_data.pipelines.build import run_build
from electra_data.pipelines.runner import make_pipeline
from electra_data.shards import read_manifest
from corpus_text import WIKI_DUMP


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build") / "wiki"
    manifest = run_build(BuildConfig(out=str(out), num_shards=8))
    return out, manifest


def test_counts_reconcile_and_match_the_sample(built):
    out, manifest = built
    counts = manifest["counts"]
    assert counts["documents_read"] == 206  # every <page> of the excerpt
    assert counts["dropped"]["redirect"] >= 99
    assert counts["documents_read"] == counts["documents_kept"] + sum(counts["dropped"].values())
    assert 80 <= counts["documents_kept"] <= 106
    assert counts["examples"] == sum(s["examples"] for s in manifest["shards"]) > 3000
    assert counts["padding_share"] < 0.1
    assert counts["tokens_lost"] == 0
    assert manifest["tokenizer"]["unk_rate"] < 0.001  # a vocab trained on the corpus covers it
    assert 1.0 < manifest["tokenizer"]["tokens_per_word"] < 1.6
    assert read_manifest(str(out)) == manifest


def test_shards_match_the_manifest_and_load_in_datasets(built):
    out, manifest = built
    assert [s["path"] for s in manifest["shards"]] == [
        *(f"train/shard-{i:05d}-of-00008.arrow" for i in range(8)),
        "validation/shard-00000-of-00001.arrow",
    ]
    vocab_size = manifest["tokenizer"]["vocab_size"]
    for shard in manifest["shards"]:
        table = pa.ipc.open_stream(pa.memory_map(str(out / shard["path"]))).read_all()
        assert table.num_rows == shard["examples"] > 0
        lengths = pa.compute.list_value_length(table["input_ids"])
        assert pa.compute.sum(lengths).as_py() == shard["tokens"]
        assert pa.compute.max(lengths).as_py() <= 128
        assert pa.compute.max(pa.compute.list_flatten(table["input_ids"])).as_py() < vocab_size
    assert Dataset.from_file(str(out / manifest["shards"][0]["path"])).num_rows == manifest["shards"][0]["examples"]
    assert not list(out.rglob("*.tmp-*")) and not (out / ".build").exists()


def test_tokenizer_decodes_real_wikipedia_text(built):
    out, manifest = built
    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    assert tokenizer.vocab_size == manifest["tokenizer"]["vocab_size"]
    table = pa.ipc.open_stream(pa.memory_map(str(out / manifest["shards"][0]["path"]))).read_all()
    text = " ".join(tokenizer.decode(ids) for ids in table["input_ids"].to_pylist()[:200])
    assert text.startswith("[CLS]") and " the " in text
    assert "{{" not in text and "[[" not in text and "<ref" not in text


def test_reports_sample_the_rejects(built):
    out, _ = built
    rejects = [json.loads(line) for line in (out / "reports" / "rejects.jsonl").read_text().splitlines()]
    assert {"redirect", "disambiguation"} <= {r["reason"] for r in rejects}
    assert json.loads((out / "reports" / "stats.json").read_text())["counts"]["documents_read"] == 206
    assert (out / "reports" / "duplicates.jsonl").exists()


def test_same_input_and_config_give_byte_identical_shards_on_two_workers(built, tmp_path):
    out, manifest = built
    again = run_build(BuildConfig(out=str(tmp_path / "again"), num_shards=8), workers=2)
    assert [s["sha256"] for s in again["shards"]] == [s["sha256"] for s in manifest["shards"]]
    assert again["tokenizer"]["vocab_sha256"] == manifest["tokenizer"]["vocab_sha256"]


def test_reusing_a_vocab_keeps_it(built, tmp_path):
    out, manifest = built
    cfg = BuildConfig(out=str(tmp_path / "reuse"), vocab=str(out / "tokenizer"), max_seq_length=64, dedup="none")
    reused = run_build(cfg)
    assert reused["tokenizer"]["trained"] is False
    assert reused["tokenizer"]["vocab_sha256"] == manifest["tokenizer"]["vocab_sha256"]
    assert reused["counts"]["examples"] > manifest["counts"]["examples"]  # shorter examples
    assert reused["counts"]["tokens_lost"] == 0
    # sized by --shard-size-mb (64 MB): the ~1 MB sample fits one train shard
    assert [s["path"] for s in reused["shards"]] == ["train/shard-00000-of-00001.arrow", "validation/shard-00000-of-00001.arrow"]


def test_existing_dataset_needs_overwrite(built):
    out, _ = built
    with pytest.raises(UserError, match="already holds a dataset; pass --overwrite"):
        run_build(BuildConfig(out=str(out)))


def test_foreign_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty and not an electra-data shard directory"):
        run_build(BuildConfig(out=str(tmp_path)))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_missing_input_is_refused(tmp_path):
    with pytest.raises(UserError, match="no such file, or no file matches it"):
        run_build(BuildConfig(inputs=(str(tmp_path / "nope.xml.bz2"),), out=str(tmp_path / "o")))
    with pytest.raises(UserError, match="no file matches"):
        run_build(BuildConfig(corpus=str(tmp_path / "*.jsonl"), out=str(tmp_path / "o")))


def test_bundled_samples_are_the_default_inputs():
    assert resolve(BuildConfig().sources) == {"wiki": [str(WIKI_DUMP)]}
    assert BuildConfig().out == str(Path("shards") / "wiki")
    both = resolve(BuildConfig(corpus="wiki+books").sources)
    assert both["wiki"] == [str(WIKI_DUMP)] and len(both["books"]) == 4
    assert BuildConfig(corpus="corpora/linux-doc/**/*.rst.txt").out == str(Path("shards") / "linux-doc")


def test_local_runs_return_large_freed_buffers_to_the_os(monkeypatch):
    # the local runner's stage buffers would otherwise stay in glibc's heap: peak RSS grew with the corpus
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "unset")  # so that teardown restores the variable's state
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    make_pipeline([], workers=2)
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == "131072"  # inherited by the --workers processes
