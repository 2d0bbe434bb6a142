"""The resolved configuration of ``electra-data build``: one frozen, validated dataclass.

The CLI turns flags into a ``BuildConfig``; everything downstream (the Beam graph, the manifest)
reads only this object. It is written into the manifest, so every dataset says how it was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from electra_data.clean import QualityConfig
from electra_data.dedup import lsh_params
from electra_data.packing import MIN_SEQ_LENGTH

__all__ = ["CORPORA", "DEDUP_MODES", "SAMPLE_DATA", "BuildConfig", "default_inputs"]

CORPORA = ("wiki",)
DEDUP_MODES = ("both", "exact", "near", "none")
# Position embeddings of the released ELECTRA models stop at 512.
MAX_MODEL_LENGTH = 512
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


def default_inputs(corpus: str) -> tuple[str, ...]:
    """The bundled sample for a corpus, so that ``build --corpus wiki`` runs with no other flag."""
    if corpus == "wiki":
        return tuple(str(p) for p in sorted((SAMPLE_DATA / "wikipedia").glob("*.bz2")))
    return ()


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides the content of a shard directory.

    Attributes:
        corpus: which reader to use: ``wiki`` (MediaWiki XML dumps).
        inputs: dump files; empty means the bundled sample.
        out: the shard directory to write.
        overwrite: replace an existing dataset in ``out``.
        vocab: reuse this vocab (vocab.txt, tokenizer.json or a checkpoint dir) instead of
            training one.
        vocab_size: entries of a trained vocab (BERT's 30,522).
        lowercase: uncased vocab with accents stripped (BERT/ELECTRA's default).
        vocab_sample_docs: documents (a seeded, deterministic sample) the vocab is trained on.
        max_seq_length: longest example, special tokens included.
        validation_fraction: share of documents held out for validation.
        num_shards: number of train shards (validation gets one); None sizes them by
            ``shard_size_mb``.
        shard_size_mb: target size of a train shard when ``num_shards`` is None.
        seed: seed of every random choice (sampling, packing, splits).
        dedup: which duplicates to remove: ``both``, ``exact``, ``near`` or ``none``.
        dedup_threshold: Jaccard similarity at which two documents are near duplicates.
        minhash_perms: MinHash permutations per signature.
        shingle_size: words per shingle.
        keep_disambiguation: keep Wikipedia disambiguation pages.
        quality: the quality filters' thresholds.
    """

    corpus: str = "wiki"
    inputs: tuple[str, ...] = ()
    out: str = ""
    overwrite: bool = False
    vocab: str | None = None
    vocab_size: int = 30522
    lowercase: bool = True
    vocab_sample_docs: int = 50_000
    max_seq_length: int = 128
    validation_fraction: float = 0.005
    num_shards: int | None = None
    shard_size_mb: float = 64.0
    seed: int = 12345
    dedup: str = "both"
    dedup_threshold: float = 0.8
    minhash_perms: int = 128
    shingle_size: int = 5
    keep_disambiguation: bool = False
    quality: QualityConfig = field(default_factory=QualityConfig)

    def __post_init__(self) -> None:
        if self.corpus not in CORPORA:
            raise ValueError(f"--corpus must be one of {', '.join(CORPORA)}, got {self.corpus!r}")
        if not self.inputs:
            object.__setattr__(self, "inputs", default_inputs(self.corpus))
        if not self.out:
            object.__setattr__(self, "out", str(Path("shards") / self.corpus))
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
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(f"--validation-fraction must be in [0, 0.5), got {self.validation_fraction}")
        if self.num_shards is not None and self.num_shards < 1:
            raise ValueError(f"--num-shards must be positive, got {self.num_shards}")
        if self.shard_size_mb <= 0:
            raise ValueError(f"--shard-size-mb must be positive, got {self.shard_size_mb}")
        if self.shingle_size < 1:
            raise ValueError(f"--shingle-size must be positive, got {self.shingle_size}")
        if self.minhash_perms < 16:
            raise ValueError(f"--minhash-perms must be at least 16, got {self.minhash_perms}")
        lsh_params(self.dedup_threshold, self.minhash_perms)  # raises ValueError if unreachable

    @property
    def exact_dedup(self) -> bool:
        return self.dedup in ("both", "exact")

    @property
    def near_dedup(self) -> bool:
        return self.dedup in ("both", "near")

    def to_dict(self) -> dict:
        """The config as JSON-ready data, for the manifest."""
        return dataclasses.asdict(self)
