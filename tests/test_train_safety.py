"""electra-train never loses a user's data or intent (issue 13): every mistake and every failure
mid-run ends in one line that names the file or option and what to do, with no traceback, no
temporary files, and the data, the earlier run and the last complete checkpoint untouched."""

import errno
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from typer.testing import CliRunner

from electra_data.train import checkpoint, loop, memory
from electra_data.train.cli import app
from electra_data.train.config import TrainConfig
from electra_data.train.data import BatchStream, ShardError
from electra_data.train.manifest import read_manifest

runner = CliRunner(env={"COLUMNS": "250"})
TRAIN = Path(sys.executable).parent / "electra-train"


def tiny(**options) -> list[str]:
    """A two-step tiny run's options, some replaced (an option may be given once only)."""
    chosen = {"model_size": "tiny", "batch_size": 4, "max_steps": 2, "eval_batches": 0, "device": "cpu", **options}
    return [word for name, value in chosen.items() for word in ("--" + name.replace("_", "-"), str(value))]


TINY = tiny()
# Four steps, a checkpoint every two and a validation pass every two (it reopens the shard).
FOUR = ["--model-size", "tiny", "--batch-size", "4", "--max-steps", "4", "--save-every", "2",
        "--eval-every", "2", "--eval-batches", "1", "--device", "cpu"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_clear_line(result, code: int, *phrases: str, prefix: str = "error:") -> str:
    """The run ended with ``code`` and one line starting with ``prefix`` (a signal's line: what
    stopped it) holding every phrase, and no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # a clean exit
    errors = [line for line in result.output.splitlines() if line.startswith(prefix)]
    assert len(errors) == 1, result.output
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    return errors[0]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def no_temporary_files(out: Path) -> None:
    assert not list(out.rglob("*.tmp")), list(out.rglob("*.tmp"))


@pytest.fixture(scope="module")
def finished_run(train_shard_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("safety") / "run"
    result = invoke("--data", train_shard_dir, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


# --- the output directory -------------------------------------------------------------------

@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("where, relation", [
    (lambda d: d, "is --data"),
    (lambda d: d / "run", "is inside --data"),
    (lambda d: d / "tokenizer", "is inside --data"),
    (lambda d: d.parent, "contains --data"),
])
def test_out_overlapping_data_is_refused_and_the_data_untouched(train_shard_copy, where, relation, overwrite):
    before = tree(train_shard_copy.parent)
    out = where(train_shard_copy)
    result = invoke("--data", train_shard_copy, "--out", out, *TINY, *(["--overwrite"] if overwrite else []))
    one_clear_line(result, 1, f"--out {out} {relation} {train_shard_copy}", "choose an --out outside it")
    assert tree(train_shard_copy.parent) == before


@pytest.mark.parametrize("where, relation", [
    (lambda run: run, "is --init-from"),
    (lambda run: run / "sub", "is inside --init-from"),
    (lambda run: run.parent, "contains --init-from"),
])
def test_out_overlapping_init_from_is_refused(train_shard_dir, run_copy, where, relation):
    before = tree(run_copy)
    out = where(run_copy)
    result = invoke("--data", train_shard_dir, "--out", out, "--init-from", run_copy, *TINY, "--overwrite")
    one_clear_line(result, 1, f"--out {out} {relation} {run_copy}")
    assert tree(run_copy) == before


@pytest.mark.parametrize("files", [["README.md"], ["tokenizer/vocab.txt", "notes.txt"], ["metrics.jsonl"]])
def test_overwrite_never_deletes_files_a_run_did_not_write(train_shard_dir, tmp_path, files):
    out = tmp_path / "project"
    for name in files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("mine")
    before = tree(out)
    for extra in ([], ["--overwrite"], ["--resume"]):
        result = invoke("--data", train_shard_dir, "--out", out, *TINY, *extra)
        one_clear_line(result, 1, f"--out {out} holds", "no train_config.json", "choose another --out")
        assert tree(out) == before


def test_out_may_not_be_another_shard_directory(train_shard_dir, train_shard_copy):
    before = tree(train_shard_copy)
    result = invoke("--data", train_shard_dir, "--out", train_shard_copy, *TINY, "--overwrite")
    one_clear_line(result, 1, f"--out {train_shard_copy} is a shard directory")
    assert tree(train_shard_copy) == before


@pytest.mark.parametrize("refusal, phrase", [
    ({"batch_size": 100000}, "is larger than the training split"),
    ({"init_from": "NOT_A_CHECKPOINT"}, "holds no Hugging Face ELECTRA checkpoint"),
    ({"seed": -1}, "--seed must be in"),
])
def test_overwrite_deletes_nothing_when_the_new_run_is_refused(train_shard_dir, run_copy, tmp_path, refusal, phrase):
    (tmp_path / "NOT_A_CHECKPOINT").mkdir()
    refusal = {k: tmp_path / v if v == "NOT_A_CHECKPOINT" else v for k, v in refusal.items()}
    before = tree(run_copy)
    result = invoke("--data", train_shard_dir, "--out", run_copy, *tiny(**refusal), "--overwrite")
    one_clear_line(result, 1, phrase)
    assert tree(run_copy) == before


def test_overwrite_replaces_a_run_and_keeps_other_files(train_shard_dir, run_copy):
    (run_copy / "notes.txt").write_text("mine")
    (run_copy / "checkpoints" / "step-0000099").mkdir()  # gone with the run it belongs to
    result = invoke("--data", train_shard_dir, "--out", run_copy, *TINY, "--overwrite", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert (run_copy / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (run_copy / "checkpoints").iterdir()) == ["step-0000002"]
    assert json.loads((run_copy / "train_config.json").read_text())["seed"] == 7


def test_an_unwritable_out_is_refused_before_anything_runs(train_shard_dir, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: make the write probe meet what a user's would

        def probe(directory):
            if Path(directory) == locked:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), directory)

        monkeypatch.setattr("electra_data.train.rundir.probe_write", probe)
    else:
        locked.chmod(0o500)
    result = invoke("--data", train_shard_dir, "--out", locked / "run", *TINY)
    one_clear_line(result, 1, f"--out {locked / 'run'}: cannot write in {locked}", "choose a writable --out")
    assert not (locked / "run").exists()


# --- options --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", ["-1", str(2**32), str(2**64), "99999999999999999999999"])
def test_seed_outside_32_bits_is_a_clear_error(train_shard_dir, tmp_path, seed):
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", *TINY, "--seed", seed)
    one_clear_line(result, 1, f"error: --seed must be in 0..4294967295 (2**32 - 1), got {seed}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value, message", [
    ("learning_rate", "nan", "--learning-rate must be a finite number, got nan"),
    ("mask_prob", "inf", "--mask-prob must be a finite number, got inf"),
    ("batch_size", "0", "--batch-size must be >= 1"),
    ("grad_accum", "3", "--batch-size must be divisible by --grad-accum"),
    ("model_size", "huge", "--model-size must be one of tiny, mini, small, base, large, got 'huge'"),
])
def test_bad_values_are_named_by_their_option(train_shard_dir, tmp_path, option, value, message):
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", *tiny(**{option: value}))
    one_clear_line(result, 1, f"error: {message}")
    assert not (tmp_path / "out").exists()


def test_the_largest_seed_is_accepted(train_shard_dir, tmp_path):
    assert TrainConfig(data_dir=train_shard_dir, out_dir=tmp_path, seed=2**32 - 1).seed == 2**32 - 1


@pytest.mark.parametrize("typo, suggestion", [
    ("--max-step", "--max-steps"), ("--learning-rat", "--learning-rate"), ("--batchsize", "--batch-size"),
    ("--over-write", "--overwrite"),
])
def test_misspelt_options_are_named_with_the_closest_one(train_shard_dir, tmp_path, typo, suggestion):
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", typo, "10")
    assert result.exit_code == 2 and "Traceback" not in result.output  # click's usage error
    assert f"No such option: {typo}" in result.output and suggestion in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("twice, message", [
    (["--max-steps", "2", "--max-steps", "5"], "--max-steps is given twice (2, then 5), and only the last would be used"),
    (["--max-steps=2", "--max-steps", "5"], "--max-steps is given twice (2, then 5)"),
    (["--resume", "--no-resume"], "--resume and --no-resume are both given"),
    (["--out", "elsewhere"], "--out is given twice"),
])
def test_an_option_given_twice_is_refused(train_shard_dir, tmp_path, twice, message):
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", *twice)
    one_clear_line(result, 1, f"error: {message}")
    assert not (tmp_path / "out").exists()


def test_an_option_value_that_looks_like_an_option_is_a_value(train_shard_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("--data", train_shard_dir, "--out", "--max-steps", *TINY)  # TINY has --max-steps 2
    assert result.exit_code == 0, result.output
    assert (tmp_path / "--max-steps" / "discriminator").is_dir()


def test_a_stray_argument_is_refused(train_shard_dir, tmp_path):
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", "--max-steps", "2", "3")
    assert result.exit_code == 2 and "unexpected extra argument(s) (3)" in result.output


@pytest.mark.parametrize("given, flag", [
    (["--objective", "mlm", "--generator-size", "0.5"], "--generator-size"),
    (["--objective", "mlm", "--embedding-sharing", "gdes"], "--embedding-sharing"),
    (["--objective", "mlm", "--disc-weight", "10"], "--disc-weight"),
    (["--eval-batches", "0", "--eval-every", "5"], "--eval-every"),
])
def test_options_that_would_be_ignored_are_refused(train_shard_dir, tmp_path, given, flag):
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", "--model-size", "tiny", "--batch-size", "4",
                    "--max-steps", "2", "--device", "cpu", *given)
    one_clear_line(result, 1, f"{flag} has no effect with", "drop")
    assert not (tmp_path / "out").exists()


# --- batch size and memory ------------------------------------------------------------------

def test_a_batch_larger_than_the_training_split_is_refused(train_shard_dir, tmp_path):
    examples = sum(s.examples for s in read_manifest(train_shard_dir).split("train"))
    batch = (examples // 2 + 20) * 2  # divisible by --grad-accum 2
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", *tiny(batch_size=batch, grad_accum=2))
    one_clear_line(result, 1, f"--batch-size {batch} is larger than the training split",
                   f"({examples} examples)", f"use --batch-size {examples // 2 * 2} or less")  # divisible by 2
    assert not (tmp_path / "out").exists()


def test_a_batch_beyond_the_memory_is_refused_with_one_that_fits(train_shard_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**30)
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", *tiny(batch_size=256))
    line = one_clear_line(result, 1, "--batch-size 256 needs about", "on cpu", "but 1.0 GB is available",
                          "activations of 256 examples of up to 128 tokens")
    fits = int(line.split("use --batch-size ")[1].split()[0])
    assert 64 <= fits < 128 and "or keep it with --grad-accum 4" in line  # 256 / 4 = 64 fit, 128 do not
    assert not (tmp_path / "out").exists()

    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**20)
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", *TINY)
    one_clear_line(result, 1, "not even one example fits", "use a smaller --model-size")


def test_the_estimate_grows_with_what_a_step_holds(train_shard_dir, tmp_path):
    manifest = read_manifest(train_shard_dir)
    cfg = TrainConfig(data_dir=train_shard_dir, out_dir=tmp_path, model_size="tiny", generator_size=0.5)
    fixed, per_example = memory.step_bytes(cfg, manifest, parameters=1_000_000)
    assert fixed == 16_000_000
    # tiny with a half-width generator, 128 tokens, vocab 2000: 71.7 KB per token (measured 69.5, see memory.py)
    assert per_example == pytest.approx(128 * 71.7e3, rel=0.01)
    mini = TrainConfig(data_dir=train_shard_dir, out_dir=tmp_path, model_size="mini")
    mlm = TrainConfig(data_dir=train_shard_dir, out_dir=tmp_path, model_size="tiny", objective="mlm")
    assert memory.step_bytes(mini, manifest, 1)[1] > per_example > memory.step_bytes(mlm, manifest, 1)[1]
    assert memory.step_bytes(cfg, manifest, 1, torch.bfloat16)[1] == pytest.approx(0.7 * per_example, rel=1e-6)


def test_running_out_of_memory_anyway_is_one_line(train_shard_dir, tmp_path, monkeypatch):
    def advance(self):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(loop.Monitor, "advance", advance)
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", *TINY)
    one_clear_line(result, 1, "cpu ran out of memory with --batch-size 4 and --grad-accum 1",
                   "lower the one or raise the other", "no checkpoint was saved")


class _Recorder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.sizes = model, []

    def forward(self, batch, loss):
        self.sizes.append(len(batch["input_ids"]))
        return self.model(batch, loss)


@pytest.mark.parametrize("micro_batch, sizes", [(None, [8, 8]), (2, [2] * 8)])
def test_evaluation_reads_the_same_examples_in_micro_batches(train_shard_dir, tmp_path, micro_batch, sizes):
    from electra_data.train.evaluate import evaluate

    manifest = read_manifest(train_shard_dir)
    cfg = TrainConfig(data_dir=train_shard_dir, out_dir=tmp_path, model_size="tiny", batch_size=8,
                      grad_accum=4, eval_batches=2)
    model = _Recorder(loop.build_model(cfg, manifest))
    no_autocast = lambda: torch.autocast("cpu", enabled=False)  # noqa: E731
    metrics = evaluate(model, manifest, cfg, loop.build_objective(cfg, manifest), torch.device("cpu"),
                       no_autocast, micro_batch)
    assert model.sizes == sizes and "val_disc_auc" in metrics  # 2 batches of 8 examples either way


# --- shards that change under a running job -------------------------------------------------

def _truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _first_shard(stream: BatchStream) -> int:
    order, _ = stream._layout(0)
    return int(order[0])  # the first epoch reads this shard first


def test_a_shard_in_use_is_in_memory_so_truncating_it_is_harmless(train_shard_copy):
    stream = BatchStream(read_manifest(train_shard_copy), "train", 4, seed=0)
    next(stream)
    for shard in (train_shard_copy / "train").iterdir():
        _truncate(shard)  # reading a memory-mapped page past the new end would kill the process (SIGBUS)
    for _ in range(3):  # still in the first shard
        next(stream)


@pytest.mark.parametrize("damage", [
    _truncate,
    lambda path: path.write_bytes(path.read_bytes()[:100]),
    lambda path: path.unlink(),
    lambda path: (path.unlink(), path.mkdir()),
])
def test_a_shard_damaged_mid_stream_names_the_shard(train_shard_copy, damage):
    manifest = read_manifest(train_shard_copy)
    stream = BatchStream(manifest, "train", 4, seed=0)
    next(stream)
    later = manifest.split("train")[1 - _first_shard(stream)].path
    damage(later)
    with pytest.raises(ShardError, match=f"cannot read shard {later} .*electra-data verify"):
        for _ in range(200):  # into the second shard
            next(stream)


def test_a_shard_truncated_before_the_run_is_refused_before_anything_is_written(train_shard_copy, tmp_path):
    shard = train_shard_copy / "train" / "shard-00001-of-00002.arrow"
    size = shard.stat().st_size
    _truncate(shard)
    result = invoke("--data", train_shard_copy, "--out", tmp_path / "out", *TINY)
    one_clear_line(result, 1, f"shard {shard} has {size // 2} bytes, the manifest says {size}",
                   "electra-data verify", "rerun electra-data build")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", [
    _truncate,
    lambda path: path.write_bytes(path.read_bytes()[:100]),
    lambda path: path.unlink(),
])
def test_a_shard_damaged_after_training_started_stops_with_the_last_checkpoint(
        train_shard_copy, tmp_path, monkeypatch, damage):
    shard = train_shard_copy / "validation" / "shard-00000-of-00001.arrow"
    real_save = checkpoint.save_checkpoint

    def save_then_damage(directory, step, *args):
        saved = real_save(directory, step, *args)
        if step == 2:
            damage(shard)  # the validation pass at step 4 reopens it
        return saved

    monkeypatch.setattr(loop, "save_checkpoint", save_then_damage)
    out = tmp_path / "out"
    result = invoke("--data", train_shard_copy, "--out", out, *FOUR)
    one_clear_line(result, 1, f"cannot read shard {shard}", "electra-data verify", "rerun electra-data build",
                   f"the last checkpoint is {out / 'checkpoints' / 'step-0000002'}: continue with --resume")
    assert (out / "checkpoints" / "step-0000002" / "state.pt").is_file()
    no_temporary_files(out)


# --- a full disk ----------------------------------------------------------------------------

def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _torch_enospc(obj, f):
    """What torch.save does when a write fails: a RuntimeError whose context is the OSError."""
    f.write(b"partial")
    try:
        _enospc()
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")


def _safetensors_enospc(model, directory):
    (directory / "partial").write_bytes(b"x")
    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


@pytest.mark.parametrize("target, failing", [
    ("torch.save", _enospc),
    ("torch.save", _torch_enospc),
    ("save_networks", _safetensors_enospc),
])
def test_a_full_disk_while_saving_a_checkpoint(train_shard_dir, tmp_path, monkeypatch, target, failing):
    real = torch.save if target == "torch.save" else checkpoint.save_networks
    calls = []

    def second_fails(*args, **kwargs):
        calls.append(1)
        return (failing if len(calls) == 2 else real)(*args, **kwargs)

    if target == "torch.save":
        monkeypatch.setattr(checkpoint.torch, "save", second_fails)
    else:
        monkeypatch.setattr(checkpoint, "save_networks", second_fails)
    out = tmp_path / "out"
    result = invoke("--data", train_shard_dir, "--out", out, *FOUR)
    one_clear_line(result, 1, f"cannot write checkpoint {out / 'checkpoints' / 'step-0000004'}",
                   "No space left on device", "free space there", "another --out",
                   f"the last complete checkpoint is {out / 'checkpoints' / 'step-0000002'}")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000002"]
    no_temporary_files(out)
    monkeypatch.undo()
    torch.load(out / "checkpoints" / "step-0000002" / "state.pt", weights_only=True)  # intact


def test_a_full_disk_elsewhere_in_the_run_is_one_line(train_shard_dir, tmp_path, monkeypatch):
    real_write = loop.Monitor.write

    def write(self, record):
        if record["step"] == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.out / "metrics.jsonl"))
        real_write(self, record)

    monkeypatch.setattr(loop.Monitor, "write", write)
    out = tmp_path / "out"
    result = invoke("--data", train_shard_dir, "--out", out, *FOUR, "--log-every", "2")
    one_clear_line(result, 1, f"No space left on device: {out / 'metrics.jsonl'}",
                   f"the last checkpoint is {out / 'checkpoints' / 'step-0000002'}")


def test_a_real_write_failure_in_a_subprocess(train_shard_dir, tmp_path):
    """The operating system refuses a write (a per-file size limit stands in for a full disk)."""
    import resource

    out = tmp_path / "out"
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (5 * 2**20, resource.RLIM_INFINITY))  # noqa: E731
    done = subprocess.run([str(TRAIN), "--data", str(train_shard_dir), "--out", str(out), *TINY],
                          capture_output=True, text=True, preexec_fn=limit, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot write checkpoint {out / 'checkpoints' / 'step-0000002'} (File too large)" in done.stderr
    assert "the last complete checkpoint is none" in done.stderr
    assert not list((out / "checkpoints").iterdir())
    no_temporary_files(out)


@pytest.mark.parametrize("damage, phrase", [
    (lambda d: (d / "model.safetensors").write_bytes(b"\x10\0\0\0\0\0\0\0{not safetensors"), "cannot start from {d}"),
    (lambda d: (d / "config.json").write_text(json.dumps(
        {k: v for k, v in json.loads((d / "config.json").read_text()).items() if k != "num_hidden_layers"})),
     "{d}/config.json lacks num_hidden_layers"),
    (lambda d: (d / "config.json").write_text(json.dumps(
        {**json.loads((d / "config.json").read_text()), "num_attention_heads": 3})),
     "{d}/config.json holds an impossible shape"),
    (lambda d: (d / "config.json").write_text("[1, 2]"), "{d} holds a None model, not an ELECTRA one"),
])
def test_a_broken_init_from_is_named(train_shard_dir, run_copy, tmp_path, damage, phrase):
    ckpt = Path(shutil.copytree(run_copy / "discriminator", tmp_path / "ckpt"))
    damage(ckpt)
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", "--init-from", ckpt, *TINY)
    one_clear_line(result, 1, phrase.format(d=ckpt))
    assert not (tmp_path / "out").exists()


# --- pickles ---------------------------------------------------------------------------------

class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_in_init_from_is_refused_in_one_line(train_shard_dir, run_copy, tmp_path):
    evil = Path(shutil.copytree(run_copy / "discriminator", tmp_path / "evil"))
    (evil / "model.safetensors").unlink()
    marker = tmp_path / "payload-ran"
    (evil / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", "--init-from", evil, *TINY)
    one_clear_line(result, 1, f"--init-from: pytorch_model.bin in {evil} is not a safe checkpoint")
    assert "weights_only" not in result.output and len(result.output.splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_pickle_in_a_checkpoint_is_refused_in_one_line(train_shard_dir, run_copy, tmp_path):
    marker = tmp_path / "payload-ran"
    state = run_copy / "checkpoints" / "step-0000002" / "state.pt"
    state.write_bytes(pickle.dumps(_Payload(marker)))
    result = invoke("--data", train_shard_dir, "--out", run_copy, *tiny(max_steps=4), "--resume")
    one_clear_line(result, 1, "step-0000002 is corrupt", "not a safe checkpoint", "delete it")
    assert "weights_only" not in result.output and len(result.output.splitlines()) == 1
    assert not marker.exists()


# --- signals ----------------------------------------------------------------------------------

def _signal_at(monkeypatch, owner, name, signum, when=lambda *a: True, times=1):
    real = getattr(owner, name)

    def hooked(*args, **kwargs):
        if when(*args):
            for _ in range(times):
                os.kill(os.getpid(), signum)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, hooked)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_between_steps_saves_a_checkpoint_and_names_it(train_shard_dir, tmp_path, monkeypatch, signum, code):
    handler = signal.getsignal(signum)
    _signal_at(monkeypatch, loop.Monitor, "advance", signum)
    out = tmp_path / "out"
    result = invoke("--data", train_shard_dir, "--out", out, *FOUR)
    one_clear_line(result, code, f"the last checkpoint is {out / 'checkpoints' / 'step-0000001'}: continue with --resume",
                   prefix=f"stopped by {signal.Signals(signum).name} after step 1;")
    no_temporary_files(out)
    assert signal.getsignal(signum) == handler  # restored


def test_a_signal_during_setup_leaves_nothing(train_shard_dir, tmp_path, monkeypatch):
    _signal_at(monkeypatch, loop, "read_manifest", signal.SIGINT)
    result = invoke("--data", train_shard_dir, "--out", tmp_path / "out", *TINY)
    one_clear_line(result, 130, "nothing was written: run the command again", prefix="interrupted by SIGINT;")
    assert not (tmp_path / "out").exists()


def test_a_second_signal_during_a_save_leaves_no_temporary_checkpoint(train_shard_dir, tmp_path, monkeypatch):
    _signal_at(monkeypatch, checkpoint, "save_networks", signal.SIGINT,
               when=lambda model, directory: directory.name == ".step-0000004.tmp", times=2)
    out = tmp_path / "out"
    result = invoke("--data", train_shard_dir, "--out", out, *FOUR)
    one_clear_line(result, 130, f"the last checkpoint is {out / 'checkpoints' / 'step-0000002'}: continue with --resume",
                   prefix="interrupted by SIGINT;")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000002"]


def test_a_signal_during_the_export_and_the_resume_that_redoes_it(train_shard_dir, tmp_path, monkeypatch):
    _signal_at(monkeypatch, loop, "export", signal.SIGTERM)
    out = tmp_path / "out"
    result = invoke("--data", train_shard_dir, "--out", out, *TINY)
    one_clear_line(result, 143, f"the last checkpoint is {out / 'checkpoints' / 'step-0000002'}: continue with --resume",
                   prefix="interrupted by SIGTERM;")
    monkeypatch.undo()
    result = invoke("--data", train_shard_dir, "--out", out, *TINY, "--resume")
    assert result.exit_code == 0, result.output
    assert (out / "discriminator" / "model.safetensors").is_file() and (out / "README.md").is_file()
    result = invoke("--data", train_shard_dir, "--out", out, *TINY, "--resume")  # nothing left to do
    one_clear_line(result, 1, "is at step 2, already --max-steps: raise it to go on")


def test_ctrl_c_while_the_trainer_starts(train_shard_dir, tmp_path):
    """A real Ctrl-C in the first seconds (torch still loading): one line, exit 130, no traceback."""
    process = subprocess.Popen([str(TRAIN), "--data", str(train_shard_dir), "--out", str(tmp_path / "out"), *TINY],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # typer has parsed the options; torch is loading (or, on a fast machine, later)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(("interrupted by SIGINT;", "stopped by SIGINT after step"))
    assert any(hint in last for hint in ("run the command again", "--overwrite", "continue with --resume"))
    no_temporary_files(tmp_path)


def test_a_stale_temporary_checkpoint_of_a_killed_run_is_removed(train_shard_dir, run_copy):
    stale = run_copy / "checkpoints" / ".step-0000003.tmp"
    stale.mkdir()
    result = invoke("--data", train_shard_dir, "--out", run_copy, *tiny(max_steps=4), "--resume")
    assert result.exit_code == 0, result.output
    no_temporary_files(run_copy)
