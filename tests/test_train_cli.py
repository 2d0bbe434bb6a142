from typer.testing import CliRunner

from electra_data.train.cli import app

runner = CliRunner(env={"COLUMNS": "250"})  # rich would wrap messages at 80 columns
TINY = ["--model-size", "tiny", "--max-steps", "2", "--eval-batches", "1", "--device", "cpu"]


def test_help_documents_every_option():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for option in ("--data", "--out", "--model-size", "--max-steps", "--batch-size", "--learning-rate",
                   "--warmup-steps", "--mask-prob", "--disc-weight", "--seed", "--save-every", "--overwrite"):
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
    assert result.exit_code == 1 and "error: max_steps must be >= 1" in result.output


def test_an_earlier_run_is_kept_unless_overwrite(train_shard_dir, tmp_path):
    out = tmp_path / "out"
    (out / "discriminator").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    args = ["--data", str(train_shard_dir), "--out", str(out), *TINY]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "already holds a run (discriminator)" in refused.output
    assert "--overwrite" in refused.output

    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "exported to" in result.output
    assert (out / "discriminator" / "model.safetensors").is_file() and (out / "notes.txt").read_text() == "mine"
