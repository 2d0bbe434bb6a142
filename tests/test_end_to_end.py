"""The README's main job, through the installed console scripts: dump -> shards -> checkpoint."""

import json
import subprocess
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining, ElectraModel

BIN = Path(sys.executable).parent


def _run(*args, cwd):
    result = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def test_build_train_and_load_with_transformers(tmp_path):
    built = _run("electra-data", "build", "--corpus", "wiki", cwd=tmp_path)
    assert "documents kept" in built.stdout
    assert (tmp_path / "shards" / "wiki" / "manifest.json").is_file()

    _run(
        "electra-train", "--data", "shards/wiki", "--out", "runs/wiki-tiny", "--model-size", "tiny",
        "--max-steps", "20", "--batch-size", "8", "--eval-batches", "2", cwd=tmp_path,
    )  # fmt: skip
    run = tmp_path / "runs" / "wiki-tiny"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(m["loss"])) for m in metrics if "loss" in m)

    tokenizer = AutoTokenizer.from_pretrained(run / "tokenizer")
    discriminator = ElectraForPreTraining.from_pretrained(run / "discriminator")
    generator = ElectraForMaskedLM.from_pretrained(run / "generator")
    encoder = ElectraModel.from_pretrained(run / "discriminator")
    batch = tokenizer(["Anarchism is a political philosophy.", "The Amazon River flows east."], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert discriminator(**batch).logits.shape == batch["input_ids"].shape
        assert generator(**batch).logits.shape == (*batch["input_ids"].shape, tokenizer.vocab_size)
        assert encoder(**batch).last_hidden_state.shape[-1] == discriminator.config.hidden_size
    # the generator's LM head is tied to its embeddings, and both models share the embeddings
    assert torch.equal(generator.generator_lm_head.weight, generator.electra.embeddings.word_embeddings.weight)
    assert torch.equal(generator.electra.embeddings.word_embeddings.weight, discriminator.electra.embeddings.word_embeddings.weight)
