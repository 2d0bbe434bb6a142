import pytest

from electra_data.sentences import split_paragraphs, split_sentences
from corpus_text import book_paragraphs


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mr. Holmes came in. He sat down.", ["Mr. Holmes came in.", "He sat down."]),
        ("It cost 3.50 pounds. Cheap!", ["It cost 3.50 pounds.", "Cheap!"]),
        ("J. R. R. Tolkien wrote it. Then he left.", ["J. R. R. Tolkien wrote it.", "Then he left."]),
        ('"Who are you?" said the Caterpillar. Alice replied.', ['"Who are you?" said the Caterpillar.', "Alice replied."]),
        ("He lived in the U.S. for years, e.g. in Ohio.", ["He lived in the U.S. for years, e.g. in Ohio."]),
        ("“I know!” She ran. (It was late.) Then home.", ["“I know!”", "She ran.", "(It was late.)", "Then home."]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_real_paragraphs_split_without_losing_text():
    for paragraph in book_paragraphs(count=200):
        sentences = split_sentences(paragraph)
        assert " ".join(sentences) == " ".join(paragraph.split())
        assert all(s == s.strip() and s for s in sentences)


def test_split_paragraphs_on_blank_lines():
    assert split_paragraphs("One.\n\n\nTwo two.\n\n  \n\nThree.") == ["One.", "Two two.", "Three."]
