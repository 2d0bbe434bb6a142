"""``electra-data``: build ELECTRA pre-training shards from raw corpora.

Flags this command does not know are passed on to Beam's ``PipelineOptions`` (``--runner
DataflowRunner --project ... --region ... --temp_location gs://...``).
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from electra_data.console import fail, stderr
from electra_data.errors import UserError

__all__ = ["data_app"]

data_app = typer.Typer(
    help="Build ELECTRA pre-training data: raw corpora -> cleaned, deduplicated, tokenized Arrow shards.",
    no_args_is_help=True,
    add_completion=False,
)
_out = Console()

# Beam re-raises a worker's exception as a RuntimeError whose text holds the original one; this
# finds our own user-facing errors in it so that the user sees a message, not a traceback.
_USER_ERROR_IN_TEXT = re.compile(r"(?:electra_data\.errors\.)?(?:UserError|CorpusError): (.+)")


def user_error_message(exc: BaseException) -> str | None:
    """The message of a user error, also when a Beam runner wrapped it in another exception."""
    if isinstance(exc, UserError):
        return str(exc)
    match = _USER_ERROR_IN_TEXT.search(str(exc))
    return match.group(1).strip() if match else None


@data_app.callback()
def _main() -> None:
    """Build ELECTRA pre-training data: raw corpora -> cleaned, deduplicated, tokenized Arrow shards."""


@data_app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog="Unknown flags go to Beam's PipelineOptions, e.g. --runner DataflowRunner --project P "
    "--region R --temp_location gs://B/tmp --extra_package dist/electra_data-0.1.0.tar.gz",
)
def build(
    ctx: typer.Context,
    corpus: Annotated[str, typer.Option(help="Corpus kind: 'wiki' (MediaWiki pages-articles XML dumps, .xml or .xml.bz2).")] = "wiki",
    input: Annotated[
        Optional[list[str]],
        typer.Option("--input", "-i", help="Input file; repeat for several. Default: the bundled sample of the corpus."),
    ] = None,
    out: Annotated[Optional[str], typer.Option(help="Shard directory to write (local path or gs://...). Default: shards/<corpus>.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a dataset that already exists in --out.")] = False,
    vocab: Annotated[
        Optional[Path],
        typer.Option(exists=True, help="Reuse this vocab (vocab.txt, tokenizer.json, or a tokenizer/checkpoint directory) instead of training one."),
    ] = None,
    vocab_size: Annotated[int, typer.Option(help="Entries of the trained WordPiece vocab (may come out smaller on a small corpus).")] = 30522,
    cased: Annotated[bool, typer.Option(help="Train a cased vocab (default: uncased with accents stripped, as BERT/ELECTRA).")] = False,
    vocab_sample_docs: Annotated[int, typer.Option(help="Documents in the seeded sample the vocab is trained on.")] = 50_000,
    max_seq_length: Annotated[int, typer.Option(help="Longest example in tokens, [CLS]/[SEP] included (128 for Small, 512 for Base/Large).")] = 128,
    validation_fraction: Annotated[float, typer.Option(help="Share of documents held out as the validation split.")] = 0.005,
    num_shards: Annotated[Optional[int], typer.Option(help="Number of train shards (validation gets one). Default: as many as --shard-size-mb gives.")] = None,
    shard_size_mb: Annotated[float, typer.Option(help="Target size of a train shard in MB, when --num-shards is not given.")] = 64.0,
    seed: Annotated[int, typer.Option(help="Seed of every random choice: same input + config = same shards.")] = 12345,
    dedup: Annotated[str, typer.Option(help="Duplicates to remove: both, exact, near or none.")] = "both",
    no_dedup: Annotated[bool, typer.Option("--no-dedup", help="Same as --dedup none.")] = False,
    dedup_threshold: Annotated[float, typer.Option(help="Jaccard similarity of word 5-grams at which documents are near duplicates.")] = 0.8,
    minhash_perms: Annotated[int, typer.Option(help="MinHash permutations per document.")] = 128,
    shingle_size: Annotated[int, typer.Option(help="Words per shingle for MinHash.")] = 5,
    min_words: Annotated[int, typer.Option(help="Drop documents with fewer words (0 disables the filter).")] = 50,
    keep_disambiguation: Annotated[bool, typer.Option(help="Keep Wikipedia disambiguation pages (dropped by default).")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Processes for the local runner.")] = 1,
) -> None:
    """Read a corpus, clean and deduplicate it, train or reuse a WordPiece vocab, pack ELECTRA examples, write Arrow shards + manifest."""
    from electra_data.clean import QualityConfig
    from electra_data.config import BuildConfig
    from electra_data.pipelines.build import run_build

    beam_args = list(ctx.args)
    try:
        cfg = BuildConfig(
            corpus=corpus,
            inputs=tuple(input or ()),
            out=out or "",
            overwrite=overwrite,
            vocab=str(vocab) if vocab else None,
            vocab_size=vocab_size,
            lowercase=not cased,
            vocab_sample_docs=vocab_sample_docs,
            max_seq_length=max_seq_length,
            validation_fraction=validation_fraction,
            num_shards=num_shards,
            shard_size_mb=shard_size_mb,
            seed=seed,
            dedup="none" if no_dedup else dedup,
            dedup_threshold=dedup_threshold,
            minhash_perms=minhash_perms,
            shingle_size=shingle_size,
            keep_disambiguation=keep_disambiguation,
            quality=QualityConfig(min_words=min_words or None),
        )
    except ValueError as err:
        fail(str(err))
    _quiet_beam()
    try:
        with stderr.status(f"building {cfg.out} from {len(cfg.inputs)} {cfg.corpus} file(s)..."):
            manifest = run_build(cfg, beam_args, workers=workers)
    except Exception as err:  # noqa: BLE001 - user errors become messages; the rest re-raise
        message = user_error_message(err)
        if message is None:
            raise
        fail(message)
    if manifest.get("dry_run"):
        _out.print(f"dry run: the job was built and validated, nothing was run; staged: {', '.join(manifest['staged'])}")
        return
    _print_summary(cfg.out, manifest)


def _quiet_beam() -> None:
    # Beam logs every stage of the local runner at INFO/WARNING; our summary says what matters.
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)


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
