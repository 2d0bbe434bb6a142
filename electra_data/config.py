"""The resolved configuration of ``electra-data build``: one frozen, validated dataclass.

The CLI turns flags into a ``BuildConfig``; everything downstream (the Beam graph, the manifest)
reads only this object. It is written into the manifest, so every dataset says how it was made.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from electra_data.clean import QualityConfig
from electra_data.domain import FORMATS
from electra_data.inputs import NAMED_CORPORA, corpus_sources
from electra_data.dedup import lsh_params
from electra_data.packing import MIN_SEQ_LENGTH

__all__ = ["DEDUP_MODES", "DOC_SEPARATORS", "MAX_SEED", "ON_ERROR", "BuildConfig"]

DEDUP_MODES = ("both", "exact", "near", "none")
DOC_SEPARATORS = ("file", "blank-line")
ON_ERROR = ("fail", "skip")
# Position embeddings of the released ELECTRA models stop at 512.
MAX_MODEL_LENGTH = 512
# numpy's generators take seeds of 32 bits.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides the content of a shard directory.

    Attributes:
        corpus: ``wiki`` (MediaWiki XML dumps), ``books`` (plain-text books), ``wiki+books``, or
            the path, directory or glob of a domain corpus.
        inputs: files, directories or globs to read; empty means the bundled sample.
        format: domain corpus format (``text``, ``jsonl``, ``parquet``, ``rst``, ``markdown``);
            None infers it from each file's extension.
        text_field: the JSONL field or Parquet column holding the text.
        doc_separator: a domain text file is one document (``file``) or one per blank-line
            separated block (``blank-line``).
        keep_code: keep code blocks of reStructuredText/Markdown documents.
        on_error: a corrupt record or stream stops the build (``fail``) or is skipped and counted
            (``skip``).
        out: the shard directory to write.
        overwrite: replace an existing dataset in ``out``.
        vocab: reuse this vocab (vocab.txt, tokenizer.json or a checkpoint dir) instead of
            training one.
        vocab_size: entries of a trained vocab (BERT's 30,522).
        lowercase: uncased vocab with accents stripped (BERT/ELECTRA's default).
        vocab_sample_docs: documents (a seeded, deterministic sample) the vocab is trained on.
        vocab_sample_mb: the most text (MB of UTF-8) in that sample.
        max_seq_length: longest example, special tokens included.
        validation_fraction: share of documents held out for validation.
        num_shards: number of train shards (validation gets one); None sizes them by
            ``shard_size_mb``.
        shard_size_mb: target size of a train shard when ``num_shards`` is None.
        seed: seed of every random choice (sampling, packing, splits).
        dedup: which duplicates to remove: ``both``, ``exact``, ``near`` or ``none``.
        dedup_threshold: Jaccard similarity at which two documents are near duplicates.
        dedup_verify: check LSH candidates by their Jaccard (estimated; exact near the threshold)
            before linking them.
        dedup_rounds: large-star/small-star rounds of the near-duplicate clustering.
        minhash_perms: MinHash permutations per signature.
        shingle_size: words per shingle.
        keep_disambiguation: keep Wikipedia disambiguation pages.
        keep_tables: keep the text of Wikipedia tables' cells, a paragraph per row.
        quality: the quality filters' thresholds.
    """

    corpus: str = "wiki"
    inputs: tuple[str, ...] = ()
    format: str | None = None
    text_field: str = "text"
    doc_separator: str = "file"
    keep_code: bool = False
    on_error: str = "fail"
    out: str = ""
    overwrite: bool = False
    vocab: str | None = None
    vocab_size: int = 30522
    lowercase: bool = True
    vocab_sample_docs: int = 50_000
    vocab_sample_mb: float = 256.0
    max_seq_length: int = 128
    validation_fraction: float = 0.005
    num_shards: int | None = None
    shard_size_mb: float = 64.0
    seed: int = 12345
    dedup: str = "both"
    dedup_threshold: float = 0.8
    dedup_verify: bool = True
    dedup_rounds: int = 4
    minhash_perms: int = 128
    shingle_size: int = 5
    keep_disambiguation: bool = False
    keep_tables: bool = False
    quality: QualityConfig = field(default_factory=QualityConfig)

    def __post_init__(self) -> None:
        if not self.corpus.strip():
            raise ValueError("--corpus must be wiki, books, wiki+books or the path of a domain corpus")
        corpus_sources(self.corpus, self.inputs)  # raises only when every input is a dump by name; resolve() checks by content
        if not self.out:
            object.__setattr__(self, "out", str(Path("shards") / self.name))
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.doc_separator not in DOC_SEPARATORS:
            raise ValueError(f"--doc-separator must be one of {', '.join(DOC_SEPARATORS)}, got {self.doc_separator!r}")
        if self.on_error not in ON_ERROR:
            raise ValueError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {self.on_error!r}")
        if self.dedup not in DEDUP_MODES:
            raise ValueError(f"--dedup must be one of {', '.join(DEDUP_MODES)}, got {self.dedup!r}")
        if not MIN_SEQ_LENGTH <= self.max_seq_length <= MAX_MODEL_LENGTH:
            raise ValueError(
                f"--max-seq-length must be between {MIN_SEQ_LENGTH} and {MAX_MODEL_LENGTH} "
                f"(the models' position limit), got {self.max_seq_length}"
            )
        if self.vocab_size < 100:
            raise ValueError(f"--vocab-size must be at least 100, got {self.vocab_size}")
        if self.vocab_sample_docs < 1:
            raise ValueError(f"--vocab-sample-docs must be positive, got {self.vocab_sample_docs}")
        if self.vocab_sample_mb <= 0:
            raise ValueError(f"--vocab-sample-mb must be positive, got {self.vocab_sample_mb}")
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(f"--validation-fraction must be in [0, 0.5), got {self.validation_fraction}")
        if self.num_shards is not None and self.num_shards < 1:
            raise ValueError(f"--num-shards must be positive, got {self.num_shards}")
        if self.shard_size_mb <= 0:
            raise ValueError(f"--shard-size-mb must be positive, got {self.shard_size_mb}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"--seed must be between 0 and {MAX_SEED} (2**32 - 1), got {self.seed}")
        if self.dedup_rounds < 1:
            raise ValueError(f"--dedup-rounds must be at least 1, got {self.dedup_rounds}")
        if self.shingle_size < 1:
            raise ValueError(f"--shingle-size must be positive, got {self.shingle_size}")
        if self.minhash_perms < 16:
            raise ValueError(f"--minhash-perms must be at least 16, got {self.minhash_perms}")
        if not 0.0 < self.dedup_threshold < 1.0:
            raise ValueError(f"--dedup-threshold must be between 0 and 1 (a Jaccard similarity), got {self.dedup_threshold}")
        lsh_params(self.dedup_threshold, self.minhash_perms)  # raises ValueError if unreachable

    @property
    def sources(self) -> dict[str, tuple[str, ...]]:
        """Input patterns per source: ``wiki``, ``books`` or ``domain``."""
        return corpus_sources(self.corpus, self.inputs)

    @property
    def name(self) -> str:
        """A short name of the corpus, for the default output directory."""
        if self.corpus in NAMED_CORPORA:
            return self.corpus
        stem = re.split(r"[*?\[]", self.corpus)[0].rstrip("/\\")
        return Path(stem).name.split(".")[0] or "corpus"

    @property
    def exact_dedup(self) -> bool:
        return self.dedup in ("both", "exact")

    @property
    def near_dedup(self) -> bool:
        return self.dedup in ("both", "near")

    def to_dict(self) -> dict:
        """The config as JSON-ready data, for the manifest."""
        return dataclasses.asdict(self)
