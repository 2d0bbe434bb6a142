"""The ``electra-data build`` graph and its driver.

    plan -> read items -> units -> clean + filter ---> exact dedup ---> near dedup -> duplicates
                                    (docs + runs)                                        |
    select (rejects, counts, vocab sample) <---------------------------------------------+
       -> [vocab] -> tokenize + pack (example runs) -> sort runs by shard -> merge into shards
                                                                                          |
    manifest.json  <- written by the driver, last, once the pipeline has succeeded  <-----+

Documents, dedup keys and examples stay in the work directory (``pipelines.workdir``) between
stages; only names, counts and duplicates cross the graph (``electra_data.spill``).

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
import json
import logging
import os
import shutil
import time

import apache_beam as beam

from electra_data import fsio
from electra_data.config import BuildConfig
from electra_data.console import deferred_interrupts
from electra_data.errors import UserError, user_error_text
from electra_data.documents import Rejected
from electra_data.inputs import relative_names, resolve
from electra_data.progress import ProgressDisplay
from electra_data.shards import MANIFEST, read_manifest, write_manifest
from electra_data.vocab import is_lowercase, load_tokenizer, vocab_sha256
from electra_data.pipelines import workdir
from electra_data.pipelines.dedup import ExactDedup, NearDedup
from electra_data.pipelines.duplicates_report import ChosenClusters, DuplicatesReport
from electra_data.pipelines.manifest import build_manifest, nothing_to_train, stage_seconds
from electra_data.pipelines.metrics import REJECTED
from electra_data.pipelines.outdir import (
    check_inputs_apart, check_not_in_a_dataset_or_run, check_remote_out, check_work_dir, check_writable, replaced_entries,
)  # fmt: skip
from electra_data.pipelines.plan import Plan, plan_build
from electra_data.pipelines.read import TALLY, ProcessUnits, ReadItems
from electra_data.pipelines.runner import is_local as is_local_runner
from electra_data.pipelines.runner import make_pipeline, staged_files, wait
from electra_data.pipelines.select import SelectDocuments
from electra_data.pipelines.tokenize import PackUnits, TrainVocab
from electra_data.pipelines.write import (
    BUILD_DIR, TOKENIZER_FILES, WriteJson, WriteRejectsSample, WriteShards, WriteTokenizer, staging_dir, swap_in,
)  # fmt: skip

__all__ = ["build_graph", "vocab_graph", "run_build", "run_vocab"]

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
    manifest = build_manifest(cfg, root, files, tokenizer_json, wall, stage_seconds(result))
    stats = {k: manifest[k] for k in ("counts", "splits", "timing", "tokenizer")}
    fsio.write_bytes_atomic(fsio.join(root, "reports", "stats.json"), json.dumps(stats, indent=2).encode())
    if fsio.is_local(root):
        shutil.rmtree(os.path.join(root, BUILD_DIR), ignore_errors=True)
    problem = nothing_to_train(manifest)
    if problem is None:
        write_manifest(root, manifest)
    return problem


def _build_local(pipeline: beam.Pipeline, cfg: BuildConfig, files, plan: Plan, work: str, tokenizer_json: str | None) -> str | None:
    """Build in a staging directory inside ``cfg.out`` and swap the result in once complete.

    A build with nothing to train on leaves its reports in ``cfg.out``, for the user to see why,
    unless that holds a dataset: it then stays as it was. Returns that problem, or None.
    """
    old = replaced_entries(cfg.out, cfg.overwrite)
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
    check_work_dir(work, cfg, files)
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
    check_inputs_apart(cfg, files)
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
            replaced_entries(cfg.out, cfg.overwrite)  # before any work: it may refuse
            problem = _with_work_dir(
                work, cfg, files, resume, lambda: _build_local(pipeline, cfg, files, plan, work, tokenizer_json), shown
            )
        else:  # object stores rename by copying: the build writes in place, the manifest last
            check_remote_out(cfg)
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
    check_inputs_apart(cfg, files)
    local = fsio.is_local(cfg.out)
    if local:
        check_not_in_a_dataset_or_run(cfg.out)
    old = [name for name in TOKENIZER_FILES if fsio.exists(fsio.join(cfg.out, name))]
    if old and not cfg.overwrite:
        raise UserError(f"{cfg.out} already holds a vocab; pass --overwrite to replace it")
    if local and os.path.isfile(cfg.out):
        raise UserError(f"--out {cfg.out} is a file; give a directory")
    if local:
        check_writable(fsio.nearest_existing(cfg.out), cfg.out)
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
