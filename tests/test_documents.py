"""Documents as they cross stage boundaries: pickled by Beam's coder, with the text compressed."""

import pickle

from apache_beam.coders import coders

from electra_data.documents import Document
from corpus_text import book_paragraphs


def test_a_document_crosses_beams_coder_compressed_and_unchanged():
    # a real book excerpt with curly quotes and dashes, so that the UTF-8 round trip is tested
    text = "\n\n".join(book_paragraphs("11-0.txt", start=40, count=60))
    assert any(ord(c) > 127 for c in text)
    doc = Document("books:11-0", "books", "Alice’s Adventures in Wonderland", text)
    encoded = coders.FastPrimitivesCoder().encode(doc)
    assert len(encoded) < 0.6 * len(text.encode("utf-8"))
    decoded = coders.FastPrimitivesCoder().decode(encoded)
    assert decoded == doc and type(decoded) is Document
    assert pickle.loads(pickle.dumps(doc)) == doc
