import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from electra_data.errors import UserError
from electra_data.vocab import (
    is_lowercase,
    load_tokenizer,
    special_token_ids,
    tokenizer_files,
    train_wordpiece,
    vocab_sha256,
)
from corpus_text import book_paragraphs


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(book_paragraphs(count=300), vocab_size=1000, lowercase=True)


def _save(tokenizer, directory):
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in tokenizer_files(tokenizer, max_seq_length=128).items():
        (directory / name).write_bytes(data)
    return directory


def test_trained_vocab_has_bert_specials_first(tokenizer):
    assert special_token_ids(tokenizer) == {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    assert 500 < tokenizer.get_vocab_size() <= 1000
    assert is_lowercase(tokenizer)


def test_files_load_with_autotokenizer_offline(tokenizer, tmp_path):
    directory = _save(tokenizer, tmp_path / "tok")
    hf = AutoTokenizer.from_pretrained(directory)
    sentence = "Alice was beginning to get very tired of sitting by her sister."
    enc = hf(sentence, "So she was considering.")
    ours = tokenizer.encode(sentence, "So she was considering.")
    assert enc["input_ids"] == ours.ids
    assert enc["input_ids"][0] == 2 and enc["token_type_ids"][-1] == 1
    assert hf.convert_ids_to_tokens(enc["input_ids"])[1] == "alice"


@pytest.mark.parametrize("name", ["tokenizer.json", "vocab.txt", "."])
def test_reload_from_each_form_gives_the_same_vocab(tokenizer, tmp_path, name):
    directory = _save(tokenizer, tmp_path / "tok")
    loaded = load_tokenizer(directory / name)
    assert vocab_sha256(loaded) == vocab_sha256(tokenizer)
    assert is_lowercase(loaded)
    text = "The Queen of Hearts, she made some tarts."
    assert loaded.encode(text).ids == tokenizer.encode(text).ids


def test_cased_vocab_keeps_case():
    cased = train_wordpiece(book_paragraphs(count=100), vocab_size=600, lowercase=False)
    assert not is_lowercase(cased)
    assert "Alice" in cased.encode("Alice").tokens


def test_vocab_without_a_special_token_is_refused(tokenizer, tmp_path):
    directory = _save(tokenizer, tmp_path / "tok")
    lines = (directory / "vocab.txt").read_text().splitlines()
    (directory / "vocab.txt").write_text("\n".join(t for t in lines if t != "[MASK]") + "\n")
    with pytest.raises(UserError, match=r"lacks the special token\(s\) \[MASK\]"):
        load_tokenizer(directory / "vocab.txt")


def test_bad_vocab_paths_are_refused(tmp_path):
    with pytest.raises(UserError, match="vocab not found"):
        load_tokenizer(tmp_path / "missing.txt")
    with pytest.raises(UserError, match="no tokenizer.json or vocab.txt"):
        load_tokenizer(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps({"not": "a tokenizer"}))
    with pytest.raises(UserError, match="not a tokenizers JSON"):
        load_tokenizer(tmp_path / "bad.json")
    (tmp_path / "dup.txt").write_text("[PAD]\n[PAD]\n")
    with pytest.raises(UserError, match="duplicate"):
        load_tokenizer(tmp_path / "dup.txt")


def test_training_is_deterministic():
    # tokenizers alone numbers characters in hash-map order and gives a different vocab each run
    paragraphs = book_paragraphs(count=400)
    shas = {vocab_sha256(train_wordpiece(paragraphs, vocab_size=1500, lowercase=True)) for _ in range(3)}
    assert len(shas) == 1


def test_a_broken_tokenizer_config_is_named(tokenizer, tmp_path):
    directory = _save(tokenizer, tmp_path / "tok")
    config = directory / "tokenizer_config.json"
    config.write_text("[1")
    with pytest.raises(UserError, match=r"tokenizer_config.json: not readable JSON .*; fix or delete it"):
        load_tokenizer(directory / "vocab.txt")
    config.write_text("[]")
    with pytest.raises(UserError, match=r"tokenizer_config.json: must be a JSON object"):
        load_tokenizer(directory / "vocab.txt")


def test_an_unreadable_vocab_is_named(tokenizer, tmp_path, monkeypatch):
    directory = _save(tokenizer, tmp_path / "tok")
    (directory / "tokenizer_config.json").unlink()

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(UserError, match=r"vocab.txt: cannot be read \(Permission denied\)"):
        load_tokenizer(directory / "vocab.txt")
