import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from electra_data.train.cli import app

TRAIN = Path(sys.executable).parent / "electra-train"
runner = CliRunner(env={"COLUMNS": "250"})
STEPS = 20
ARGS = ["--model-size", "tiny", "--batch-size", "4", "--max-steps", str(STEPS), "--log-every", "1",
        "--save-every", "3", "--eval-batches", "0", "--device", "cpu", "--seed", "1"]


def train_losses(out: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "tokens_per_s" in r]
    assert steps == sorted(set(steps)), "a step is listed twice"
    return {r["step"]: r["loss"] for r in records if "tokens_per_s" in r}


def start(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(TRAIN), "--data", str(data), "--out", str(out), *ARGS, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def test_killed_and_stopped_runs_resume_to_the_uninterrupted_losses(train_shard_dir, tmp_path):
    full = subprocess.run([str(TRAIN), "--data", str(train_shard_dir), "--out", str(tmp_path / "full"), *ARGS],
                          capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    expected = train_losses(tmp_path / "full")
    assert sorted(expected) == list(range(1, STEPS + 1))

    out = tmp_path / "interrupted"
    killed = start(train_shard_dir, out)
    wait_for(out / "checkpoints" / "step-0000003", killed)
    killed.kill()  # SIGKILL: no chance to save anything more
    killed.communicate()
    assert not (out / "discriminator").exists()

    stopped = start(train_shard_dir, out, "--resume")
    first = max(int(p.name[5:]) for p in (out / "checkpoints").glob("step-*"))
    wait_for(out / "checkpoints" / f"step-{first + 3:07d}", stopped)
    stopped.send_signal(signal.SIGTERM)
    _, stderr = stopped.communicate()
    assert stopped.returncode == 143 and "Traceback" not in stderr  # 128 + SIGTERM, as a shell reports it
    assert "stopped by SIGTERM after step" in stderr and "continue with --resume" in stderr
    step = int(stderr.split("after step ")[1].split(";")[0])
    assert step < STEPS and (out / "checkpoints" / f"step-{step:07d}" / "state.pt").is_file()

    resumed = subprocess.run([str(TRAIN), "--data", str(train_shard_dir), "--out", str(out), *ARGS, "--resume"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr
    assert train_losses(out) == expected  # bit-exact, step by step
    assert len(list((out / "checkpoints").glob("step-*"))) == 3  # --keep-checkpoints default


@pytest.fixture(scope="module")
def finished_run(train_shard_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "out"
    args = ["--data", str(train_shard_dir), "--out", str(out), "--model-size", "tiny", "--batch-size", "4",
            "--max-steps", "2", "--eval-batches", "0", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, args


@pytest.fixture
def run_copy(finished_run, tmp_path):
    out, args = finished_run
    copy = Path(shutil.copytree(out, tmp_path / "out"))
    return copy, [copy if a == str(out) else a for a in args]


def resume(args, *extra):
    args = list(map(str, args))
    args[args.index("--max-steps") + 1] = "4"  # replaced: an option may be given once only
    return runner.invoke(app, [*args, *extra, "--resume"])


def test_resume_goes_on_from_the_latest_checkpoint(run_copy):
    out, args = run_copy
    result = resume(args)
    assert result.exit_code == 0, result.output
    assert "resuming from" in result.output and "max_steps was 2, now 4" in result.output
    assert list(train_losses(out)) == [2, 4]  # --log-every 10: the last step of each part


def test_resume_refuses_a_changed_architecture(run_copy):
    _, args = run_copy
    result = resume(args, "--embedding-sharing", "gdes")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "was trained with embedding_sharing=tied; this run asks for embedding_sharing=gdes" in result.output
    result = resume([a if a != "tiny" else "small" for a in args])
    assert result.exit_code == 1 and "model_size=tiny" in result.output


@pytest.mark.parametrize("damage, why", [
    (lambda ckpt: (ckpt / "state.pt").write_bytes(b"garbage"), "is corrupt"),
    (lambda ckpt: (ckpt / "discriminator" / "model.safetensors").write_bytes(b"\0" * 64), "is corrupt"),
    (lambda ckpt: (ckpt / "generator" / "model.safetensors").unlink(), "is incomplete: .*model.safetensors is missing"),
])
def test_a_damaged_checkpoint_is_named(run_copy, damage, why):
    out, args = run_copy
    damage(out / "checkpoints" / "step-0000002")
    result = resume(args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "step-0000002" in result.output
    assert __import__("re").search(why, result.output)


def test_resume_needs_a_checkpoint_and_excludes_overwrite(run_copy):
    out, args = run_copy
    assert "pass one of them" in resume(args, "--overwrite").output
    shutil.rmtree(out / "checkpoints")
    result = resume(args)
    assert result.exit_code == 1 and "no checkpoint in" in result.output and "start without --resume" in result.output
