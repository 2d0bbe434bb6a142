"""WordPiece vocabularies: train one with ``tokenizers`` or reuse an existing one.

A vocabulary travels as a ``tokenizers.Tokenizer`` (serialised to its JSON string between Beam
steps) and lands beside the shards as the files ``AutoTokenizer.from_pretrained`` reads:
``tokenizer.json``, ``vocab.txt``, ``tokenizer_config.json`` and ``special_tokens_map.json``.
Special tokens follow BERT's conventions: ``[PAD] [UNK] [CLS] [SEP] [MASK]``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from electra_data.errors import UserError

__all__ = [
    "SPECIAL_TOKENS",
    "train_wordpiece",
    "load_tokenizer",
    "special_token_ids",
    "is_lowercase",
    "vocab_lines",
    "vocab_sha256",
    "tokenizer_files",
]

SPECIAL_TOKENS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}


def _bert_pipeline(tokenizer: Tokenizer, lowercase: bool) -> Tokenizer:
    # BERT's uncased vocab also strips accents; strip_accents=None follows `lowercase`.
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def _add_post_processor(tokenizer: Tokenizer) -> Tokenizer:
    ids = special_token_ids(tokenizer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["cls"]), ("[SEP]", ids["sep"])],
    )
    return tokenizer


def _lines(texts: Iterable[str]) -> Iterator[str]:
    """The texts line by line: the same words, while the normaliser's alignments (offsets for
    every byte) exist for one line at a time, not for a whole book (a 50 MB one peaked at 4.6 GB)."""
    for text in texts:
        yield from filter(None, text.split("\n"))


def train_wordpiece(texts: Sequence[str], *, vocab_size: int, lowercase: bool) -> Tokenizer:
    """Train a BERT-style WordPiece tokenizer on ``texts``, deterministically.

    The ``tokenizers`` trainer numbers characters in hash-map order, which differs between runs,
    and breaks ties between equally frequent merges by those numbers: the same corpus then gives
    a different vocab each time. Numbering every character (and its ``##`` continuation) up front,
    in sorted order, makes the whole training deterministic. They are passed to the trainer as
    "special tokens" only to fix their ids; the returned tokenizer is rebuilt from the learnt
    vocab with the five real special tokens only.

    The result may have fewer than ``vocab_size`` entries when the corpus is small.
    """
    tokenizer = _bert_pipeline(Tokenizer(models.WordPiece(unk_token="[UNK]")), lowercase)
    chars: set[str] = set()
    for line in _lines(texts):
        chars.update(tokenizer.normalizer.normalize_str(line))
    alphabet = sorted(c for c in chars if not c.isspace())
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[*SPECIAL_TOKENS.values(), *alphabet, *(f"##{c}" for c in alphabet)],
        show_progress=False,
    )
    tokenizer.train_from_iterator(_lines(texts), trainer)
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    return _from_vocab(dict(sorted(vocab.items(), key=lambda kv: kv[1])), lowercase)


def _from_vocab(vocab: dict[str, int], lowercase: bool, source: object = "vocab") -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    special_token_ids(tokenizer, source=source)
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS.values()))
    return _add_post_processor(_bert_pipeline(tokenizer, lowercase))


def _lowercase_from_config(directory: Path) -> bool | None:
    config = directory / "tokenizer_config.json"
    if not config.is_file():
        return None
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{config}: not readable JSON ({err}); fix or delete it") from err
    if not isinstance(settings, dict):
        raise UserError(f"{config}: must be a JSON object; fix or delete it")
    return bool(settings.get("do_lower_case", True))


def load_tokenizer(path: str | Path, *, lowercase: bool | None = None) -> Tokenizer:
    """Load a vocab from a ``vocab.txt``, a ``tokenizer.json`` or a directory holding either.

    A directory may be a tokenizer directory or a model checkpoint (domain adaptation reuses the
    checkpoint's own vocab and casing). For a bare ``vocab.txt`` the casing comes from a
    ``tokenizer_config.json`` beside it, else from ``lowercase``, else from the vocab itself (no
    upper-case entries means uncased).

    Raises:
        UserError: if nothing loadable is found or a special token is missing.
    """
    path = Path(path)
    if path.is_dir():
        for name in ("tokenizer.json", "vocab.txt"):
            if (path / name).is_file():
                return load_tokenizer(path / name, lowercase=lowercase)
        raise UserError(f"{path}: no tokenizer.json or vocab.txt in this directory")
    if not path.is_file():
        raise UserError(f"{path}: vocab not found (give a vocab.txt, a tokenizer.json or a directory)")
    if path.suffix == ".json":
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # tokenizers raises a bare Exception on bad JSON
            raise UserError(f"{path}: not a tokenizers JSON file ({err})") from err
        special_token_ids(tokenizer, source=path)
        return tokenizer
    vocab = _read_vocab_txt(path)
    if lowercase is None:
        lowercase = _lowercase_from_config(path.parent)
    if lowercase is None:
        lowercase = not any(tok.lower() != tok for tok in vocab if tok not in SPECIAL_TOKENS.values())
    return _from_vocab(vocab, lowercase, source=path)


def _read_vocab_txt(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: a vocab.txt must be UTF-8 text, one token per line") from err
    except OSError as err:
        raise UserError(f"{path}: cannot be read ({err.strerror or err})") from err
    vocab: dict[str, int] = {}
    for token in lines:
        vocab.setdefault(token, len(vocab))
    if len(vocab) != len(lines):
        raise UserError(f"{path}: {len(lines) - len(vocab)} duplicate lines; each token must be unique")
    return vocab


def special_token_ids(tokenizer: Tokenizer, *, source: object = "vocab") -> dict[str, int]:
    """Ids of the five special tokens.

    Raises:
        UserError: naming the missing tokens.
    """
    ids = {name: tokenizer.token_to_id(token) for name, token in SPECIAL_TOKENS.items()}
    missing = [SPECIAL_TOKENS[name] for name, i in ids.items() if i is None]
    if missing:
        raise UserError(
            f"{source}: the vocab lacks the special token(s) {', '.join(missing)}; ELECTRA needs "
            f"{', '.join(SPECIAL_TOKENS.values())}"
        )
    return ids


def is_lowercase(tokenizer: Tokenizer) -> bool:
    """Whether the tokenizer's normaliser lower-cases its input."""
    normalizer = json.loads(tokenizer.to_str()).get("normalizer") or {}
    return bool(normalizer.get("lowercase", False))


def vocab_lines(tokenizer: Tokenizer) -> str:
    """``vocab.txt`` content: one token per line, line number = id."""
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    return "".join(token + "\n" for token in sorted(vocab, key=vocab.__getitem__))


def vocab_sha256(tokenizer: Tokenizer) -> str:
    """Checksum of the vocab (tokens in id order): equal vocabs have equal checksums."""
    return hashlib.sha256(vocab_lines(tokenizer).encode("utf-8")).hexdigest()


def tokenizer_files(tokenizer: Tokenizer, *, max_seq_length: int) -> dict[str, bytes]:
    """The files that make a directory loadable with ``AutoTokenizer.from_pretrained``."""
    specials = {f"{name}_token": token for name, token in SPECIAL_TOKENS.items()}
    config = {
        "tokenizer_class": "ElectraTokenizer",
        "do_lower_case": is_lowercase(tokenizer),
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "model_max_length": max_seq_length,
        **specials,
    }
    return {
        "tokenizer.json": tokenizer.to_str(pretty=True).encode("utf-8"),
        "vocab.txt": vocab_lines(tokenizer).encode("utf-8"),
        "tokenizer_config.json": json.dumps(config, indent=2).encode("utf-8"),
        "special_tokens_map.json": json.dumps(specials, indent=2).encode("utf-8"),
    }
