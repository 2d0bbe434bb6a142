"""The ``electra-data build`` graph and its driver.

    read -> clean + filter -> exact dedup -> near dedup -> [vocab] -> tokenize + pack -> shards
                                                                                          |
    manifest.json  <- written by the driver, last, once the pipeline has succeeded  <-----+

Every dropped document leaves the graph on a ``rejected`` side output with one reason; the
counts in the manifest are counted from the data (so they reconcile exactly: read = kept +
dropped), and Beam counters mirror them for monitoring.

Before anything runs the driver checks all that can fail early: the inputs resolve, the output
directory lies apart from them, holds nothing that no build wrote and is writable, the vocab loads
and Beam takes its options. A local run then writes into a staging directory inside ``--out`` and
swaps the result in only once complete (``pipelines.write``): a failed or interrupted run leaves
an earlier dataset as it was.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import time

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

import electra_data
from electra_data import fsio
from electra_data.config import BuildConfig
from electra_data.console import deferred_interrupts
from electra_data.dedup import MINHASH_SCHEME, SHINGLE_HASH, lsh_params, verify_margin
from electra_data.errors import UserError, user_error_text
from electra_data.documents import Rejected
from electra_data.inputs import relative_names, resolve
from electra_data.progress import ProgressDisplay
from electra_data.shards import FORMAT_NAME, FORMAT_VERSION, MANIFEST, SPLITS, read_manifest, write_manifest
from electra_data.vocab import is_lowercase, load_tokenizer, special_token_ids, vocab_sha256
from electra_data.pipelines import workdir
from electra_data.pipelines.dedup import ExactDedup, NearDedup
from electra_data.pipelines.duplicates_report import ChosenClusters, DuplicatesReport
from electra_data.pipelines.metrics import REJECTED, TIME_NAMESPACE
from electra_data.pipelines.plan import Plan, plan_build
from electra_data.pipelines.read import TALLY, ProcessUnits, ReadItems
from electra_data.pipelines.runner import is_local as is_local_runner
from electra_data.pipelines.runner import make_pipeline, staged_files, wait
from electra_data.pipelines.select import SelectDocuments
from electra_data.pipelines.tokenize import PackUnits, TrainVocab
from electra_data.pipelines.write import (
    BUILD_DIR, TOKENIZER_FILES, WriteJson, WriteRejectsSample, WriteShards, WriteTokenizer, foreign_entries,
    staging_dir, swap_in,
)  # fmt: skip

__all__ = ["build_graph", "vocab_graph", "run_build", "run_vocab"]

# The validation split may exceed --validation-fraction this much (a ratio and a share of all
# examples) before the build warns: it is drawn by document, so a few long books overshoot it.
_VALIDATION_OVERSHOOT = (2.0, 0.01)


def _not_a_book(book: tuple[str, str]) -> Rejected:
    path, name = book
    message = f"{path}: in a books directory, and only *.txt files there are books; give it as an --input of its own to read it"
    return Rejected(f"books:{name}", "books", name, "not_a_book", message[:300])


def _tallies_of(rejected_books):
    return rejected_books | "TallyNotBooks" >> beam.FlatMap(
        lambda r: [("read", 1), ("books/read", 1), (f"dropped:{r.reason}", 1), (f"books/dropped:{r.reason}", 1)]
    )


def _near_params(cfg: BuildConfig) -> dict | None:
    if not cfg.near_dedup:
        return None
    return {"threshold": cfg.dedup_threshold, "num_perm": cfg.minhash_perms, "seed": cfg.seed, "ngram": cfg.shingle_size}


def _documents(p: beam.Pipeline, cfg: BuildConfig, files: dict[str, list[str]], plan: Plan, work: str):
    """Read, clean and deduplicate into units on disk.

    Returns:
        (unit names, duplicates to drop, the kept documents' selection outputs, all rejected,
        all tallies so far).
    """
    items = p | "PlanItems" >> beam.Create(plan.items)
    raw, read_rejected, read_tallies = items | "Read" >> ReadItems(
        work, plan.unit_bytes, keep_disambiguation=cfg.keep_disambiguation, fmt=cfg.format, text_field=cfg.text_field,
        doc_separator=cfg.doc_separator, keep_code=cfg.keep_code, on_error=cfg.on_error,
    )  # fmt: skip
    units, clean_rejected, clean_tallies = raw | "Process" >> ProcessUnits(
        work, plan.partitions, keep_tables=cfg.keep_tables, quality=cfg.quality, exact=cfg.exact_dedup,
        near=_near_params(cfg),
    )  # fmt: skip
    names = relative_names([*files.get("books", []), *files.get("not_books", [])])
    not_books = (
        p
        | "NotBooks" >> beam.Create([(path, names[path]) for path in files.get("not_books", [])])
        | "RejectNotBooks" >> beam.Map(_not_a_book)
    )
    exact = (
        units | "ExactDedup" >> ExactDedup(work, plan.partitions)
        if cfg.exact_dedup
        else p | "NoExactDedup" >> beam.Create([])
    )
    if cfg.near_dedup:
        near = (units, exact) | "NearDedup" >> NearDedup(
            work, plan.partitions, threshold=cfg.dedup_threshold, num_perm=cfg.minhash_perms, ngram=cfg.shingle_size,
            verify=cfg.dedup_verify, rounds=cfg.dedup_rounds,
        )  # fmt: skip
        drops = (exact, near) | "AllDrops" >> beam.Flatten()
    else:
        drops = exact
    chosen = drops | "ChosenClusters" >> ChosenClusters()
    selected = units | "Select" >> SelectDocuments(work, drops, chosen, seed=cfg.seed)
    rejected = (read_rejected, clean_rejected, not_books, selected[REJECTED]) | "AllRejected" >> beam.Flatten()
    tallies = [read_tallies, clean_tallies, _tallies_of(not_books), selected[TALLY]]
    return units, drops, selected, rejected, tallies


def _train_vocab(selected, cfg: BuildConfig, work: str):
    return selected.sample | "TrainVocab" >> TrainVocab(
        work, vocab_size=cfg.vocab_size, lowercase=cfg.lowercase, sample_docs=cfg.vocab_sample_docs,
        sample_mb=cfg.vocab_sample_mb,
    )  # fmt: skip


def vocab_graph(p: beam.Pipeline, cfg: BuildConfig, files: dict[str, list[str]], plan: Plan, work: str, out: str | None = None) -> None:
    """Add ``electra-data vocab`` to ``p``: the build's documents -> a tokenizer in ``out`` (``cfg.out``)."""
    _, _, selected, _, _ = _documents(p, cfg, files, plan, work)
    _ = _train_vocab(selected, cfg, work) | "WriteTokenizer" >> WriteTokenizer(out or cfg.out, max_seq_length=cfg.max_seq_length)


def build_graph(
    p: beam.Pipeline, cfg: BuildConfig, files: dict[str, list[str]], plan: Plan, work: str,
    tokenizer_json: str | None = None, out: str | None = None,
) -> None:  # fmt: skip
    """Add the whole build to ``p``, reading ``files`` (per source) as ``plan`` says, keeping its
    work in ``work`` and writing into ``out`` (``cfg.out``).

    ``tokenizer_json`` reuses a vocab instead of training one.
    """
    out = out or cfg.out
    units, drops, selected, rejected, tallies = _documents(p, cfg, files, plan, work)
    if tokenizer_json is None:
        tokenizer = _train_vocab(selected, cfg, work)
    else:
        tokenizer = p | "GivenVocab" >> beam.Create([tokenizer_json])
    _ = tokenizer | "WriteTokenizer" >> WriteTokenizer(fsio.join(out, "tokenizer"), max_seq_length=cfg.max_seq_length)

    packed, pack_tallies = units | "Pack" >> PackUnits(
        work, tokenizer, selected.holdout, drops, max_seq_length=cfg.max_seq_length, seed=cfg.seed,
        validation_fraction=cfg.validation_fraction,
    )  # fmt: skip
    shards = packed | "WriteShards" >> WriteShards(
        work, out, tokenizer, num_shards=cfg.num_shards, shard_size_mb=cfg.shard_size_mb
    )
    _ = shards | "ShardIndex" >> WriteJson(fsio.join(out, BUILD_DIR, "shards.json"))

    _ = rejected | "RejectsReport" >> WriteRejectsSample(fsio.join(out, "reports", "rejects.jsonl"))
    if cfg.exact_dedup or cfg.near_dedup:
        report = DuplicatesReport(fsio.join(out, "reports", "duplicates.jsonl"))
        _ = (selected.picked, rejected) | "DuplicatesReport" >> report
    counts = (
        [*tallies, pack_tallies]
        | "Tallies" >> beam.Flatten()
        | "SumTallies" >> beam.CombinePerKey(sum)
    )
    _ = counts | "Counts" >> WriteJson(fsio.join(out, BUILD_DIR, "counts.json"))


def _check_apart(out: str, patterns: list[str], files: list[str]) -> None:
    """Refuse an output directory that overlaps the inputs: the next build would read this one's
    output, and replacing it could delete an input.

    Raises:
        UserError: naming both paths.
    """
    for pattern in patterns:
        if fsio.is_local(pattern) and os.path.isdir(pattern) and fsio.within(out, pattern):
            where = "is" if fsio.within(pattern, out) else "lies in"
            raise UserError(
                f"--out {out} {where} the input directory {pattern}: the next build would read this one's output "
                "as input; choose an --out outside the inputs"
            )
    for path in files:
        if fsio.within(path, out):
            raise UserError(
                f"the input {path} lies in --out {out}, which a build replaces; choose an --out apart from the inputs"
            )


def _writable(directory: str, out: str) -> None:
    try:
        fsio.probe_write(directory)
    except OSError as err:
        raise UserError(
            f"--out {out}: cannot write in {directory} ({err.strerror}); choose another --out or make it writable"
        ) from err


def _replaced_entries(out: str, overwrite: bool) -> list[str]:
    """What a local build will replace in ``out``: every entry, once it is sure they are a build's.

    Checks everything about ``out`` that could fail later, before anything is written.

    Raises:
        UserError: ``out`` is a file, holds files no build wrote, holds a dataset and
            ``overwrite`` is off, or is not writable.
    """
    if not os.path.exists(out):
        _writable(fsio.nearest_existing(out), out)
        return []
    if not os.path.isdir(out):
        raise UserError(f"--out {out} is a file; give a directory")
    entries = os.listdir(out)
    foreign = foreign_entries(out)
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        what = "holds a dataset and also" if MANIFEST in entries else "is not empty and not an electra-data shard directory: it holds"
        raise UserError(
            f"--out {out} {what} {listed}, which no build wrote and a build never deletes; "
            "choose another directory, or move them out"
        )
    if MANIFEST in entries and not overwrite:
        raise UserError(f"{out} already holds a dataset; pass --overwrite to replace it")
    for root, _, _ in os.walk(out):  # the swap moves and deletes in each of these
        _writable(root, out)
    return entries


# What marks a directory whose files belong together: a dataset (its manifest) or a training run
# (the config electra-train writes first; named here, as the trainer is not imported), each
# told by a field that file has.
_OWNERS = ((MANIFEST, "format", FORMAT_NAME, "dataset"), ("train_config.json", "model_size", None, "training run"))


def _marked(path: str, field: str, value: str | None) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and field in document and (value is None or document[field] == value)


def _check_not_in_a_dataset_or_run(out: str) -> None:
    """Refuse a vocab ``--out`` that is, or lies in, a dataset or a training run: its shards or
    model were made with the vocab there, and a new one would replace it or mix with it.

    Raises:
        UserError: naming the dataset or run.
    """
    path = os.path.realpath(out)
    while True:
        for marker, field, value, kind in _OWNERS:
            if _marked(os.path.join(path, marker), field, value):
                where = "is" if path == os.path.realpath(out) else "lies in"
                raise UserError(
                    f"--out {out} {where} the {kind} {path}, which was made with the vocab it holds: a new vocab "
                    "there would break it; choose an --out outside it"
                )
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def _check_remote_out(cfg: BuildConfig) -> None:
    if fsio.exists(fsio.join(cfg.out, MANIFEST)) and not cfg.overwrite:
        raise UserError(f"{cfg.out} already holds a dataset; pass --overwrite to replace it")


def _stage_seconds(result) -> dict[str, float]:
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


def _warnings(cfg: BuildConfig, splits: dict, train_shards: int, documents_kept: int) -> list[str]:
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


def _manifest(
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
        "warnings": _warnings(cfg, splits, sum(s["split"] == "train" for s in shards), tallies.get("kept", 0)),
        "timing": {"wall_seconds": round(wall, 2), "stage_cpu_seconds": stage_seconds},
    }


def _nothing_to_train(manifest: dict) -> str | None:
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


def _write_dataset(
    pipeline: beam.Pipeline, cfg: BuildConfig, files, plan: Plan, work: str, tokenizer_json: str | None, root: str
) -> str | None:  # fmt: skip
    """Run the build into ``root`` and write its manifest there, last.

    Returns:
        None, or why the result is nothing to train on: then there is no manifest, and the
        reports (why every document was dropped) are all there is.
    """
    start = time.perf_counter()
    build_graph(pipeline, cfg, files, plan, work, tokenizer_json, out=root)
    result = pipeline.run()
    wait(result)
    wall = time.perf_counter() - start
    if tokenizer_json is None:
        tokenizer_json = fsio.read_bytes(fsio.join(root, "tokenizer", "tokenizer.json")).decode("utf-8")
    manifest = _manifest(cfg, root, files, tokenizer_json, wall, _stage_seconds(result))
    stats = {k: manifest[k] for k in ("counts", "splits", "timing", "tokenizer")}
    fsio.write_bytes_atomic(fsio.join(root, "reports", "stats.json"), json.dumps(stats, indent=2).encode())
    if fsio.is_local(root):
        shutil.rmtree(os.path.join(root, BUILD_DIR), ignore_errors=True)
    problem = _nothing_to_train(manifest)
    if problem is None:
        write_manifest(root, manifest)
    return problem


def _build_local(pipeline: beam.Pipeline, cfg: BuildConfig, files, plan: Plan, work: str, tokenizer_json: str | None) -> str | None:
    """Build in a staging directory inside ``cfg.out`` and swap the result in once complete.

    A build with nothing to train on leaves its reports in ``cfg.out``, for the user to see why,
    unless that holds a dataset: it then stays as it was. Returns that problem, or None.
    """
    old = _replaced_entries(cfg.out, cfg.overwrite)
    with staging_dir(cfg.out) as staging:
        problem = _write_dataset(pipeline, cfg, files, plan, work, tokenizer_json, staging)
        if problem and MANIFEST in old:
            return problem
        if problem:
            for name in set(os.listdir(staging)) - {"reports"}:
                shutil.rmtree(os.path.join(staging, name))
        with deferred_interrupts():
            swap_in(staging, cfg.out, old)
    return problem and f"{problem} (the build's reports are in {fsio.join(cfg.out, 'reports')})"


def _check_inputs_apart(cfg: BuildConfig, files: dict[str, list[str]]) -> None:
    patterns = [p for source_patterns in cfg.sources.values() for p in source_patterns]
    _check_apart(cfg.out, patterns, [f for source_files in files.values() for f in source_files])


def _check_work_dir(work: str, cfg: BuildConfig, files: dict[str, list[str]]) -> None:
    """Refuse a work directory that overlaps the output or an input: a build removes it."""
    if fsio.within(work, cfg.out) or fsio.within(cfg.out, work):
        raise UserError(f"--work-dir {work} and --out {cfg.out} overlap; give a work directory apart from the output")
    patterns = [p for source_patterns in cfg.sources.values() for p in source_patterns]
    for path in [*patterns, *(f for source_files in files.values() for f in source_files)]:
        if fsio.is_local(path) and (fsio.within(path, work) or (os.path.isdir(path) and fsio.within(work, path))):
            raise UserError(f"--work-dir {work} overlaps the input {path}; give a work directory apart from the inputs")


def _progress(work: str, plan: Plan, cfg: BuildConfig, beam_args: list[str], interval: float | None):
    """The progress display of a local run (``interval``: seconds between lines off a terminal),
    or nothing: no ``interval``, or a runner with its own monitoring."""
    if interval is None or not is_local_runner(beam_args) or not fsio.is_local(work):
        return contextlib.nullcontext()
    dedup = plan.partitions * (cfg.exact_dedup + cfg.near_dedup)
    return ProgressDisplay(work, total_bytes=plan.input_bytes, items={"read": len(plan.items), "dedup": dedup}, interval=interval)


def _with_work_dir(work: str, cfg: BuildConfig, files, resume: bool | None, run, progress) -> object:
    """Run ``run()`` with ``work`` prepared and ``progress`` shown; remove ``work`` once the run
    is through, or failed for its input or settings (resuming would meet the same); keep it if
    the run is interrupted or fails otherwise (a full disk, a killed worker), for ``--resume``."""
    _check_work_dir(work, cfg, files)
    workdir.prepare(work, cfg.to_dict(), files, resume=resume)
    try:
        with progress:
            result = run()
    except Exception as err:
        if user_error_text(err) is not None:
            workdir.remove(work)
        raise
    workdir.remove(work)
    return result


def run_build(
    cfg: BuildConfig, beam_args: list[str] = (), *, workers: int = 1, work_dir: str | None = None, resume: bool = False,
    progress: float | None = None,
) -> dict:  # fmt: skip
    """Run the build and write the manifest; returns it.

    ``work_dir`` (default: beside ``cfg.out``) holds the build's work between stages; it is
    removed after success and kept after a failure, for ``resume`` (``pipelines.workdir``).
    ``progress``: show the progress of a local run on stderr (a bar on a terminal, else a line
    every ``progress`` seconds).

    A ``--dry_run=True`` job is built and validated but not run: the result is then
    ``{"dry_run": True, "staged": [files staged for the workers]}``.

    Raises:
        UserError: for bad inputs, bad pipeline options, an output or work directory that
            overlaps the inputs, holds something else or is not writable, a work directory that
            ``resume`` cannot continue, or a result with nothing to train on.
    """
    files = resolve(cfg.sources)
    _check_inputs_apart(cfg, files)
    tokenizer_json = load_tokenizer(cfg.vocab, lowercase=None).to_str() if cfg.vocab else None
    work = work_dir or workdir.default_work_dir(cfg.out)
    pipeline, dry_run = make_pipeline(list(beam_args), workers)
    plan = plan_build(files, sizes=not dry_run)
    shown = _progress(work, plan, cfg, list(beam_args), progress)
    try:
        if dry_run:
            build_graph(pipeline, cfg, files, plan, work, tokenizer_json)
            return {"dry_run": True, "staged": staged_files(pipeline.run())}
        if fsio.is_local(cfg.out):
            _replaced_entries(cfg.out, cfg.overwrite)  # before any work: it may refuse
            problem = _with_work_dir(
                work, cfg, files, resume, lambda: _build_local(pipeline, cfg, files, plan, work, tokenizer_json), shown
            )
        else:  # object stores rename by copying: the build writes in place, the manifest last
            _check_remote_out(cfg)
            problem = _with_work_dir(
                work, cfg, files, resume, lambda: _write_dataset(pipeline, cfg, files, plan, work, tokenizer_json, cfg.out),
                shown,
            )
            problem = problem and f"{problem} (the build's reports are in {fsio.join(cfg.out, 'reports')})"
        if problem:
            raise UserError(problem)
    finally:
        shutil.rmtree(pipeline.local_tempdir, ignore_errors=True)  # Beam's, left if the pipeline never ran
    logging.getLogger(__name__).info("wrote %s", fsio.join(cfg.out, MANIFEST))
    return read_manifest(cfg.out)  # what the trainer will read: fail here, not there


def run_vocab(
    cfg: BuildConfig, beam_args: list[str] = (), *, workers: int = 1, work_dir: str | None = None,
    progress: float | None = None,
) -> dict:  # fmt: skip
    """Train a vocab on the build's cleaned, deduplicated documents and write it to ``cfg.out``.

    The tokenizer files replace those of an earlier run together, once all are written; no
    other file in ``cfg.out`` is touched. ``work_dir`` as for ``run_build``; the work of an
    interrupted run with the same settings is continued.

    Returns:
        The vocab's facts: ``path``, ``vocab_size``, ``lowercase``, ``vocab_sha256``.

    Raises:
        UserError: for bad inputs, an output directory that overlaps the inputs, lies in a
            dataset or a training run, or is not writable, or a vocab already in ``cfg.out``
            without ``overwrite``.
    """
    from tokenizers import Tokenizer

    files = resolve(cfg.sources)
    _check_inputs_apart(cfg, files)
    local = fsio.is_local(cfg.out)
    if local:
        _check_not_in_a_dataset_or_run(cfg.out)
    old = [name for name in TOKENIZER_FILES if fsio.exists(fsio.join(cfg.out, name))]
    if old and not cfg.overwrite:
        raise UserError(f"{cfg.out} already holds a vocab; pass --overwrite to replace it")
    if local and os.path.isfile(cfg.out):
        raise UserError(f"--out {cfg.out} is a file; give a directory")
    if local:
        _writable(fsio.nearest_existing(cfg.out), cfg.out)
    work = work_dir or workdir.default_work_dir(cfg.out)
    pipeline, dry_run = make_pipeline(list(beam_args), workers)
    plan = plan_build(files, sizes=not dry_run)

    def run() -> None:
        if local:
            with staging_dir(cfg.out) as staging:
                vocab_graph(pipeline, cfg, files, plan, work, out=staging)
                wait(pipeline.run())
                with deferred_interrupts():
                    swap_in(staging, cfg.out, old)
        else:  # object stores rename by copying: each file is written in place, atomically
            vocab_graph(pipeline, cfg, files, plan, work)
            wait(pipeline.run())

    try:
        if dry_run:
            vocab_graph(pipeline, cfg, files, plan, work)
            return {"dry_run": True, "staged": staged_files(pipeline.run())}
        _with_work_dir(work, cfg, files, None, run, _progress(work, plan, cfg, list(beam_args), progress))
    finally:
        shutil.rmtree(pipeline.local_tempdir, ignore_errors=True)  # Beam's, left if the pipeline never ran
    tokenizer = Tokenizer.from_str(fsio.read_bytes(fsio.join(cfg.out, "tokenizer.json")).decode("utf-8"))
    return {
        "path": cfg.out,
        "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
        "lowercase": is_lowercase(tokenizer),
        "vocab_sha256": vocab_sha256(tokenizer),
    }
