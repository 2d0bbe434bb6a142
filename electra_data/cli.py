"""``electra-data``: build ELECTRA pre-training shards from raw corpora, and check them.

Every word on the command line of ``build`` and ``vocab`` is read or refused, never dropped
(``electra_data.argv``): flags that Beam's ``PipelineOptions`` know pass on to it (``--runner
DataflowRunner --project ... --region ... --temp_location gs://...``); anything else, an option
given twice or one that the others make moot is an error naming it. A signal stops any command
with one line, from its first import to its exit.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import errno
import logging
import os
import re
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional


from electra_data import startup

# Started as the `electra-data` command (not imported by another program, whose handlers stay)
_AS_COMMAND = startup.guard("electra-data")
# Once the command has finished, a signal still ends it with one line, not a death without a word.
_while_exiting = startup.exit_with(b"interrupted as the command exited: what it printed stands\n")


def _ignore_signals() -> None:
    """Python's last steps (freeing the modules) run with the default handlers, which would kill
    the process without a word: ignored then, a signal leaves the command's status as it is."""
    for signum in startup.SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


if _AS_COMMAND:
    atexit.register(_ignore_signals)  # registered first: runs last

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from electra_data import fsio  # noqa: E402
from electra_data.argv import OneValueCommand, moot_options, spread_inputs, unknown_args_message  # noqa: E402
from electra_data.console import fail, interruptible, stderr, stop, warn, worker_log  # noqa: E402
from electra_data.errors import UserError, user_error_text, without_beam_step  # noqa: E402
from electra_data.pipelines.workdir import default_work_dir  # noqa: E402 - light: fsio and errors only

__all__ = ["data_app", "user_error_message"]

data_app = typer.Typer(
    help="Build ELECTRA pre-training data: raw corpora -> cleaned, deduplicated, tokenized Arrow shards.",
    no_args_is_help=True,
    add_completion=False,
)
_out = Console()

# Beam re-raises a worker's exception as a RuntimeError whose text holds the original one; these
# find our own user-facing errors (and the filesystem's refusals to write) in it, so that the
# user sees a message.
_OS_ERROR_IN_TEXT = re.compile(r"\[Errno (\d+)\][^\n]*")
# What a user can do when the filesystem refuses to write, by errno ({error}: the system's words).
_WRITE_FAILURES = {
    errno.ENOSPC: "the disk is full ({error}); free space or choose another --out, then rerun",
    errno.EDQUOT: "the disk is full: your quota is used up ({error}); free space or choose another --out, then rerun",
    errno.EFBIG: (
        "a file grew past the largest that its filesystem or `ulimit -f` allows ({error}); pass a smaller "
        "--shard-size-mb or more --num-shards, or choose an --out on another filesystem, then rerun"
    ),
    errno.EROFS: "the filesystem became read-only ({error}); choose another --out, then rerun",
    errno.EIO: "a disk failed to read or write ({error}); check the disks of the input and of --out, then rerun",
}


def user_error_message(exc: BaseException) -> str | None:
    """The message of a user error, also when a Beam runner wrapped it in another exception,
    or advice for a write the filesystem refused."""
    if (text := user_error_text(exc)) is not None:
        return text
    for match in _OS_ERROR_IN_TEXT.finditer(without_beam_step(str(exc))):
        if advice := _WRITE_FAILURES.get(int(match.group(1))):
            return advice.format(error=match.group(0).strip())
    return None


class _Command(OneValueCommand):
    """A command that a signal stops with one line, wherever it is: the line says what the run
    left (``Interruption.left``), and the status is 128 + the signal's number."""

    def invoke(self, ctx):
        interruption = None
        try:
            with interruptible() as interruption:
                return super().invoke(ctx)
        except KeyboardInterrupt:
            if interruption is None or interruption.signal is None:
                raise
            stop(interruption.left() if interruption.left else "interrupted: nothing was written", interruption.signal)
        finally:
            if _AS_COMMAND:
                for signum in startup.SIGNALS:
                    signal.signal(signum, _while_exiting)


class _PipelineCommand(_Command):
    """``build`` and ``vocab``: every word on the command line is read, or refused with a message."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        # asking Beam imports it, which takes seconds: a Ctrl-C meanwhile is one line too
        interruption = None
        try:
            with interruptible() as interruption:
                return self._parse_args(ctx, args)
        except BaseException:
            if interruption is None or interruption.signal is None:
                raise
            stop("interrupted before the run started: nothing was written", interruption.signal)

    def _parse_args(self, ctx, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, spread_inputs(args))
        if rest and not ctx.resilient_parsing:
            from electra_data.pipelines.runner import beam_option_names, unknown_beam_args

            try:
                unknown = unknown_beam_args(rest)
            except UserError as err:
                fail(str(err))
            if unknown:
                ours = [name for param in self.get_params(ctx) for name in (*param.opts, *param.secondary_opts)]
                fail(unknown_args_message(unknown, ours + beam_option_names(), ctx.command_path))
        return rest


# Options shared by `build` and `vocab`: the corpus, its cleaning and dedup, and the vocab.
Corpus = Annotated[str, typer.Option(help="wiki (MediaWiki pages-articles .xml/.xml.bz2 dumps), books (plain-text books, one per file), wiki+books, or the path, directory or glob of a domain corpus (files after it, as an unquoted glob gives them, are read too).")]
Inputs = Annotated[
    Optional[list[str]],
    typer.Option(
        "--input", "-i",
        help="Input file, directory or glob (local or gs://...). Several: repeat --input, or list them after one "
        "(an unquoted glob such as books/*.txt): every one is read. Default: the bundled sample of wiki/books.",
    ),
]
Format = Annotated[Optional[str], typer.Option("--format", help="Domain corpus format: text, jsonl (.jsonl/.jsonl.gz/.jsonl.zst), parquet, rst or markdown. Default: from each file's extension.")]
TextField = Annotated[str, typer.Option(help="JSONL field / Parquet column holding the text.")]
DocSeparator = Annotated[str, typer.Option(help="Domain text files: 'file' (one document per file) or 'blank-line' (one per blank-line separated block).")]
KeepCode = Annotated[bool, typer.Option(help="Keep code blocks of reStructuredText/Markdown documents (dropped by default).")]
OnError = Annotated[str, typer.Option(help="Corrupt input: 'fail' stops with a message naming the file; 'skip' skips the bad record or stream and counts it.")]
Overwrite = Annotated[bool, typer.Option(help="Replace what an earlier run wrote in --out.")]
VocabSize = Annotated[int, typer.Option(help="Entries of the trained WordPiece vocab (may come out smaller on a small corpus).")]
Cased = Annotated[bool, typer.Option(help="Train a cased vocab (default: uncased with accents stripped, as BERT/ELECTRA).")]
VocabSampleDocs = Annotated[int, typer.Option(help="Documents in the seeded sample the vocab is trained on.")]
VocabSampleMb = Annotated[float, typer.Option(help="The most text (MB) in the vocab's sample: long documents such as books fill it before --vocab-sample-docs.")]
Seed = Annotated[int, typer.Option(help="Seed of every random choice (0 to 2**32 - 1): same input + config = same output.")]
Dedup = Annotated[str, typer.Option(help="Duplicates to remove: both, exact, near or none.")]
NoDedup = Annotated[bool, typer.Option("--no-dedup", help="Same as --dedup none.")]
DedupThreshold = Annotated[float, typer.Option(help="Jaccard similarity of word 5-grams at which documents are near duplicates.")]
DedupVerify = Annotated[bool, typer.Option("--dedup-verify/--no-dedup-verify", help="Check LSH candidates by their Jaccard (estimated; exact near the threshold) before counting them as near duplicates.")]
DedupRounds = Annotated[int, typer.Option(help="Large-star/small-star rounds of the near-duplicate clustering (the build fails loudly if too few).")]
MinhashPerms = Annotated[int, typer.Option(help="MinHash permutations per document.")]
ShingleSize = Annotated[int, typer.Option(help="Words per shingle for MinHash.")]
Quality = Annotated[
    Optional[list[str]],
    typer.Option(
        "--quality",
        help="Set a quality filter, NAME=VALUE or NAME=off; repeat for several. Names and defaults: min_words=50, "
        "max_words=off, min_mean_word_length=3, max_mean_word_length=10, max_symbol_word_ratio=0.1, "
        "min_alpha_word_fraction=0.8, max_duplicate_line_fraction=0.3, max_duplicate_paragraph_fraction=0.3.",
    ),
]
KeepDisambiguation = Annotated[bool, typer.Option(help="Keep Wikipedia disambiguation pages (dropped by default).")]
KeepTables = Annotated[bool, typer.Option(help="Keep the cell text of Wikipedia tables, a paragraph per row with cells joined by ' | ' (dropped by default).")]
Workers = Annotated[int, typer.Option(min=1, help="Processes for the local runner.")]
WorkDir = Annotated[
    Optional[str],
    typer.Option(help="Where the build keeps its work between stages (local path or gs://...); removed after success, "
                 "kept after a failure for --resume. Default: <out>.work beside --out."),
]  # fmt: skip
Resume = Annotated[bool, typer.Option(help="Continue a failed or interrupted build from the work kept in --work-dir (same command, same inputs).")]
ProgressEvery = Annotated[
    float, typer.Option(min=0.1, help="Off a terminal (a log), print the progress every this many seconds; on one, a live bar.")
]
DatasetDir = Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A shard directory written by `electra-data build`.")]

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}
_EPILOG = ("Flags of Beam's PipelineOptions pass through to it, e.g. --runner DataflowRunner --project P "
           "--region R --temp_location gs://B/tmp; any other flag is an error. Ctrl-C stops a run and leaves "
           "--out as it was.")


@data_app.callback()
def _main() -> None:
    """Build ELECTRA pre-training data: raw corpora -> cleaned, deduplicated, tokenized Arrow shards."""


def _config(**fields):
    from electra_data.clean import QualityConfig
    from electra_data.config import BuildConfig

    quality = _quality(fields.pop("quality") or [])
    no_dedup = fields.pop("no_dedup")
    try:
        return BuildConfig(
            inputs=tuple(fields.pop("inputs") or ()),
            lowercase=not fields.pop("cased"),
            dedup="none" if no_dedup else fields.pop("dedup"),
            quality=QualityConfig(**quality),
            **{k: v for k, v in fields.items() if k != "dedup"},
        )
    except ValueError as err:
        fail(str(err))


def _quality(settings: list[str]) -> dict:
    """``NAME=VALUE`` / ``NAME=off`` settings of the quality filters, as QualityConfig fields."""
    from electra_data.clean import QualityConfig

    known = {f.name for f in dataclasses.fields(QualityConfig)}
    values: dict = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        if name not in known or not value:
            fail(f"--quality {setting!r}: expected NAME=VALUE or NAME=off with NAME one of {', '.join(sorted(known))}")
        try:
            values[name] = None if value == "off" else float(value) if "." in value else int(value)
        except ValueError:
            fail(f"--quality {setting!r}: {value!r} is not a number or 'off'")
    return values


def _refuse_moot_options(ctx: typer.Context, cfg) -> None:
    """Refuse what the user asked for and the run would not do: an option that others make moot,
    or two that contradict each other. Only options given on the command line count."""
    # sources compared by name: recent typer vendors its own click
    given = {
        name for name in ctx.params
        if (source := ctx.get_parameter_source(name)) is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")
    }  # fmt: skip
    if {"no_dedup", "dedup"} <= given and cfg.dedup != ctx.params["dedup"]:
        fail(f"--no-dedup and --dedup {ctx.params['dedup']} contradict each other: pass one of them")
    remote = False
    if ctx.args:  # Beam's flags: Beam is imported already to check them
        from electra_data.pipelines.runner import is_local

        remote = not is_local(ctx.args)
    found = moot_options(cfg, given, remote)
    if found:
        params = {param.name: param for param in ctx.command.params}
        flags = [_typed(params[name], ctx.params[name]) for name in found[0]]
        verb = "has" if len(flags) == 1 else "have"
        fail(f"{', '.join(flags)} {verb} no effect with {found[1]}: drop {'it' if len(flags) == 1 else 'them'}")


def _typed(param, value) -> str:
    """The flag of ``param`` as the user typed it (``--no-cased`` for a false boolean flag)."""
    return param.secondary_opts[0] if param.secondary_opts and value is False else param.opts[0]


def _listing(out: str) -> dict[str, int] | None:
    """The entries of a local ``out`` (name -> inode): what a run changed shows against it."""
    if not fsio.is_local(out) or not os.path.isdir(out):
        return None
    return {entry.name: entry.inode() for entry in os.scandir(out)}


def _what_is_left(out: str, before: dict[str, int] | None, after: dict[str, int] | None) -> str:
    """One line on what an interrupted run left in ``out``, from its entries before and after."""
    if not fsio.is_local(out):
        return f"interrupted: {out} may hold part of this run's files, but no new manifest, so no reader takes them for a dataset"
    if after == before:
        return f"interrupted: nothing was written to {out}" + (" (what it held is untouched)" if before else "")
    if any(name.startswith(".tmp-") for name in set(after or {}) - set(before or {})):
        return f"interrupted: partial files are left in {out}/.tmp-*; delete them"
    return f"interrupted once the run had finished: {out} holds its output"


def _work_kept(work: str, again: str) -> str:
    """What to add to a message when a build stopped with its work kept for later."""
    if fsio.is_local(work) and os.path.isfile(os.path.join(work, "build.json")):
        return f"; the work done so far is kept in {work}: {again} to continue"
    return ""


def _run(step: str, cfg, beam_args: list[str], **options) -> dict:
    """Run ``run_build`` or ``run_vocab`` (the build shows its own progress).

    User errors become a message, SIGINT/SIGTERM a line on what was left (exit 128 + signal);
    other errors re-raise.
    """
    # Beam logs every stage of the local runner at INFO/WARNING, and a failing step's traceback at
    # ERROR before it raises: the error reaches us here, and is a message or re-raised.
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    logging.getLogger().setLevel(logging.ERROR)
    before = _listing(cfg.out)
    work = options.get("work_dir") or default_work_dir(cfg.out)
    again = "run the same command with --resume" if "resume" in options else "run the same command again"
    with interruptible() as interruption:
        interruption.left = lambda: _what_is_left(cfg.out, before, _listing(cfg.out)) + _work_kept(work, again)
        try:
            from electra_data.pipelines import build as pipelines

            return getattr(pipelines, step)(cfg, beam_args, **options)
        except BaseException as err:  # noqa: BLE001 - a signal, user errors: messages; the rest re-raise
            if interruption.signal is not None:  # it may have broken an import: import nothing now
                with contextlib.suppress(FileNotFoundError):
                    os.remove(worker_log())  # the workers' ends: nothing the user needs
                stop(interruption.left(), interruption.signal)
            message = user_error_message(err) if isinstance(err, Exception) else None
            if message is not None and work not in message:
                message += _work_kept(work, again)
            elif isinstance(err, Exception) and fsio.is_local(work) and os.path.isdir(work):
                stderr.print(f"the work done so far is kept in {work}: {again} to continue", markup=False, highlight=False)
            if message is None:
                if os.path.exists(worker_log()):
                    stderr.print(f"the worker processes' output is in {worker_log()}", markup=False, highlight=False)
                raise
            with contextlib.suppress(FileNotFoundError):
                os.remove(worker_log())  # the workers' tracebacks of this error: the message says it all
            fail(message)


@data_app.command(cls=_PipelineCommand, context_settings=_PASS_THROUGH, epilog=_EPILOG)
def build(
    ctx: typer.Context,
    corpus: Corpus = "wiki",
    input: Inputs = None,
    format: Format = None,
    text_field: TextField = "text",
    doc_separator: DocSeparator = "file",
    keep_code: KeepCode = False,
    on_error: OnError = "fail",
    out: Annotated[Optional[str], typer.Option(help="Shard directory to write (local path or gs://...). Default: shards/<corpus name>.")] = None,
    overwrite: Overwrite = False,
    vocab: Annotated[
        Optional[Path],
        typer.Option(exists=True, help="Reuse this vocab (vocab.txt, tokenizer.json, or a tokenizer/checkpoint directory) instead of training one."),
    ] = None,
    vocab_size: VocabSize = 30522,
    cased: Cased = False,
    vocab_sample_docs: VocabSampleDocs = 50_000,
    vocab_sample_mb: VocabSampleMb = 256.0,
    max_seq_length: Annotated[int, typer.Option(help="Longest example in tokens, [CLS]/[SEP] included (128 for Small, 512 for Base/Large).")] = 128,
    validation_fraction: Annotated[float, typer.Option(help="Share of documents held out as the validation split.")] = 0.005,
    num_shards: Annotated[Optional[int], typer.Option(help="Number of train shards (validation gets one). Default: as many as --shard-size-mb gives.")] = None,
    shard_size_mb: Annotated[float, typer.Option(help="Target size of a train shard in MB, when --num-shards is not given.")] = 64.0,
    seed: Seed = 12345,
    dedup: Dedup = "both",
    no_dedup: NoDedup = False,
    dedup_threshold: DedupThreshold = 0.8,
    dedup_verify: DedupVerify = True,
    dedup_rounds: DedupRounds = 4,
    minhash_perms: MinhashPerms = 128,
    shingle_size: ShingleSize = 5,
    quality: Quality = None,
    keep_disambiguation: KeepDisambiguation = False,
    keep_tables: KeepTables = False,
    workers: Workers = 1,
    work_dir: WorkDir = None,
    resume: Resume = False,
    progress_every: ProgressEvery = 30.0,
) -> None:
    """Read a corpus, clean and deduplicate it, train or reuse a WordPiece vocab, pack ELECTRA examples, write Arrow shards + manifest."""
    fields = dict(locals())  # the options are the config's fields, less these:
    for name in ("ctx", "input", "out", "vocab", "workers", "work_dir", "resume", "progress_every"):
        fields.pop(name)
    cfg = _config(**fields, inputs=input, out=out or "", vocab=str(vocab) if vocab else None)
    _refuse_moot_options(ctx, cfg)
    manifest = _run(
        "run_build", cfg, list(ctx.args), workers=workers, work_dir=work_dir, resume=resume,
        progress=progress_every,
    )  # fmt: skip
    if manifest.get("dry_run"):
        _out.print(f"dry run: the job was built and validated, nothing was run; staged: {', '.join(manifest['staged'])}")
        return
    _print_summary(cfg.out, manifest)
    for warning in manifest.get("warnings", []):
        warn(warning)


@data_app.command(cls=_PipelineCommand, context_settings=_PASS_THROUGH, epilog=_EPILOG)
def vocab(
    ctx: typer.Context,
    out: Annotated[str, typer.Option(help="Directory for the vocab files (tokenizer.json, vocab.txt, ...); `build --vocab` takes it.")],
    corpus: Corpus = "wiki",
    input: Inputs = None,
    format: Format = None,
    text_field: TextField = "text",
    doc_separator: DocSeparator = "file",
    keep_code: KeepCode = False,
    on_error: OnError = "fail",
    overwrite: Overwrite = False,
    vocab_size: VocabSize = 30522,
    cased: Cased = False,
    vocab_sample_docs: VocabSampleDocs = 50_000,
    vocab_sample_mb: VocabSampleMb = 256.0,
    seed: Seed = 12345,
    dedup: Dedup = "both",
    no_dedup: NoDedup = False,
    dedup_threshold: DedupThreshold = 0.8,
    dedup_verify: DedupVerify = True,
    dedup_rounds: DedupRounds = 4,
    minhash_perms: MinhashPerms = 128,
    shingle_size: ShingleSize = 5,
    quality: Quality = None,
    keep_disambiguation: KeepDisambiguation = False,
    keep_tables: KeepTables = False,
    workers: Workers = 1,
    work_dir: WorkDir = None,
    progress_every: ProgressEvery = 30.0,
) -> None:
    """Train a WordPiece vocab alone, on the same cleaned and deduplicated documents a build uses."""
    fields = dict(locals())  # the options are the config's fields, less these:
    for name in ("ctx", "input", "workers", "work_dir", "progress_every"):
        fields.pop(name)
    cfg = _config(**fields, inputs=input)
    _refuse_moot_options(ctx, cfg)
    facts = _run(
        "run_vocab", cfg, list(ctx.args), workers=workers, work_dir=work_dir,
        progress=progress_every,
    )  # fmt: skip
    if facts.get("dry_run"):
        _out.print("dry run: the job was built and validated, nothing was run")
        return
    casing = "uncased" if facts["lowercase"] else "cased"
    _out.print(f"wrote a {facts['vocab_size']:,}-entry {casing} WordPiece vocab to {facts['path']} (sha256 {facts['vocab_sha256'][:12]}...)")


@data_app.command(cls=_Command)
def verify(directory: DatasetDir) -> None:
    """Check a shard directory: checksums, schema, every row's ids and structure, counts against the manifest."""
    from electra_data.verify import verify_dataset

    try:
        manifest = verify_dataset(str(directory))
    except UserError as err:
        fail(f"{directory}: {err}")
    examples = sum(s["examples"] for s in manifest["shards"])
    _out.print(f"OK: {len(manifest['shards'])} shards, {examples:,} examples match {directory}/manifest.json")


@data_app.command(cls=_Command)
def inspect(
    directory: DatasetDir,
    examples: Annotated[int, typer.Option(min=0, help="Decoded examples to show.")] = 3,
) -> None:
    """Show a shard directory: counts, length histogram, padding share and decoded examples."""
    from electra_data.verify import describe_dataset

    try:
        info = describe_dataset(str(directory), examples=examples)
    except UserError as err:
        fail(f"{directory}: {err}")
    table = Table(title=f"{directory}", show_header=False)
    for split, s in info["splits"].items():
        table.add_row(split, f"{s['examples']:,} examples, {s['tokens']:,} tokens")
    table.add_row("shards", str(info["shards"]))
    table.add_row("single-segment share", f"{info['single_segment_share']:.1%}")
    table.add_row("padding share", f"{info['padding_share']:.1%}")
    peak = max((c for _, _, c in info["length_histogram"]), default=0) or 1
    for lo, hi, count in info["length_histogram"]:
        table.add_row(f"length {lo}-{hi}", f"{count:>8,} {'#' * round(30 * count / peak)}")
    _out.print(table)
    for ex in info["decoded"]:
        _out.print(f"[bold]{ex['shard']} row {ex['row']}[/]")
        for i, segment in enumerate(ex["segments"]):
            _out.print(f"  {'AB'[i]}: {segment}", markup=False, highlight=False)


def _print_summary(out: str, manifest: dict) -> None:
    counts = manifest["counts"]
    table = Table(title=f"electra-data build -> {out}", show_header=False)
    table.add_row("documents read", f"{counts['documents_read']:,}")
    for reason, n in counts["dropped"].items():
        table.add_row(f"  dropped: {reason}", f"{n:,}")
    table.add_row("documents kept", f"{counts['documents_kept']:,}")
    table.add_row("examples", f"{counts['examples']:,}")
    table.add_row("tokens", f"{counts['tokens']:,} (padding share {counts['padding_share']:.1%}, "
                  f"{counts['tokens_lost']:,} lost)")
    for split, s in manifest["splits"].items():
        n = sum(1 for shard in manifest["shards"] if shard["split"] == split)
        table.add_row(f"  {split}", f"{s['examples']:,} examples in {n} shard(s)")
    tok = manifest["tokenizer"]
    table.add_row("vocab", f"{tok['vocab_size']:,} WordPiece ({'trained' if tok['trained'] else 'reused'}, "
                  f"{'uncased' if tok['lowercase'] else 'cased'}; [UNK] {tok['unk_rate']:.3%}, "
                  f"{tok['tokens_per_word']:.2f} tokens/word)")
    timing = manifest["timing"]
    table.add_row("wall time", f"{timing['wall_seconds']:.1f} s")
    for stage, seconds in timing["stage_cpu_seconds"].items():
        table.add_row(f"  cpu: {stage}", f"{seconds:.1f} s")
    _out.print(table)


if __name__ == "__main__":
    sys.exit(data_app())
