import json

import pytest
import torch
from transformers import ElectraForMaskedLM, ElectraForPreTraining
from typer.testing import CliRunner

from electra_data.train.cli import app

runner = CliRunner(env={"COLUMNS": "250"})  # rich would wrap messages at 80 columns
TINY = ["--model-size", "tiny", "--max-steps", "2", "--eval-batches", "1", "--device", "cpu"]


def test_help_documents_every_option():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for option in ("--data", "--out", "--model-size", "--max-steps", "--batch-size", "--learning-rate",
                   "--warmup-steps", "--mask-prob", "--disc-weight", "--seed", "--save-every", "--overwrite",
                   "--resume", "--objective", "--embedding-sharing", "--generator-size", "--init-from", "--grad-accum",
                   "--keep-checkpoints", "--eval-every", "--precision", "--compile"):
        assert option in result.output


def test_missing_data_directory_is_rejected_without_a_traceback(tmp_path):
    result = runner.invoke(app, ["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_unfinished_build_is_a_clear_error(tmp_path):
    (tmp_path / "shards").mkdir()
    result = runner.invoke(app, ["--data", str(tmp_path / "shards"), "--out", str(tmp_path / "out"), *TINY])
    assert result.exit_code == 1
    assert "no manifest.json" in result.output and "rerun electra-data build" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # a clean exit


def test_bad_option_value_is_a_clear_error(train_shard_dir, tmp_path):
    result = runner.invoke(app, ["--data", str(train_shard_dir), "--out", str(tmp_path / "out"),
                                 "--model-size", "tiny", "--max-steps", "0"])
    assert result.exit_code == 1 and "error: --max-steps must be >= 1" in result.output  # the option, not the field


def test_an_earlier_run_is_kept_unless_overwrite(train_shard_dir, tmp_path):
    out = tmp_path / "out"
    (out / "discriminator").mkdir(parents=True)
    (out / "train_config.json").write_text(json.dumps({"data_dir": "d", "out_dir": str(out), "model_size": "tiny"}))
    (out / "notes.txt").write_text("mine")
    args = ["--data", str(train_shard_dir), "--out", str(out), *TINY]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "already holds a run (discriminator, train_config.json)" in refused.output
    assert "--overwrite" in refused.output and "--resume" in refused.output

    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "exported to" in result.output
    assert (out / "discriminator" / "model.safetensors").is_file() and (out / "notes.txt").read_text() == "mine"
    # Two steps leave the discriminator on its plateau: the user and the model card are told.
    assert "warning: the discriminator has not learned to detect replaced tokens" in result.output
    assert "**Warning**: the discriminator has not learned" in (out / "README.md").read_text()


def test_mlm_objective_exports_a_masked_lm(train_shard_dir, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["--data", str(train_shard_dir), "--out", str(out), *TINY, "--objective", "mlm",
                                 "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert not (out / "discriminator").exists() and "val_gen_accuracy" in result.output
    assert "warning" not in result.output  # no discriminator, no plateau
    mlm = ElectraForMaskedLM.from_pretrained(out / "mlm")
    assert mlm.config.hidden_size == 128  # the discriminator's size, for a matched comparison
    assert "MLM-tiny" in (out / "README.md").read_text()


def test_gdes_with_accumulation_and_bf16_autocast(train_shard_dir, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["--data", str(train_shard_dir), "--out", str(out), *TINY, "--batch-size", "8",
                                 "--embedding-sharing", "gdes", "--grad-accum", "2", "--precision", "bf16"])
    assert result.exit_code == 0, result.output
    state = torch.load(out / "checkpoints" / "step-0000002" / "state.pt", weights_only=True)
    assert state["data"]["index"] == 2 * 8  # two micro-batches of 4 per step
    assert (out / "checkpoints" / "step-0000002" / "gdes_deltas.safetensors").is_file()
    assert not (out / "gdes_deltas.safetensors").exists()  # the export bakes them in instead
    disc = ElectraForPreTraining.from_pretrained(out / "discriminator")
    gen = ElectraForMaskedLM.from_pretrained(out / "generator")
    # The delta trained, so the discriminator's table is no longer the generator's.
    assert not torch.equal(disc.electra.embeddings.word_embeddings.weight, gen.electra.embeddings.word_embeddings.weight)


def test_compile_flag_compiles_the_encoders(train_shard_dir, tmp_path, monkeypatch):
    # A real torch.compile of the tiny model took ~9 minutes on 2 shared CPU cores (inductor
    # compiles each new sequence length), so this checks the wiring; see the slow test below.
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    result = runner.invoke(app, ["--data", str(train_shard_dir), "--out", str(tmp_path / "out"), *TINY,
                                 "--batch-size", "4", "--compile"])
    assert result.exit_code == 0, result.output
    assert compiled == ["ElectraModel", "ElectraModel"]


@pytest.mark.slow
def test_compiled_run(train_shard_dir, tmp_path):
    result = runner.invoke(app, ["--data", str(train_shard_dir), "--out", str(tmp_path / "out"), *TINY,
                                 "--batch-size", "4", "--compile"])
    assert result.exit_code == 0, result.output
