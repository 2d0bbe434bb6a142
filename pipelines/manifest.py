"""The manifest of a finished build: counts from the data, reconciled; shards; the tokenizer's
facts; what the user asked for and did not get; timings.
"""

from __future__ import annotations

import datetime
import json

from apache_beam.metrics.metric import MetricsFilter

import electra_data
from electra_data import fsio
from electra_data.config import BuildConfig
from electra_data.dedup import MINHASH_SCHEME, SHINGLE_HASH, lsh_params, verify_margin
from electra_data.shards import FORMAT_NAME, FORMAT_VERSION, SPLITS
from electra_data.vocab import is_lowercase, special_token_ids, vocab_sha256
from electra_data.pipelines.metrics import TIME_NAMESPACE
from electra_data.pipelines.write import BUILD_DIR

__all__ = ["build_manifest", "dataset_warnings", "nothing_to_train", "stage_seconds"]

# The validation split may exceed --validation-fraction this much (a ratio and a share of all
# examples) before the build warns: it is drawn by document, so a few long books overshoot it.
_VALIDATION_OVERSHOOT = (2.0, 0.01)


def stage_seconds(result) -> dict[str, float]:
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(TIME_NAMESPACE))["counters"]
    except Exception:  # noqa: BLE001 - a runner without metrics support only loses the timings
        return {}
    seconds: dict[str, float] = {}
    for c in counters:
        value = c.committed if c.committed is not None else c.attempted
        seconds[c.key.metric.name] = seconds.get(c.key.metric.name, 0.0) + value / 1000
    return {k: round(v, 2) for k, v in sorted(seconds.items())}


def _by_source(tallies: dict[str, int]) -> dict[str, dict]:
    sources: dict[str, dict] = {}
    for key, n in sorted(tallies.items()):
        if "/" not in key:
            continue
        source, name = key.split("/", 1)
        counts = sources.setdefault(source, {"read": 0, "kept": 0, "dropped": {}})
        if name.startswith("dropped:"):
            counts["dropped"][name.split(":", 1)[1]] = n
        else:
            counts[name] = n
    return sources


def dataset_warnings(cfg: BuildConfig, splits: dict, train_shards: int, documents_kept: int) -> list[str]:
    """What the user asked for and did not get, though the dataset is sound."""
    warnings = []
    examples = sum(s["examples"] for s in splits.values())
    if cfg.num_shards is not None and train_shards < cfg.num_shards:
        warnings.append(
            f"--num-shards {cfg.num_shards}: the {splits['train']['examples']:,} train examples fill only "
            f"{train_shards} of the shards (examples go to shards by hash), so {train_shards} were written, none "
            "empty; ask for far fewer shards than train examples to get as many as you ask for"
        )
    share = splits["validation"]["examples"] / examples if examples else 0.0
    ratio, points = _VALIDATION_OVERSHOOT
    if share > ratio * cfg.validation_fraction and share - cfg.validation_fraction > points:
        warnings.append(
            f"the validation split holds {share:.1%} of the examples ({splits['validation']['examples']:,} of "
            f"{examples:,}), far above --validation-fraction {cfg.validation_fraction}: whole documents are held "
            f"out, and there are only {documents_kept:,}; pass a smaller --validation-fraction (0 for none) to "
            "train on more"
        )
    return warnings


def build_manifest(
    cfg: BuildConfig, root: str, files: dict[str, list[str]], tokenizer_json: str, wall: float, stage_seconds: dict
) -> dict:
    """The manifest of the build written in ``root``.

    Raises:
        RuntimeError: if the counts do not reconcile (read = kept + dropped): a bug, never a dataset.
    """
    from tokenizers import Tokenizer

    shards = sorted(json.loads(fsio.read_bytes(fsio.join(root, BUILD_DIR, "shards.json"))), key=lambda s: s["path"])
    tallies = dict(json.loads(fsio.read_bytes(fsio.join(root, BUILD_DIR, "counts.json"))))
    dropped = {k.split(":", 1)[1]: v for k, v in sorted(tallies.items()) if k.startswith("dropped:")}
    if tallies.get("read", 0) != tallies.get("kept", 0) + sum(dropped.values()):
        raise RuntimeError(f"the build's counts do not reconcile (read = kept + dropped): {tallies}")
    splits = {
        split: {
            "examples": sum(s["examples"] for s in shards if s["split"] == split),
            "tokens": sum(s["tokens"] for s in shards if s["split"] == split),
        }
        for split in SPLITS
    }
    examples = sum(s["examples"] for s in splits.values())
    tokens = sum(s["tokens"] for s in splits.values())
    tokenizer = Tokenizer.from_str(tokenizer_json)
    bands, rows = lsh_params(cfg.dedup_threshold, cfg.minhash_perms)
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "tool_version": electra_data.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": cfg.to_dict(),
        "inputs": files,
        "max_seq_length": cfg.max_seq_length,
        "tokenizer": {
            "path": "tokenizer",
            "type": "wordpiece",
            "trained": cfg.vocab is None,
            "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
            "lowercase": is_lowercase(tokenizer),
            "special_tokens": special_token_ids(tokenizer),
            "vocab_sha256": vocab_sha256(tokenizer),
            # coverage of this corpus: a high [UNK] rate or many tokens per word means the vocab
            # does not fit the text (e.g. a reused vocab on another language or domain)
            "unk_rate": round(tallies.get("unk_tokens", 0) / max(1, tallies.get("tokens", 0)), 6),
            "tokens_per_word": round(tallies.get("tokens", 0) / max(1, tallies.get("words", 0)), 4),
        },
        "dedup": {
            "mode": cfg.dedup,
            "minhash_scheme": MINHASH_SCHEME,
            "shingle_hash": SHINGLE_HASH,
            "bands": bands,
            "rows": rows,
            "verify": cfg.dedup_verify,
            # estimates within this of the threshold were settled by the exact Jaccard
            "verify_margin": round(verify_margin(cfg.dedup_threshold, cfg.minhash_perms), 4) if cfg.dedup_verify else None,
            "rounds": cfg.dedup_rounds,
        },
        "counts": {
            "documents_read": tallies.get("read", 0),
            "documents_kept": tallies.get("kept", 0),
            "dropped": dropped,
            "exact_duplicates": dropped.get("exact_duplicate", 0),
            "near_duplicates": dropped.get("near_duplicate", 0),
            "examples": examples,
            "tokens": tokens,
            "padding_share": round(1 - tokens / (examples * cfg.max_seq_length), 4) if examples else 0.0,
            "tokens_lost": tallies.get("tokens", 0) - tallies.get("packed_tokens", 0),
            "by_source": _by_source(tallies),
        },
        "splits": splits,
        "shards": shards,
        "warnings": dataset_warnings(cfg, splits, sum(s["split"] == "train" for s in shards), tallies.get("kept", 0)),
        "timing": {"wall_seconds": round(wall, 2), "stage_cpu_seconds": stage_seconds},
    }


def nothing_to_train(manifest: dict) -> str | None:
    """Why a build's result is no dataset to train on; None when it is one."""
    counts = manifest["counts"]
    if counts["examples"] == 0:
        dropped = ", ".join(f"{reason} {n}" for reason, n in counts["dropped"].items()) or "none"
        return (
            f"no document was kept, so there is nothing to train on: {counts['documents_read']} read, "
            f"dropped {dropped}; check --input, or relax the quality filters with --quality NAME=VALUE"
        )
    if manifest["splits"]["train"]["examples"] == 0:
        return (
            f"all {counts['documents_kept']} kept document(s) went to the validation split, so there is nothing "
            "to train on; give more documents, or pass --validation-fraction 0"
        )
    return None
