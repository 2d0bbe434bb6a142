"""Tokenize + pack throughput per core, against two baselines measured in the same run.

    python bench/bench_pack.py [--repeat 3] [--scale 1 --scale 4]

Documents: the bundled Wikipedia sample (extracted and cleaned as the build does) and the bundled
books, ~5 MB of text. Everything runs on one core (RAYON_NUM_THREADS=1 is set before tokenizers
loads), so the figures are per core. Compared:

  ours   sentence split + tokenize + ELECTRA packing (electra_data.packing), the build's hot path
  (a)    the bound: tokenizers' encode_batch over whole documents, nothing else
  (b)    the usual Hugging Face recipe: datasets.map with a fast tokenizer, then group_texts into
         128-token blocks (run_mlm.py), with datasets' default on-disk caching (in a fresh
         directory each run, so nothing is reused); it also loses sentence boundaries and the
         tail tokens

Targets: ours >= 0.8x (a) and >= 2x (b); bytes on disk per token <= 2.1; peak memory of packing
flat as the input grows (measured in a child process per scale).
"""

from __future__ import annotations

import os

os.environ["RAYON_NUM_THREADS"] = "1"  # per-core figures: tokenizers must not use other cores
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LEN = 128


def load_documents() -> list[str]:
    from electra_data.clean import clean_text
    from electra_data.articles import page_drop_reason
    from electra_data.wiki import iter_pages
    from electra_data.wikitext import wikitext_to_text

    dump = next((ROOT / "sample_data" / "wikipedia").glob("*.bz2"))
    docs = [clean_text(wikitext_to_text(p.text)) for p in iter_pages(dump) if page_drop_reason(p) is None]
    for book in sorted((ROOT / "sample_data" / "books").glob("*.txt")):
        docs.append(clean_text(book.read_text(encoding="utf-8-sig")))
    return [d for d in docs if d]


def tokenizer_for(docs: list[str]):
    from electra_data.vocab import train_wordpiece

    return train_wordpiece(docs, vocab_size=30522, lowercase=True)


def ours(docs, tokenizer) -> int:
    from electra_data.packing import pack_document, tokenize_document

    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokens = 0
    for i, doc in enumerate(docs):
        sentences = tokenize_document(doc, tokenizer)
        for ids, _ in pack_document(sentences, max_seq_length=MAX_LEN, cls_id=cls, sep_id=sep, rng=random.Random(i)):
            tokens += len(ids)
    return tokens


def bound(docs, tokenizer) -> int:
    return sum(len(e.ids) for e in tokenizer.encode_batch(docs, add_special_tokens=False))


def hf_recipe(docs, tokenizer) -> int:
    import datasets
    from transformers import PreTrainedTokenizerFast

    datasets.disable_progress_bars()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer)

    def group_texts(batch):
        ids = [tok for row in batch["input_ids"] for tok in row]
        total = len(ids) // MAX_LEN * MAX_LEN
        return {"input_ids": [ids[i : i + MAX_LEN] for i in range(0, total, MAX_LEN)]}

    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "text.jsonl")
        with open(text, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": d}) + "\n" for d in docs)
        ds = datasets.load_dataset("json", data_files=text, split="train", cache_dir=os.path.join(tmp, "cache"))
        ds = ds.map(lambda b: fast(b["text"], return_special_tokens_mask=True), batched=True, remove_columns=["text"])
        ds = ds.map(group_texts, batched=True, remove_columns=ds.column_names)
        return len(ds) * MAX_LEN


def best_of(fn, repeat: int, *args) -> tuple[float, int]:
    times, out = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), out


def bytes_per_token(docs, tokenizer) -> float:
    from electra_data.packing import pack_document, tokenize_document
    from electra_data.shards import write_shard

    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")

    def examples():
        for i, doc in enumerate(docs):
            yield from pack_document(tokenize_document(doc, tokenizer), max_seq_length=MAX_LEN, cls_id=cls, sep_id=sep, rng=random.Random(i))

    with tempfile.TemporaryDirectory() as tmp:
        info = write_shard(os.path.join(tmp, "s.arrow"), examples(), vocab_size=tokenizer.get_vocab_size())
    return info["bytes"] / info["tokens"]


def peak_memory_child(scale: int) -> None:
    """Child process: pack the documents ``scale`` times and print peak RSS in MB."""
    docs = load_documents()
    tokenizer = tokenizer_for(docs)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(scale):
        ours(docs, tokenizer)
    print(base / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method (best is kept)")
    parser.add_argument("--scale", type=int, action="append", help="input multiples for the memory check")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        peak_memory_child(args.memory_child)
        return

    docs = load_documents()
    mb = sum(len(d.encode("utf-8")) for d in docs) / 2**20
    tokenizer = tokenizer_for(docs)
    print(f"{len(docs)} documents, {mb:.1f} MB of text, vocab {tokenizer.get_vocab_size():,}, one core")
    results = {}
    for name, fn in (("ours (split + tokenize + pack)", ours), ("(a) encode_batch bound", bound), ("(b) HF map + group_texts", hf_recipe)):
        seconds, tokens = best_of(fn, args.repeat, docs, tokenizer)
        results[name] = seconds
        print(f"{name:34s} {seconds:6.2f} s  {mb / seconds:6.2f} MB/s  {tokens / seconds / 1e3:8.1f} k tokens/s")
    ours_s = results["ours (split + tokenize + pack)"]
    print(f"ratio vs (a) bound:      {results['(a) encode_batch bound'] / ours_s:.2f}x  (target >= 0.8)")
    print(f"ratio vs (b) HF recipe:  {results['(b) HF map + group_texts'] / ours_s:.2f}x  (target >= 2)")
    print(f"bytes on disk per token: {bytes_per_token(docs, tokenizer):.3f}  (target <= 2.1)")
    for scale in args.scale or [1, 4]:
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(scale)], capture_output=True, text=True, check=True)
        before, peak = map(float, out.stdout.split())
        print(f"peak RSS packing {scale}x the input: {peak:.0f} MB (after loading: {before:.0f} MB)")


if __name__ == "__main__":
    main()
