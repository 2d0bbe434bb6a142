"""electra-eval: reading labelled files, the fine-tuning recipe, scores, reports and the CLI.

Labelled data is the bundled rt-polarity and subjectivity splits (sample_data/labelled)."""

import gzip
import json
import re
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining, ElectraForSequenceClassification
from typer.testing import CliRunner

from corpus_text import SAMPLE_DATA
from electra_data.downstream.cli import app
from electra_data.downstream.finetune import (
    FinetuneConfig, encode, find_encoder, finetune, layer_depth, parameter_groups, predictions,
)
from electra_data.downstream.report import Entry, markdown_table, results_json, summary
from electra_data.downstream.scores import bag_of_words, metric_names, score
from electra_data.downstream.tasks import load_task, read_table
from electra_data.errors import UserError

POLARITY = SAMPLE_DATA / "labelled" / "polarity"
SUBJECTIVITY = SAMPLE_DATA / "labelled" / "subjectivity"
runner = CliRunner(env={"COLUMNS": "250"})


def sentences(n=40, split="train"):
    """Real rt-polarity (text, label) rows."""
    with gzip.open(POLARITY / f"{split}.tsv.gz", "rt", encoding="utf-8") as f:
        next(f)
        return [tuple(line.rstrip("\n").split("\t")) for _, line in zip(range(n), f)]


def write_tsv(path, header, rows):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, train_shard_dir):
    """A tiny ELECTRA discriminator saved as electra-train exports it: a run directory."""
    run = tmp_path_factory.mktemp("run") / "run"
    config = ElectraConfig(vocab_size=2000, embedding_size=32, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    for name, cls in (("discriminator", ElectraForPreTraining), ("generator", ElectraForMaskedLM)):
        shutil.copytree(train_shard_dir / "tokenizer", run / name)
        cls(config).save_pretrained(run / name)
    return run


# --- reading tasks ---

def test_bundled_polarity_task_reads_with_sorted_classes():
    task = load_task(POLARITY / "train.tsv.gz", POLARITY / "test.tsv.gz")
    assert task.classes == ("negative", "positive") and not task.regression
    assert (len(task.train), len(task.test)) == (8530, 2132)
    assert sorted(set(task.train.labels)) == [0, 1]
    assert sum(task.train.labels) == 4265  # 80% of each class of 5,331
    assert all('"' not in t or t for t in task.train.texts)  # TSV: quotes are text, not quoting
    assert any('"' in t for t in task.train.texts)


def test_integer_labels_are_numbered_in_numeric_order(tmp_path):
    rows = [(t, 10 if lab == "positive" else 2) for t, lab in sentences()]
    path = write_tsv(tmp_path / "t.tsv", ["text", "label"], rows)
    task = load_task(path, path)
    assert task.classes == ("2", "10")
    assert task.train.labels == tuple(1 if lab == 10 else 0 for _, lab in rows)


def test_float_labels_make_a_regression_task(tmp_path):
    rows = [(t, 0.25 + i / 10) for i, (t, _) in enumerate(sentences(10))]
    path = write_tsv(tmp_path / "r.tsv", ["text", "label"], rows)
    task = load_task(path, path)
    assert task.regression and task.classes == () and task.train.labels[1] == pytest.approx(0.35)
    assert not load_task(path, path, kind="classification").regression


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "csv.gz"])
def test_csv_jsonl_and_parquet_read_the_same_task(tmp_path, fmt):
    rows = [{"sentence": t, "other": t[::-1], "y": lab} for t, lab in sentences(30)]
    path = tmp_path / f"data.{fmt}"
    table = pa.Table.from_pylist(rows)
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        import pyarrow.csv as pacsv  # quotes every string: commas and quotes in the text survive
        with pa.output_stream(str(path), compression="detect") as stream:
            pacsv.write_csv(table, stream)
    task = load_task(path, path, text_column="sentence", pair_column="other", label_column="y")
    assert task.train.texts == tuple(r["sentence"] for r in rows)
    assert task.train.pairs == tuple(r["other"] for r in rows)
    assert task.classes == ("negative", "positive")


def test_subset_is_seeded_and_keeps_file_order():
    task = load_task(SUBJECTIVITY / "train.tsv.gz", SUBJECTIVITY / "test.tsv.gz")
    a, b = task.train.subset(100, 0), task.train.subset(100, 0)
    assert a == b and len(a) == 100 and a != task.train.subset(100, 1)
    positions = [task.train.texts.index(t) for t in a.texts]
    assert positions == sorted(positions)


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("unknown_type", "unknown file type"),
    ("empty", "is empty"),
    ("header_only", "has a header but no examples"),
    ("no_label_column", "has no column 'label' (columns: text, sentiment); name the right one with --label-column"),
    ("one_class", "classification needs at least two classes"),
    ("unseen_test_label", "has label(s) neutral that"),
    ("empty_value", "column 'label' has 1 empty value(s)"),
    ("not_numbers", "regression labels must be numbers"),
])
def test_bad_task_files_are_user_errors(tmp_path, case, message):
    rows = sentences(20)
    train = write_tsv(tmp_path / "train.tsv", ["text", "label"], rows)
    test, kwargs = train, {}
    if case == "missing":
        train = tmp_path / "nope.tsv"
    elif case == "unknown_type":
        train = shutil.copy(train, tmp_path / "train.xlsx")
    elif case == "empty":
        (train := tmp_path / "empty.tsv").write_bytes(b"")
    elif case == "header_only":
        test = write_tsv(tmp_path / "test.tsv", ["text", "label"], [])
    elif case == "no_label_column":
        train = write_tsv(tmp_path / "train.tsv", ["text", "sentiment"], rows)
    elif case == "one_class":
        train = write_tsv(tmp_path / "train.tsv", ["text", "label"], [(t, "positive") for t, _ in rows])
    elif case == "unseen_test_label":
        test = write_tsv(tmp_path / "test.tsv", ["text", "label"], [(rows[0][0], "neutral")])
    elif case == "empty_value":
        train = write_tsv(tmp_path / "train.tsv", ["text", "label"], [*rows, (rows[0][0], "")])
    elif case == "not_numbers":
        kwargs = {"kind": "regression"}
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_task(train, test, **kwargs)


def test_a_file_that_is_not_its_format_names_the_file(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"this is no parquet file at all")
    with pytest.raises(UserError, match=r"bad\.parquet cannot be read as parquet"):
        read_table(path)


# --- the recipe ---

def test_layer_depths_follow_the_electra_reference():
    model = ElectraForSequenceClassification(ElectraConfig(
        vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=64))
    depths = {name: layer_depth(name, 3) for name, _ in model.named_parameters()}
    assert depths["electra.embeddings.word_embeddings.weight"] == 0
    assert depths["electra.embeddings_project.weight"] == 0
    assert depths["electra.encoder.layer.0.attention.self.query.weight"] == 1
    assert depths["electra.encoder.layer.2.output.dense.bias"] == 3
    assert depths["classifier.out_proj.weight"] == 5  # layers + 2: the full rate
    groups = parameter_groups(model, 3, 1e-3, 0.5, 0.01)
    lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert lr_of[id(params["classifier.out_proj.weight"])] == (1e-3, 0.01)
    assert lr_of[id(params["electra.encoder.layer.2.output.dense.weight"])] == (pytest.approx(1e-3 * 0.25), 0.01)
    assert lr_of[id(params["electra.embeddings.LayerNorm.weight"])] == (pytest.approx(1e-3 * 0.5 ** 5), 0.0)
    assert sum(len(g["params"]) for g in groups) == len(params)


def test_rates_default_by_width_measured_for_tiny_then_the_papers():
    cfg = FinetuneConfig()
    assert [cfg.learning_rate_for(h) for h in (32, 128, 256, 768, 1024)] == [1e-3, 1e-3, 3e-4, 1e-4, 5e-5]
    assert [cfg.layerwise_lr_decay_for(h) for h in (32, 128, 256, 768, 1024)] == [1.0, 1.0, 0.8, 0.8, 0.8]
    given = FinetuneConfig(learning_rate=2e-3, layerwise_lr_decay=0.9)
    assert given.learning_rate_for(1024) == 2e-3 and given.layerwise_lr_decay_for(128) == 0.9
    with pytest.raises(ValueError, match="--layerwise-lr-decay"):
        FinetuneConfig(layerwise_lr_decay=0)


def test_run_directory_resolves_to_its_discriminator(tiny_model):
    encoder = find_encoder(tiny_model)
    assert encoder.directory == tiny_model / "discriminator" and encoder.layers == 2
    assert find_encoder(tiny_model / "generator").directory == tiny_model / "generator"


@pytest.mark.parametrize("where", ["run", "shards"])
def test_a_checkpoint_takes_its_runs_tokenizer(tiny_model, train_shard_dir, tmp_path, where):
    run = tmp_path / "run"
    network = run / "checkpoints" / "step-0000010" / "discriminator"
    network.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):  # what a checkpoint holds: weights only
        shutil.copy(tiny_model / "discriminator" / name, network)
    with pytest.raises(UserError, match="cannot load the tokenizer of"):
        find_encoder(network.parent)
    if where == "run":  # exported at the end of the run
        shutil.copytree(train_shard_dir / "tokenizer", run / "tokenizer")
    else:  # a run still going: its shards' tokenizer
        (run / "train_config.json").write_text(json.dumps({"data_dir": str(train_shard_dir)}))
    encoder = find_encoder(network.parent)
    assert encoder.directory == network and len(encoder.tokenizer) == 2000


def test_finetuning_is_deterministic_for_a_seed(tiny_model):
    task = load_task(SUBJECTIVITY / "train.tsv.gz", SUBJECTIVITY / "test.tsv.gz")
    task = type(task)(task.train.subset(200, 0), task.test.subset(300, 0), task.classes)
    encoder = find_encoder(tiny_model)
    train, test = (encode(s, encoder.tokenizer, 64, False) for s in (task.train, task.test))
    cfg = FinetuneConfig(epochs=1, learning_rate=3e-3)
    for pretrained in (True, False):
        first = finetune(encoder, task, train, test, cfg, seed=0, pretrained=pretrained)
        again = finetune(encoder, task, train, test, cfg, seed=0, pretrained=pretrained)
        other = finetune(encoder, task, train, test, cfg, seed=1, pretrained=pretrained)
        assert first.shape == (300, 2) and torch.equal(first, again)
        assert not torch.equal(first, other)  # the head (and a control's weights) come from the seed
        assert set(predictions(first, regression=False).tolist()) <= {0, 1}


def test_scores_and_bag_of_words_baseline():
    task = load_task(SUBJECTIVITY / "train.tsv.gz", SUBJECTIVITY / "test.tsv.gz")
    assert metric_names(task) == ("accuracy", "macro_f1", "matthews")
    s = score(task, [0, 1, 1, 1], [0, 1, 0, 1])
    assert s["accuracy"] == 0.75 and s["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert s["matthews"] == pytest.approx(1 / 3 ** 0.5)
    name, predicted = bag_of_words(task)
    assert "bag-of-words" in name and score(task, predicted, task.test.labels)["accuracy"] > 0.85


def test_summary_and_table_show_mean_and_spread():
    entry = Entry("runs/x", "pretrained", "runs/x/discriminator", runs=
                  [{"seed": 0, "accuracy": 0.70, "macro_f1": 0.6}, {"seed": 1, "accuracy": 0.80, "macro_f1": 0.8}])
    assert summary(entry, ("accuracy",))["accuracy"] == {"mean": pytest.approx(0.75), "std": pytest.approx(0.0707, abs=1e-4)}
    record = results_json({"kind": "classification", "train": "a.tsv", "test": "b.tsv", "test_examples": 2,
                           "train_examples": 4}, {"seeds": [0, 1]}, [entry], ("accuracy", "macro_f1"))
    assert "| runs/x | pretrained | 75.0 ± 7.1 | 70.0 ± 14.1 | 2 |" in markdown_table(record)


# --- the command ---

def test_cli_compares_model_control_and_baseline(tiny_model, tmp_path):
    out = tmp_path / "eval"
    args = [str(tiny_model), "--train", str(POLARITY / "train.tsv.gz"), "--test", str(POLARITY / "test.tsv.gz"),
            "--train-size", "96", "--seeds", "2", "--epochs", "1", "--max-seq-length", "48", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    kinds = [m["kind"] for m in record["models"]]
    assert kinds == ["pretrained", "random_init", "bag_of_words"]
    assert [r["seed"] for r in record["models"][0]["runs"]] == [0, 1]
    assert record["task"]["train_examples"] == 96 and record["task"]["classes"] == ["negative", "positive"]
    assert record["config"]["layerwise_lr_decay"] is None and record["config"]["seeds"] == [0, 1]
    # the rates each model trained at, resolved by its width (32 units: tiny's defaults)
    assert [(m["learning_rate"], m["layerwise_lr_decay"]) for m in record["models"]] == [(1e-3, 1.0), (1e-3, 1.0), (None, None)]
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert "| random init (electra 2L/32H, vocab 2,000) | random init |" in (out / "results.md").read_text()
    assert "accuracy" in result.output and "random init" in result.output
    # a line per fine-tuning run, also off a terminal (where the bar is off): 2 models x 2 seeds
    assert len(re.findall(r"^\S.* seed [01]: accuracy 0\.\d{4} \(\d+ s\)$", result.stderr, re.M)) == 4, result.stderr
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "already holds results" in again.output and "--overwrite" in again.output


@pytest.mark.parametrize("case, message", [
    ("no_model", "is not a directory"),
    ("no_config", "holds no config.json"),
    ("bad_config", "cannot read the model config"),
    ("no_tokenizer", "cannot load the tokenizer"),
    ("missing_column", "has no column 'sentence'"),
    ("bad_option", "--epochs must be >= 1"),
    ("bad_task", "--task must be one of"),
    ("out_under_a_file", "is not a writable directory"),
    ("seeds_twice", "--seeds is given twice (1, then 3), and only the last would be used"),
    ("control_and_no_control", "--no-control and --control are both given"),
])
def test_cli_bad_input_is_one_message_and_exit_1(tiny_model, tmp_path, case, message):
    model = tmp_path / "model"
    shutil.copytree(tiny_model / "discriminator", model)
    extra = []
    if case == "no_model":
        model = tmp_path / "nope"
    elif case == "no_config":
        (model / "config.json").unlink()
    elif case == "bad_config":
        (model / "config.json").write_text("{not json")
    elif case == "no_tokenizer":
        for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
            (model / name).unlink()
    elif case == "missing_column":
        extra = ["--text-column", "sentence"]
    elif case == "bad_option":
        extra = ["--epochs", "0"]
    elif case == "bad_task":
        extra = ["--task", "ranking"]
    elif case == "seeds_twice":
        extra = ["--seeds", "1", "--epochs", "1", "--seeds", "3"]
    elif case == "control_and_no_control":
        extra = ["--no-control", "--control"]
    out = tmp_path / "eval"
    if case == "out_under_a_file":  # caught before any fine-tuning, nothing created
        (tmp_path / "file").write_text("mine")
        out = tmp_path / "file" / "eval"
    result = runner.invoke(app, [str(model), "--train", str(POLARITY / "test.tsv.gz"), "--test",
                                 str(POLARITY / "test.tsv.gz"), "--out", str(out), *extra])
    assert result.exit_code == 1, result.output
    assert f"error: " in result.output and message in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not (tmp_path / "eval").exists()  # a failed run creates nothing


def test_regression_scores_are_correlations(tmp_path):
    rows = [(t, i / 10) for i, (t, _) in enumerate(sentences(10))]
    path = write_tsv(tmp_path / "r.tsv", ["text", "label"], rows)
    task = load_task(path, path)
    assert metric_names(task) == ("pearson", "spearman")
    truth = [0.0, 0.1, 0.2, 0.3]
    assert score(task, [1.0, 2.0, 3.0, 5.0], truth) == pytest.approx({"pearson": 0.9827, "spearman": 1.0}, abs=1e-4)
    assert score(task, [0.5] * 4, truth) == {"pearson": 0.0, "spearman": 0.0}  # a constant predictor


def test_text_pairs_are_encoded_as_two_segments(tiny_model, tmp_path):
    rows = [(a, b, lab) for (a, lab), (b, _) in zip(sentences(8), sentences(16)[8:])]
    path = write_tsv(tmp_path / "pairs.tsv", ["premise", "hypothesis", "label"], rows)
    task = load_task(path, path, text_column="premise", pair_column="hypothesis")
    encoded = encode(task.train, find_encoder(tiny_model).tokenizer, 128, regression=False)
    for ids, types in zip(encoded.input_ids, encoded.token_type_ids):
        assert types[0] == 0 and types[-1] == 1 and len(ids) == len(types)


def test_ctrl_c_while_fine_tuning_is_one_line_exit_130_and_no_results(tiny_model, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("electra_data.downstream.cli.compare", interrupted)
    out = tmp_path / "eval"
    result = runner.invoke(app, [str(tiny_model), "--train", str(POLARITY / "test.tsv.gz"), "--test",
                                 str(POLARITY / "test.tsv.gz"), "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert result.output.strip() == "interrupted: no results written" and "Traceback" not in result.output
    assert not out.exists()
