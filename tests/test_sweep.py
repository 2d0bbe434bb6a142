"""The bad-input sweep of issue 13: what a new or careless user can type, run as the real commands.

Each case runs ``electra-data`` or ``electra-train`` in a subprocess (the console scripts), so that
what is checked is what a user sees: the real exit status, stderr and files. The sweep is a table:
one ``Case`` per line, saying what to set up, the command, the exit status and a regex the one
message must match. ``_check`` then asserts the same for every case:

- the exit status, and no traceback in stdout or stderr;
- a failure is one ``error:`` line (a usage error: click's box) that matches the case's regex,
  which names the file or option at fault;
- a failed command leaves the case's directory as it was (inputs, an earlier dataset or run,
  byte for byte), so a failed build also leaves no manifest; a command that succeeds changes
  nothing but its ``--out``, and a build's counts reconcile: documents_read = kept + sum(dropped);
- no temporary files, neither in the case's directory nor in the private TMPDIR of the process.

A case's files lie in its own directory, written ``<r>`` in its command and message. One real
dataset is built per module (``dataset``, by the real command) and copied where a case needs
one; a finished training run likewise, for the slow cases that resume one. The quick part (the
default run, about two minutes) holds cases refused before a pipeline or a training step runs;
the others are ``slow``. A case that finds a defect in code being changed elsewhere is a strict
``xfail`` naming it.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import os
import pickle
import re
import resource
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from corpus_text import BOOKS, WIKI_DUMP
from processes import processes_with

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
BIN = Path(sys.executable).parent
BOOK = BOOKS / "pg7256.txt"  # ~40 examples: a build takes seconds
MULTISTREAM_INDEX = SHARED / "wikipedia" / "enwiki-shortened-p10p30302-multistream-index.txt.bz2"
FAST = "--vocab-size 300 --no-dedup --validation-fraction 0"
BUILD = f"build --corpus books --out <r>/out {FAST}"  # the input is the case's own


def train(args: str = "", **settings) -> str:
    """An electra-train command line: a tiny two-step run on the CPU (``settings`` replace those:
    ``batch_size=0``), then ``args``. Each option once: a second one is a case of its own."""
    settings = {"model_size": "tiny", "batch_size": 4, "max_steps": 2, "eval_batches": 0, "device": "cpu"} | settings
    return " ".join(["train", *(f"--{name.replace('_', '-')} {value}" for name, value in settings.items()), args])


TRAIN = train()
TINY_CONFIG = {
    "model_type": "electra", "architectures": ["ElectraForPreTraining"], "num_hidden_layers": 2, "hidden_size": 128,
    "num_attention_heads": 2, "intermediate_size": 512, "embedding_size": 128, "max_position_embeddings": 512,
    "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
}  # fmt: skip
TEMPORARY = re.compile(r"\.tmp-|\.tmp$|^\.write-probe-|^\.step-")
# tqdm's bar "name:  40%|####  | 12/1000 [00:03<00:10, 1.2step/s]", which a message may follow on
# its line; a build's progress line "build: ..."
PROGRESS_BAR = re.compile(r"^[^\r\n]*?\d+/\d+ \[[^\]]*\]|^build: .*")


# --- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input: set it up, run the command, expect ``status`` and a message matching ``message``.

    Attributes:
        id: The test id.
        argv: The command: ``build``/``vocab``/``verify``/``inspect`` (electra-data), ``train``
            (electra-train) or ``eval`` (electra-eval) and its words; ``<r>`` is the case's directory.
        status: The exit status expected.
        message: A regex the error line must match (whitespace collapsed); ``<r>`` as in argv.
        setup: Steps ``(root, given) -> None`` that make the case's files before the command runs.
        out: What the command may change when it succeeds (relative to the case's directory).
        leaves: What a failed command may leave (a build with nothing to train on: its reports).
        interrupt: ``(signal, moment)``: send it that many seconds after the start (``"0.3"``:
            while Python imports what the command needs), at ``staging`` (a build's staging
            directory exists) or at ``step`` (a run has begun to write its outputs).
        file_size_limit: The largest file (bytes) the command may write (``ulimit -f``): a
            write past it fails as on a full disk, or a FAT32 drive past 4 GiB.
        slow: Runs a pipeline or a training step: excluded from the default run.
        xfail: A known defect, in code another engineer is changing: the reason.
    """

    id: str
    argv: str
    status: int
    message: str = ""
    setup: tuple[Callable, ...] = ()
    out: str = "out"
    leaves: tuple[str, ...] = ()
    interrupt: tuple[int, str] | None = None
    file_size_limit: int = 0
    slow: bool = False
    xfail: str | None = None


class Given:
    """What cases share, built once per module on first use: a real dataset, a finished run."""

    def __init__(self, request):
        self._request = request

    @property
    def dataset(self) -> Path:
        return self._request.getfixturevalue("dataset")

    @property
    def run(self) -> Path:
        return self._request.getfixturevalue("finished_run")


# --- setup steps: each returns a function (root, given) -> None -------------------------------------


def write(rel: str, data: bytes | str | Callable[[], bytes]):
    def step(root: Path, given: Given) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        content = data() if callable(data) else data
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return step


def book(rel: str = "in/book.txt", source: Path = BOOK):
    return write(rel, source.read_bytes)


def book_text() -> str:
    return BOOK.read_text(encoding="utf-8-sig")


def mkdir(rel: str):
    return lambda root, given: (root / rel).mkdir(parents=True, exist_ok=True)


def symlink(rel: str, target: str):
    """``rel`` -> ``target`` (``<r>`` in it is the case's directory; a relative target stays relative)."""

    def step(root: Path, given: Given) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(target.replace("<r>", str(root)))

    return step


def dataset(rel: str = "data"):
    """A copy of the module's real dataset."""
    return lambda root, given: shutil.copytree(given.dataset, root / rel, symlinks=True)


def finished_run(rel: str = "run"):
    """A copy of the module's finished training run (two steps, one checkpoint)."""
    return lambda root, given: shutil.copytree(given.run, root / rel, symlinks=True)


def edit_json(rel: str, edit: Callable):
    """Apply ``edit`` to a JSON file; what it returns (if not None) replaces the whole document."""

    def step(root: Path, given: Given) -> None:
        document = json.loads((root / rel).read_text())
        edited = edit(document)
        (root / rel).write_text(json.dumps(document if edited is None else edited))

    return step


def truncate(rel: str, keep: float = 0.5):
    def step(root: Path, given: Given) -> None:
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[: int(len(data) * keep)])

    return step


def first_shard(manifest: dict) -> dict:
    return manifest["shards"][0]


def dump_xml() -> bytes:
    return bz2.open(WIKI_DUMP).read()


def xml_head(pages: int = 3) -> bytes:
    """The dump's XML up to the end of its ``pages``-th page, without the closing root."""
    xml = dump_xml()
    end = 0
    for _ in range(pages):
        end = xml.index(b"</page>", end) + len(b"</page>")
    return xml[:end] + b"\n"


def small_dump() -> bytes:
    return xml_head() + b"</mediawiki>\n"


def entity_dump(doctype: str, text: str) -> Callable[[], bytes]:
    """A dump whose DOCTYPE declares entities that its first page's text uses."""

    def make() -> bytes:
        xml = small_dump()
        start = xml.index(b"<mediawiki")
        page = xml.index(b"<page>")
        body = (
            b"<page><title>Entities</title><ns>0</ns><id>999</id><revision><id>1</id>"
            b'<text xml:space="preserve">' + text.encode() + b"</text></revision></page>\n"
        )
        return b'<?xml version="1.0"?>\n' + doctype.encode() + b"\n" + xml[start:page] + body + xml[page:]

    return make


BILLION_LAUGHS = "<!DOCTYPE mediawiki [" + '<!ENTITY l0 "ha">' + "".join(
    f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
) + "]>"  # fmt: skip
EXTERNAL_ENTITY = '<!DOCTYPE mediawiki [<!ENTITY secret SYSTEM "file:///etc/hostname">]>'


class _Payload:
    """A pickle that runs a command when loaded: what a crafted checkpoint holds."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


def checkpoint_dir(rel: str, config: dict | None = None, vocab: bool = True):
    """A Hugging Face ELECTRA discriminator directory of the tiny shape, with the dataset's vocab."""

    def step(root: Path, given: Given) -> None:
        directory = root / rel
        directory.mkdir(parents=True)
        (directory / "config.json").write_text(json.dumps(TINY_CONFIG | {"vocab_size": 300} | (config or {})))
        if vocab:
            shutil.copy(given.dataset / "tokenizer" / "vocab.txt", directory / "vocab.txt")

    return step


def crafted_pickle(rel: str):
    """A pytorch_model.bin whose unpickling would create ``<case>/pwned``."""

    def step(root: Path, given: Given) -> None:
        (root / rel).write_bytes(pickle.dumps({"weight": _Payload(str(root / "pwned"))}))

    return step


def read_only(rel: str):
    """``rel`` made read-only: by its mode for a user; root ignores modes, so then skip the case."""

    def step(root: Path, given: Given) -> None:
        if os.geteuid() == 0:
            pytest.skip("root writes in read-only directories: the mode cannot make --out read-only")
        for path in [root / rel, *(root / rel).rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)

    return step


def sysfs_unwritable(root: Path, given: Given) -> None:
    """/sys: a directory that no process may create files in, root included (the way to an
    unwritable --out when the mode cannot make one)."""
    try:
        os.close(os.open("/sys/.electra-sweep-probe", os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError:
        return
    os.remove("/sys/.electra-sweep-probe")
    pytest.skip("/sys takes files here")


# --- the cases ------------------------------------------------------------------------------------

S_INT, S_TERM = signal.SIGINT, signal.SIGTERM

INPUTS = [
    Case("input-missing", f"{BUILD} --input <r>/in/nothing.txt", 1, r"--input <r>/in/nothing\.txt: no such file"),
    Case("input-empty-directory", f"{BUILD} --input <r>/in", 1, r"--input <r>/in: no such file, or no file matches it", setup=(mkdir("in"),), slow=True),
    Case("input-glob-matches-nothing", f"{BUILD} --input '<r>/in/*.text'", 1, r"--input <r>/in/\*\.text: no such file, or no file matches", setup=(book(),), slow=True),
    Case("input-directory-without-books", f"{BUILD} --input <r>/in", 1, r"--input <r>/in: no book in this directory .*README", setup=(write("in/README", "A readme.\n"),), slow=True),
    Case("input-gzip-book", f"{BUILD} --input <r>/in/book.txt", 1, r"in/book\.txt: gzip-compressed data, not a plain-text book; decompress it",
         setup=(write("in/book.txt", lambda: gzip.compress(BOOK.read_bytes())),), slow=True),
    Case("input-binary-file", f"{BUILD} --input <r>/in/book.txt", 1, r"in/book\.txt: binary data \(it holds NUL bytes\)",
         setup=(write("in/book.txt", lambda: Path(sys.executable).resolve().read_bytes()[:65536]),)),
    Case("input-pdf", f"{BUILD} --input <r>/in/book.pdf", 1, r"in/book\.pdf: a PDF document.*pdftotext",
         setup=(write("in/book.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"),), slow=True),
    Case("input-cp1252", f"{BUILD} --input <r>/in/book.txt", 1, r"in/book\.txt: invalid UTF-8 at byte \d+ of the file.*iconv -f cp1252",
         setup=(write("in/book.txt", lambda: book_text().replace("the ", "caf\u00e9 ", 5).encode("cp1252", errors="replace")),), slow=True),
    Case("input-utf16-without-bom", f"{BUILD} --input <r>/in/book.txt", 1, r"in/book\.txt: binary data .*iconv -f UTF-16LE",
         setup=(write("in/book.txt", lambda: book_text().encode("utf-16-le")),), slow=True),
    Case("input-empty-book", f"{BUILD} --input <r>/in/book.txt", 1, r"no document was kept.*reports are in <r>/out/reports",
         setup=(write("in/book.txt", b""),), leaves=("out",), slow=True),
    Case("input-dangling-symlink", f"{BUILD} --input <r>/in", 1, r"--input <r>/in: <r>/in/gone\.txt is a broken symbolic link \(to <r>/nowhere\.txt\)",
         setup=(book("in/book.txt"), symlink("in/gone.txt", "<r>/nowhere.txt")), slow=True),
    Case("input-named-pipe-among-books", f"{BUILD} --input <r>/in", 1, r"--input <r>/in: <r>/in/pipe\.txt is a named pipe \(FIFO\), not a file to read",
         setup=(book(), lambda r, g: os.mkfifo(r / "in/pipe.txt"))),
    Case("input-a-device", f"{BUILD} --input /dev/zero", 1, r"--input /dev/zero is a character device, not a file to read", slow=True),
    Case("input-symlink-loop", f"{BUILD} --input <r>/in/loop.txt", 1, r"--input <r>/in/loop\.txt is a broken symbolic link \(to loop\.txt\)",
         setup=(symlink("in/loop.txt", "loop.txt"),)),
    Case("input-dump-as-book", f"{BUILD} --input <r>/in/dump.xml.bz2", 1, r"dump\.xml\.bz2 is a MediaWiki dump, not a book; read dumps with --corpus wiki",
         setup=(write("in/dump.xml.bz2", WIKI_DUMP.read_bytes),), slow=True),
    Case("input-dump-renamed-as-book", f"{BUILD} --input <r>/in", 1, r"in/notes\.txt is a MediaWiki dump, not a book",
         setup=(book("in/book.txt"), write("in/notes.txt", small_dump))),
    Case("input-wiki-plus-books-without-books", f"build --corpus wiki+books --input <r>/in/dump.xml --out <r>/out {FAST}", 1,
         r"--corpus wiki\+books needs both a dump .* no books given", setup=(write("in/dump.xml", small_dump),), slow=True),
    Case("input-wiki-plus-books-without-a-dump", f"build --corpus wiki+books --input <r>/in --out <r>/out {FAST}", 1,
         r"--corpus wiki\+books found no MediaWiki dump .*use --corpus books", setup=(book(),)),
    Case("input-index-without-its-dump", f"build --corpus wiki --input <r>/in/x-multistream-index.txt.bz2 --out <r>/out {FAST}", 1,
         r"x-multistream-index\.txt\.bz2: a multistream index, which is read with its dump",
         setup=(write("in/x-multistream-index.txt.bz2", MULTISTREAM_INDEX.read_bytes),), slow=True),
    Case("input-book-as-wiki", f"build --corpus wiki --input <r>/in/book.txt --out <r>/out {FAST}", 1, r"in/book\.txt: not XML \(.*\(plain-text books are read with --corpus books\)",
         setup=(book(),), slow=True),
    Case("input-jsonl-malformed-line", f"build --corpus <r>/in/docs.jsonl --out <r>/out {FAST}", 1, r"in/docs\.jsonl:2: not JSON \(.*pass --on-error skip",
         setup=(write("in/docs.jsonl", lambda: json.dumps({"text": book_text()[:20000]}) + "\n{not json\n"),), slow=True),
    Case("input-jsonl-without-the-text-field", f"build --corpus <r>/in/docs.jsonl --text-field body --out <r>/out {FAST}", 1, r"docs\.jsonl.*body",
         setup=(write("in/docs.jsonl", lambda: json.dumps({"text": book_text()[:20000]}) + "\n"),), slow=True),
    # what must be read, and read whole
    Case("input-utf16-with-bom-is-read", f"{BUILD} --input <r>/in/book.txt", 0, setup=(write("in/book.txt", lambda: book_text().encode("utf-16")),), slow=True),
    Case("input-unquoted-glob-reads-every-file", f"{BUILD} --input <r>/in/a.txt <r>/in/b.txt", 0,
         setup=(book("in/a.txt"), book("in/b.txt", BOOKS / "11-0.txt")), slow=True),
    Case("input-quoted-glob", f"{BUILD} --input '<r>/in/*.txt'", 0, setup=(book("in/a.txt"), book("in/b.txt", BOOKS / "11-0.txt")), slow=True),
    Case("input-symlinked-book-is-read", f"{BUILD} --input <r>/in/link.txt", 0, setup=(book("books/a.txt"), symlink("in/link.txt", "<r>/books/a.txt")), slow=True),
    Case("input-one-huge-line", f"{BUILD} --input <r>/in/book.txt", 0,
         setup=(write("in/book.txt", lambda: (" ".join(book_text().split()) + " ").encode() * 40),), slow=True),
    Case("input-wiki-plus-books-mixed", f"build --corpus wiki+books --input <r>/in --out <r>/out {FAST} --on-error skip", 0,
         setup=(book("in/book.txt"), write("in/enwiki/enwiki-20240101-pages-articles.data", lambda: bz2.compress(small_dump()))), slow=True),
]

DUMPS = [
    Case("dump-truncated-bz2", f"build --corpus wiki --input <r>/in/dump.xml.bz2 --out <r>/out {FAST}", 1, r"in/dump\.xml\.bz2",
         setup=(write("in/dump.xml.bz2", lambda: WIKI_DUMP.read_bytes()[:300_000]),), slow=True),
    Case("dump-truncated-xml", f"build --corpus wiki --input <r>/in/dump.xml --out <r>/out {FAST}", 1, r"in/dump\.xml: .*line \d+",
         setup=(write("in/dump.xml", lambda: xml_head()[:-200]),), slow=True),
    Case("dump-malformed-xml", f"build --corpus wiki --input <r>/in/dump.xml --out <r>/out {FAST}", 1, r"in/dump\.xml: malformed XML at line \d+",
         setup=(write("in/dump.xml", lambda: small_dump().replace(b"</title>", b"</titel>", 2)),), slow=True),
    Case("dump-missing-page-end", f"build --corpus wiki --input <r>/in/dump.xml --out <r>/out {FAST}", 1, r"in/dump\.xml: the page at line \d+ .* has no </page>",
         setup=(write("in/dump.xml", lambda: small_dump().replace(b"</page>", b"", 1)),), slow=True),
    Case("dump-empty", f"build --corpus wiki --input <r>/in/dump.xml --out <r>/out {FAST}", 1, r"in/dump\.xml: the file is empty",
         setup=(write("in/dump.xml", b""),), slow=True),
    Case("dump-rss-feed", f"build --corpus wiki --input <r>/in/feed.xml --out <r>/out {FAST}", 1, r"in/feed\.xml: root element is <rss>, not <mediawiki>",
         setup=(write("in/feed.xml", "<rss><channel><item>x</item></channel></rss>"),), slow=True),
    Case("dump-billion-laughs", f"build --corpus wiki --input <r>/in/dump.xml --out <r>/out {FAST}", 1, r"in/dump\.xml: .*entit",
         setup=(write("in/dump.xml", entity_dump(BILLION_LAUGHS, "&l9;")),)),
    Case("dump-external-entity", f"build --corpus wiki --input <r>/in/dump.xml --out <r>/out {FAST}", 1, r"in/dump\.xml: .*entit",
         setup=(write("in/dump.xml", entity_dump(EXTERNAL_ENTITY, "&secret;")),), slow=True),
    Case("dump-truncated-bz2-skipped", f"build --corpus wiki --input <r>/in/dump.xml.bz2 --out <r>/out {FAST} --on-error skip", 0,
         setup=(write("in/dump.xml.bz2", lambda: WIKI_DUMP.read_bytes()[:600_000]),), slow=True),
]

OPTIONS = [
    Case("option-misspelt", f"{BUILD} --input <r>/in/book.txt --dedup-treshold 0.5", 1, r"no such option: --dedup-treshold \(did you mean --dedup-threshold\?\)", setup=(book(),), slow=True),
    Case("option-abbreviated", f"{BUILD} --input <r>/in/book.txt --max-seq-len 64", 1, r"no such option: --max-seq-len \(did you mean --max-seq-length\?\)", setup=(book(),)),
    Case("option-underscored", f"vocab --out <r>/out --corpus books --input <r>/in/book.txt --vocab_size 300", 1, r"no such option: --vocab_size \(did you mean --vocab-size\?\)", setup=(book(),), slow=True),
    Case("option-beam-value", f"{BUILD} --input <r>/in/book.txt --direct_num_workers two", 1, r"Beam pipeline options: argument --direct_num_workers: invalid int value", setup=(book(),), slow=True),
    Case("option-stray-word", f"build books --out <r>/out", 1, r"unexpected argument 'books': no option takes it"),
    Case("option-corpus-takes-no-files", f"build --corpus books <r>/in/book.txt --out <r>/out", 1, r"unexpected argument '<r>/in/book\.txt'", setup=(book(),), slow=True),
    Case("option-missing-value", f"{BUILD} --input", 2, r"Option '--input' requires an argument"),
    Case("option-given-twice", f"{BUILD} --input <r>/in/book.txt --out <r>/elsewhere", 1,
         r"--out is given twice \(<r>/out, then <r>/elsewhere\), and only the last would be used", setup=(book(),)),
    Case("option-flag-and-its-negation", f"{BUILD} --input <r>/in/book.txt --cased --no-cased", 1, r"--cased and --no-cased are both given", setup=(book(),)),
    Case("option-seed-negative", f"{BUILD} --input <r>/in/book.txt --seed -1", 1, r"--seed must be between 0 and 4294967295", setup=(book(),)),
    Case("option-seed-too-large", f"{BUILD} --input <r>/in/book.txt --seed 4294967296", 1, r"--seed must be between 0 and 4294967295", setup=(book(),), slow=True),
    Case("option-max-seq-length-too-long", f"{BUILD} --input <r>/in/book.txt --max-seq-length 4096", 1, r"--max-seq-length must be between \d+ and 512", setup=(book(),)),
    Case("option-validation-fraction-half", f"build --corpus books --input <r>/in/book.txt --out <r>/out --validation-fraction 0.5", 1, r"--validation-fraction must be in \[0, 0\.5\)", setup=(book(),), slow=True),
    Case("option-validation-fraction-nan", f"build --corpus books --input <r>/in/book.txt --out <r>/out --validation-fraction nan", 1, r"--validation-fraction must be in", setup=(book(),)),
    Case("option-vocab-size-tiny", "build --corpus books --input <r>/in/book.txt --out <r>/out --vocab-size 10", 1, r"--vocab-size must be at least 100, got 10", setup=(book(),)),
    Case("option-dedup-threshold-above-one", f"build --corpus books --input <r>/in/book.txt --out <r>/out --dedup-threshold 1.5", 1, r"--dedup-threshold must be between 0 and 1 \(a Jaccard similarity\), got 1\.5", setup=(book(),)),
    Case("option-num-shards-zero", f"{BUILD} --input <r>/in/book.txt --num-shards 0", 1, r"--num-shards must be positive, got 0", setup=(book(),)),
    Case("option-workers-zero", f"{BUILD} --input <r>/in/book.txt --workers 0", 2, r"Invalid value for '--workers'", setup=(book(),)),
    Case("option-on-error-unknown", f"{BUILD} --input <r>/in/book.txt --on-error ignore", 1, r"--on-error must be one of fail, skip, got 'ignore'", setup=(book(),)),
    Case("option-quality-unknown-filter", f"{BUILD} --input <r>/in/book.txt --quality min_word=10", 1, r"--quality 'min_word=10': expected NAME=VALUE", setup=(book(),)),
    Case("option-quality-not-a-number", f"{BUILD} --input <r>/in/book.txt --quality min_words=ten", 1, r"--quality 'min_words=ten': 'ten' is not a number", setup=(book(),)),
    Case("option-conflicting-dedup", f"build --corpus books --input <r>/in/book.txt --out <r>/out --no-dedup --dedup exact", 1, r"--no-dedup and --dedup exact contradict each other: pass one of them", setup=(book(),)),
    Case("option-vocab-with-vocab-size", "build --corpus books --input <r>/in/book.txt --out <r>/out --vocab <r>/data/tokenizer --vocab-size 500", 1,
         r"--vocab-size has no effect with --vocab \(a given vocab is reused, not trained\): drop it", setup=(book(), dataset())),
    Case("option-num-shards-with-shard-size", f"{BUILD} --input <r>/in/book.txt --num-shards 2 --shard-size-mb 8", 1,
         r"--shard-size-mb has no effect with --num-shards", setup=(book(),)),
    Case("option-dedup-threshold-without-near-dedup", f"{BUILD} --input <r>/in/book.txt --dedup-threshold 0.5", 1,
         r"--dedup-threshold has no effect with --no-dedup \(no near-duplicate detection runs\)", setup=(book(),)),
    Case("option-format-with-named-corpus", f"{BUILD} --input <r>/in/book.txt --format jsonl", 1,
         r"--format has no effect with --corpus books \(they are options of a domain corpus\)", setup=(book(),)),
    Case("option-vocab-not-a-vocab", "build --corpus books --input <r>/in/book.txt --out <r>/out --vocab <r>/in/book.txt", 1, r"in/book\.txt", setup=(book(),), slow=True),
    Case("option-verify-without-directory", "verify", 2, r"Missing argument"),
    Case("option-inspect-negative-examples", "inspect <r>/data --examples -1", 2, r"Invalid value for '--examples'", setup=(dataset(),)),
    Case("train-option-misspelt", f"{TRAIN} --data <r>/data --out <r>/out --batch-sise 4", 2, r"No such option: --batch-sise", setup=(dataset(),)),
    Case("train-option-given-twice", f"{TRAIN} --data <r>/data --out <r>/out --max-steps 5", 1, r"--max-steps is given twice", setup=(dataset(),), slow=True),
    Case("train-data-missing", f"{TRAIN} --data <r>/nothing --out <r>/out", 2, r"Invalid value for '--data'.*nothing"),
    Case("train-mlm-with-generator-size", f"{TRAIN} --data <r>/data --out <r>/out --objective mlm --generator-size 0.5", 1,
         r"--generator-size has no effect with --objective mlm", setup=(dataset(),)),
    Case("train-eval-every-without-eval", f"{TRAIN} --data <r>/data --out <r>/out --eval-every 5", 1,
         r"--eval-every has no effect with --eval-batches 0", setup=(dataset(),)),
    Case("train-resume-and-overwrite", f"{TRAIN} --data <r>/data --out <r>/out --resume --overwrite", 1,
         r"--resume continues the run in --out and --overwrite deletes it", setup=(dataset(),), slow=True),
    Case("train-seed-negative", f"{TRAIN} --data <r>/data --out <r>/out --seed -1", 1, r"--seed", setup=(dataset(),), slow=True),
    Case("train-batch-size-zero", train("--data <r>/data --out <r>/out", batch_size=0), 1, r"--batch-size", setup=(dataset(),), slow=True),
    Case("train-batch-larger-than-data", train("--data <r>/data --out <r>/out", batch_size=100000), 1,
         r"--batch-size 100000 is larger than the training split of <r>/data", setup=(dataset(),), slow=True),
    Case("train-model-size-unknown", train("--data <r>/data --out <r>/out", model_size="huge"), 1, r"--model-size", setup=(dataset(),), slow=True),
    Case("train-learning-rate-nan", f"{TRAIN} --data <r>/data --out <r>/out --learning-rate nan", 1, r"--learning-rate", setup=(dataset(),), slow=True),
]

OUTPUT_DIRECTORIES = [
    Case("out-inside-the-input", f"build --corpus books --input <r>/in --out <r>/in/shards {FAST}", 1,
         r"--out <r>/in/shards lies in the input directory <r>/in", setup=(book(),)),
    Case("out-is-the-input", f"build --corpus books --input <r>/in --out <r>/in {FAST}", 1, r"--out <r>/in is the input directory <r>/in", setup=(book(),), slow=True),
    Case("out-inside-the-input-through-a-symlink", f"build --corpus books --input <r>/link --out <r>/in/shards {FAST}", 1,
         r"--out <r>/in/shards lies in the input directory <r>/link", setup=(book(), symlink("link", "<r>/in"))),
    Case("out-is-the-input-file", f"build --corpus books --input <r>/in/book.txt --out <r>/in/book.txt {FAST}", 1,
         r"(--out <r>/in/book\.txt is a file|the input <r>/in/book\.txt lies in --out)", setup=(book(),), slow=True),
    Case("out-under-a-file", f"build --corpus books --input <r>/in/book.txt --out <r>/in/book.txt/out {FAST}", 1,
         r"cannot write in <r>/in/book\.txt \(Not a directory\)", setup=(book(),), slow=True),
    Case("out-holds-a-dataset", f"build --corpus books --input <r>/in/book.txt --out <r>/data {FAST}", 1,
         r"<r>/data already holds a dataset; pass --overwrite", setup=(book(), dataset()), slow=True),
    Case("out-holds-other-files", f"build --corpus books --input <r>/in/book.txt --out <r>/mine {FAST} --overwrite", 1,
         r"--out <r>/mine is not empty and not an electra-data shard directory: it holds notes\.txt",
         setup=(book(), write("mine/notes.txt", "mine")), slow=True),
    Case("out-holds-a-dataset-and-other-files", f"build --corpus books --input <r>/in/book.txt --out <r>/data {FAST} --overwrite", 1,
         r"--out <r>/data holds a dataset and also notes\.md, which no build wrote", setup=(book(), dataset(), write("data/notes.md", "mine"))),
    Case("out-read-only", f"build --corpus books --input <r>/in/book.txt --out <r>/ro/out {FAST}", 1, r"--out <r>/ro/out: cannot write in <r>/ro",
         setup=(book(), mkdir("ro"), read_only("ro"))),
    Case("out-unwritable-for-root-too", f"build --corpus books --input <r>/in/book.txt --out /sys/electra-sweep {FAST}", 1,
         r"--out /sys/electra-sweep: cannot write in /sys \(Permission denied\)", setup=(book(), sysfs_unwritable)),
    Case("out-full-a-shard-too-large", f"build --corpus books --input <r>/in/book.txt --out <r>/data {FAST} --overwrite", 1,
         r"a file grew past the largest that its filesystem or `ulimit -f` allows \(\[Errno 27\] File too large\); pass a smaller --shard-size-mb",
         setup=(book(), dataset()), file_size_limit=9000, slow=True),
    Case("train-out-full-a-checkpoint-too-large", f"{TRAIN} --data <r>/data --out <r>/out", 1, r"File too large",
         setup=(dataset(),), file_size_limit=200_000, leaves=("out",), slow=True),
    Case("out-overwrite-a-dataset-with-nothing-to-train", f"build --corpus books --input <r>/in/frag.txt --out <r>/data {FAST} --overwrite", 1,
         r"no document was kept", setup=(write("in/frag.txt", "Too short a book to keep.\n"), dataset()), slow=True),
    Case("out-overwrite-replaces-a-dataset", f"build --corpus books --input <r>/in/book.txt --out <r>/data {FAST} --overwrite", 0,
         setup=(book(), dataset()), out="data", slow=True),
    Case("vocab-out-holds-a-vocab", "vocab --corpus books --input <r>/in/book.txt --out <r>/vocab --vocab-size 300 --no-dedup", 1,
         r"<r>/vocab already holds a vocab; pass --overwrite", setup=(book(), dataset(), lambda r, g: shutil.copytree(r / "data/tokenizer", r / "vocab")), slow=True),
    Case("vocab-out-is-a-datasets-tokenizer", "vocab --corpus books --input <r>/in/book.txt --out <r>/data/tokenizer --vocab-size 300 --no-dedup --overwrite", 1,
         r"--out <r>/data/tokenizer lies in the dataset <r>/data, which was made with the vocab it holds", setup=(book(), dataset())),
    Case("train-out-is-data", f"{TRAIN} --data <r>/data --out <r>/data", 1, r"--out <r>/data is --data <r>/data", setup=(dataset(),), slow=True),
    Case("train-out-is-data-overwrite", f"{TRAIN} --data <r>/data --out <r>/data --overwrite", 1, r"--out <r>/data is --data <r>/data", setup=(dataset(),), slow=True),
    Case("train-out-contains-data", f"{TRAIN} --data <r>/runs/data --out <r>/runs --overwrite", 1, r"--out <r>/runs contains --data <r>/runs/data",
         setup=(dataset("runs/data"),), slow=True),
    Case("train-out-is-another-dataset", f"{TRAIN} --data <r>/data --out <r>/other --overwrite", 1, r"--out <r>/other is a shard directory",
         setup=(dataset(), dataset("other")), slow=True),
    Case("train-out-holds-a-run", f"{TRAIN} --data <r>/data --out <r>/run", 1, r"<r>/run already holds a run .*pass --resume",
         setup=(dataset(), finished_run()), slow=True),
    Case("train-out-read-only", f"{TRAIN} --data <r>/data --out <r>/ro/run", 1, r"--out <r>/ro/run: cannot write in <r>/ro",
         setup=(dataset(), mkdir("ro"), read_only("ro")), slow=True),
    Case("train-out-unwritable-for-root-too", f"{TRAIN} --data <r>/data --out /sys/electra-sweep", 1, r"--out /sys/electra-sweep: cannot write in /sys",
         setup=(dataset(), sysfs_unwritable), slow=True),
]


def _drop(path: list):
    def edit(manifest):
        parent = manifest
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]

    return edit


SHARDS_AND_MANIFESTS = [
    Case("verify-no-manifest", "verify <r>/data", 1, r"<r>/data: .*the build did not finish", setup=(dataset(), lambda r, g: (r / "data/manifest.json").unlink())),
    Case("verify-empty-directory", "verify <r>/data", 1, r"<r>/data: .*manifest", setup=(mkdir("data"),)),
    Case("verify-a-file", "verify <r>/in/book.txt", 2, r"Invalid value for 'directory': dir '<r>/in/book\.txt' is a file", setup=(book(),)),
    Case("verify-manifest-not-json", "verify <r>/data", 1, r"manifest\.json", setup=(dataset(), write("data/manifest.json", "{ this is not json"))),
    Case("verify-manifest-empty", "verify <r>/data", 1, r"manifest\.json", setup=(dataset(), write("data/manifest.json", "")), slow=True),
    Case("verify-manifest-a-list", "verify <r>/data", 1, r"manifest\.json: a manifest is a JSON object", setup=(dataset(), edit_json("data/manifest.json", lambda m: [m]))),
    Case("verify-manifest-without-shards", "verify <r>/data", 1, r"manifest\.json: shards is missing", setup=(dataset(), edit_json("data/manifest.json", _drop(["shards"])))),
    Case("verify-manifest-newer-version", "verify <r>/data", 1, r"manifest\.json: format 'electra-data-shards' version 99 is not 'electra-data-shards' version 1: .*rebuild", setup=(dataset(), edit_json("data/manifest.json", lambda m: m.update(format_version=99)))),
    Case("verify-manifest-another-format", "verify <r>/data", 1, r"manifest", setup=(dataset(), edit_json("data/manifest.json", lambda m: m.update(format="webdataset"))), slow=True),
    Case("verify-shard-missing", "verify <r>/data", 1, r"train/shard-00000-of-00001\.arrow: missing",
         setup=(dataset(), lambda r, g: (r / "data/train/shard-00000-of-00001.arrow").unlink())),
    Case("verify-shard-truncated", "verify <r>/data", 1, r"train/shard-00000-of-00001\.arrow: checksum mismatch",
         setup=(dataset(), truncate("data/train/shard-00000-of-00001.arrow"))),
    Case("verify-shard-count-edited", "verify <r>/data", 1, r"train/shard-00000-of-00001\.arrow: \d+ rows / \d+ tokens, manifest says",
         setup=(dataset(), edit_json("data/manifest.json", lambda m: first_shard(m).update(examples=first_shard(m)["examples"] + 1)))),
    Case("verify-shard-path-traversal", "verify <r>/data", 1, r"manifest\.json: path '\.\./\.\./etc/passwd' leaves the dataset directory",
         setup=(dataset(), edit_json("data/manifest.json", lambda m: first_shard(m).update(path="../../etc/passwd")))),
    Case("verify-shard-absolute-path", "verify <r>/data", 1, r"path '/etc/passwd' leaves the dataset directory",
         setup=(dataset(), edit_json("data/manifest.json", lambda m: first_shard(m).update(path="/etc/passwd"))), slow=True),
    Case("verify-shard-symlink-out", "verify <r>/data", 1, r"leaves the dataset directory",
         setup=(dataset(), lambda r, g: (r / "data/train/shard-00000-of-00001.arrow").unlink(), symlink("data/train/shard-00000-of-00001.arrow", "/etc/hostname"))),
    Case("verify-vocab-edited", "verify <r>/data", 1, r"tokenizer/(vocab\.txt|tokenizer\.json): vocab_sha256 is",
         setup=(dataset(), lambda r, g: (r / "data/tokenizer/vocab.txt").write_text((r / "data/tokenizer/vocab.txt").read_text().replace("the\n", "teh\n", 1)),
                lambda r, g: (r / "data/tokenizer/tokenizer.json").unlink())),
    Case("inspect-no-manifest", "inspect <r>/data", 1, r"<r>/data: .*the build did not finish", setup=(dataset(), lambda r, g: (r / "data/manifest.json").unlink()), slow=True),
    Case("inspect-manifest-not-an-object", "inspect <r>/data", 1, r"manifest\.json: a manifest is a JSON object, this is 3", setup=(dataset(), write("data/manifest.json", "3"))),
    Case("inspect-shard-truncated", "inspect <r>/data", 1, r"shard-00000-of-00001\.arrow: not a readable Arrow IPC stream",
         setup=(dataset(), truncate("data/train/shard-00000-of-00001.arrow", 0.6))),
    Case("inspect-shard-garbage", "inspect <r>/data", 1, r"shard-00000-of-00001\.arrow: not a readable Arrow IPC stream",
         setup=(dataset(), write("data/train/shard-00000-of-00001.arrow", b"\x00garbage" * 100)), slow=True),
    Case("inspect-shard-path-traversal", "inspect <r>/data", 1, r"leaves the dataset directory",
         setup=(dataset(), edit_json("data/manifest.json", lambda m: first_shard(m).update(path="../data/../../x.arrow")))),
    Case("inspect-a-run-directory", "inspect <r>/run", 1, r"<r>/run: .*manifest", setup=(finished_run(),), slow=True),
    Case("train-data-without-manifest", f"{TRAIN} --data <r>/data --out <r>/out", 1, r"no manifest\.json in <r>/data: the build did not finish",
         setup=(dataset(), lambda r, g: (r / "data/manifest.json").unlink()), slow=True),
    Case("train-data-path-traversal", f"{TRAIN} --data <r>/data --out <r>/out", 1, r"shard path '\.\./x\.arrow' in <r>/data/manifest\.json leaves the directory",
         setup=(dataset(), edit_json("data/manifest.json", lambda m: first_shard(m).update(path="../x.arrow"))), slow=True),
    Case("train-data-shard-truncated", f"{TRAIN} --data <r>/data --out <r>/out", 1, r"shard-00000-of-00001\.arrow",
         setup=(dataset(), truncate("data/train/shard-00000-of-00001.arrow", 0.4)), slow=True),
    Case("train-data-shard-missing", f"{TRAIN} --data <r>/data --out <r>/out", 1, r"shard <r>/data/train/shard-00000-of-00001\.arrow listed in the manifest is missing",
         setup=(dataset(), lambda r, g: (r / "data/train/shard-00000-of-00001.arrow").unlink()), slow=True),
]

CHECKPOINTS = [
    Case("init-from-a-crafted-pickle", f"{TRAIN} --data <r>/data --out <r>/out --init-from <r>/ckpt", 1,
         r"--init-from: pytorch_model\.bin in <r>/ckpt is not a safe checkpoint",
         setup=(dataset(), checkpoint_dir("ckpt"), crafted_pickle("ckpt/pytorch_model.bin"))),
    Case("init-from-corrupt-safetensors", f"{TRAIN} --data <r>/data --out <r>/out --init-from <r>/ckpt", 1, r"<r>/ckpt",
         setup=(dataset(), checkpoint_dir("ckpt"), write("ckpt/model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not safetensors")), slow=True),
    Case("init-from-changed-architecture", train("--data <r>/data --out <r>/out --init-from <r>/ckpt", model_size="mini"), 1,
         r"--init-from <r>/ckpt is shaped like tiny, not mini: pass --model-size tiny", setup=(dataset(), checkpoint_dir("ckpt")), slow=True),
    Case("init-from-unknown-shape", f"{TRAIN} --data <r>/data --out <r>/out --init-from <r>/ckpt", 1, r"<r>/ckpt has shape .* which matches no --model-size",
         setup=(dataset(), checkpoint_dir("ckpt", {"hidden_size": 96})), slow=True),
    Case("init-from-config-without-a-field", f"{TRAIN} --data <r>/data --out <r>/out --init-from <r>/ckpt", 1, r"<r>/ckpt/config\.json.*num_hidden_layers",
         setup=(dataset(), checkpoint_dir("ckpt"), edit_json("ckpt/config.json", _drop(["num_hidden_layers"]))), slow=True),
    Case("init-from-another-vocab", f"{TRAIN} --data <r>/data --out <r>/out --init-from <r>/ckpt", 1, r"tokenized with another vocab than <r>/ckpt/vocab\.txt",
         setup=(dataset(), checkpoint_dir("ckpt"), write("ckpt/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")), slow=True),
    Case("init-from-an-empty-directory", f"{TRAIN} --data <r>/data --out <r>/out --init-from <r>/ckpt", 1, r"--init-from <r>/ckpt holds no Hugging Face ELECTRA checkpoint",
         setup=(dataset(), mkdir("ckpt")), slow=True),
    Case("resume-without-a-checkpoint", f"{TRAIN} --data <r>/data --out <r>/out --resume", 1, r"<r>/out", setup=(dataset(),), slow=True),
    Case("resume-a-corrupt-checkpoint", train("--data <r>/data --out <r>/run --resume", max_steps=3), 1, r"checkpoint <r>/run/checkpoints/step-0000002",
         setup=(dataset(), finished_run(), write("run/checkpoints/step-0000002/state.pt", b"PK\x03\x04 not a checkpoint")), out="run", slow=True),
    Case("resume-a-crafted-pickle", train("--data <r>/data --out <r>/run --resume", max_steps=3), 1, r"checkpoint <r>/run/checkpoints/step-0000002.*not a safe",
         setup=(dataset(), finished_run(), crafted_pickle("run/checkpoints/step-0000002/state.pt")), out="run", slow=True),
    Case("resume-with-another-architecture", train("--data <r>/data --out <r>/run --resume", max_steps=3, model_size="mini"), 1,
         r"checkpoint <r>/run/checkpoints/step-0000002 was trained with model_size=tiny.*this run asks for model_size=mini",
         setup=(dataset(), finished_run()), out="run", slow=True),
]

SIGNALS = [
    # which step a moment falls in depends on the machine: each gives one true line (test_cli_safety
    # stops the command in each step for sure)
    Case("signal-sigint-at-0.3s", f"{BUILD} --input <r>/in/book.txt", 130, r"^interrupted(:| before the run started:) nothing was written",
         setup=(book(),), interrupt=(S_INT, "0.3")),
    Case("signal-sigint-at-1.5s", f"{BUILD} --input <r>/in/book.txt", 130, r"^interrupted(:| before the run started:) nothing was written",
         setup=(book(),), interrupt=(S_INT, "1.5")),
    Case("signal-sigterm-at-0.8s", f"{BUILD} --input <r>/in/book.txt", 143, r"^interrupted(:| before the run started:) nothing was written",
         setup=(book(),), interrupt=(S_TERM, "0.8"), slow=True),
    Case("signal-sigint-to-verify", "verify <r>/data", 130, r"^interrupted", setup=(dataset(),), interrupt=(S_INT, "0.3"), slow=True),
    Case("signal-sigterm-while-staging-2-workers", f"{BUILD} --input <r>/in/book.txt --workers 2", 143, r"^interrupted: nothing was written to <r>/out",
         setup=(book(),), interrupt=(S_TERM, "staging"), slow=True),
    Case("signal-sigint-while-staging-over-a-dataset", f"build --corpus books --input <r>/in/book.txt --out <r>/data --overwrite {FAST}", 130,
         r"^interrupted: nothing was written to <r>/data \(what it held is untouched\)", setup=(book(), dataset()), interrupt=(S_INT, "staging"), slow=True),
    Case("signal-sigterm-to-vocab-while-it-starts", "vocab --corpus books --input <r>/in/book.txt --out <r>/out --vocab-size 300", 143, r"^interrupted",
         setup=(book(),), interrupt=(S_TERM, "1.0"), slow=True),
    Case("signal-sigint-while-train-starts", f"{TRAIN} --data <r>/data --out <r>/out", 130, r"interrupt", setup=(dataset(),), interrupt=(S_INT, "0.3"), slow=True),
    Case("signal-sigint-while-eval-starts", "eval <r>/model --train <r>/in/train.tsv --test <r>/in/train.tsv --out <r>/out", 130,
         r"^interrupted(:| before the run started:) no(thing was written| results written)", interrupt=(S_INT, "0.3")),
    Case("signal-sigterm-during-training", train("--data <r>/data --out <r>/out", max_steps=1000), 143, r"continue with --resume|start again|nothing was written",
         setup=(dataset(),), interrupt=(S_TERM, "step"), leaves=("out",), slow=True),
]

CASES = INPUTS + DUMPS + OPTIONS + OUTPUT_DIRECTORIES + SHARDS_AND_MANIFESTS + CHECKPOINTS + SIGNALS


def _param(case: Case):
    marks = [pytest.mark.slow] if case.slow else []
    if case.xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
    return pytest.param(case, id=case.id, marks=marks)


def test_the_sweep_is_large_and_its_ids_unique():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


# --- running a case ------------------------------------------------------------------------------


def _command(argv: str, root: Path) -> list[str]:
    words = [w.replace("<r>", str(root)) for w in shlex.split(argv)]
    if words[0] == "train":
        return [str(BIN / "electra-train"), *words[1:]]
    if words[0] == "eval":
        return [str(BIN / "electra-eval"), *words[1:]]
    return [str(BIN / "electra-data"), *words]


def _environment(scratch: Path) -> dict[str, str]:
    # a private TMPDIR (what is left in it was left by the command), no colours, no line wrapping
    return {**os.environ, "TMPDIR": str(scratch), "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb", "OMP_NUM_THREADS": "1"}


def _moment_reached(moment: str, out: Path, started: float) -> bool:
    if moment[0].isdigit():  # seconds after the start: Python imports what the command needs
        return time.monotonic() - started > float(moment)
    if moment == "staging":  # the checks are done, the pipeline runs
        return any(out.glob(".tmp-*"))
    if moment == "step":
        return (out / "metrics.jsonl").exists() or (out / "checkpoints").exists()
    raise ValueError(moment)


def _limit_file_size(limit: int) -> Callable[[], None] | None:
    """What the child runs before the command: writes past ``limit`` bytes fail (EFBIG)."""
    if not limit:
        return None

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails, rather than the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


def _run(case: Case, root: Path, scratch: Path) -> subprocess.CompletedProcess:
    args = _command(case.argv, root)
    env = _environment(scratch)
    if case.interrupt is None:
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd=root, timeout=600,
                              preexec_fn=_limit_file_size(case.file_size_limit))  # fmt: skip
    signum, moment = case.interrupt
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root,
                               start_new_session=True)  # fmt: skip
    out = Path(args[args.index("--out") + 1]) if "--out" in args else root
    started, deadline = time.monotonic(), time.monotonic() + 120
    while not _moment_reached(moment, out, started) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, f"the command ended before the moment {moment!r}: {process.communicate()}"
    # Ctrl-C reaches the whole foreground group (the workers too); `kill` the process alone
    (os.killpg if signum == signal.SIGINT else os.kill)(process.pid, signum)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


# --- what every case asserts -----------------------------------------------------------------------


def _tree(root: Path, skip: tuple[Path, ...] | list[Path] = ()) -> dict[str, str]:
    """Every entry under ``root`` (symlinks not followed) with its content's sha256, a link's target or 'dir'."""
    entries = {}
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        dirs[:] = [d for d in dirs if here / d not in skip]
        for name in [*dirs, *files]:
            path = here / name
            if path in skip:
                continue
            rel = str(path.relative_to(root))
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                entries[rel] = "-> " + os.readlink(path)
            elif stat.S_ISDIR(mode):
                entries[rel] = "dir"
            elif stat.S_ISREG(mode):
                entries[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:  # a named pipe: reading it would wait
                entries[rel] = f"special {stat.S_IFMT(mode):o}"
    return entries


def _temporary_files(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if TEMPORARY.search(p.name)]


def _left_in(scratch: Path) -> list[str]:
    """What a command left in its TMPDIR, less the empty cache directory that importing
    transformers' models makes torch create there (torchinductor_USER): torch's, for every program."""
    return sorted(p.name for p in scratch.iterdir() if not (p.name.startswith("torchinductor_") and not any(p.iterdir())))


def _one_line(text: str) -> str:
    """``text`` with its whitespace collapsed and the lines of click's error box removed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())




def _reconciles(manifest: dict) -> None:
    counts = manifest["counts"]
    assert counts["documents_read"] == counts["documents_kept"] + sum(counts["dropped"].values()), counts
    for source, c in counts["by_source"].items():
        assert c["read"] == c["kept"] + sum(c["dropped"].values()), (source, counts)


def _assert_changed_only(root: Path, before: dict[str, str], *changed: Path) -> None:
    """Everything under ``root`` but ``changed`` is as it was, byte for byte."""
    kept = {rel: digest for rel, digest in before.items() if not any((root / rel).is_relative_to(c) for c in changed)}
    assert _tree(root, skip=changed) == kept


def _assert_one_message(case: Case, stderr: str, root: Path) -> None:
    """One message on stderr, that matches the case's regex: an ``error:`` line, click's box for a
    usage error, or for a signal the line on what was left (a run's progress bar aside)."""
    message = case.message.replace("<r>", re.escape("<r>"))
    assert re.search(message, _one_line(stderr).replace(str(root), "<r>")), f"{case.message!r} not in stderr:\n{stderr[-4000:]}"
    if case.status == 1:
        assert len([line for line in stderr.splitlines() if line.startswith("error:")]) == 1, stderr[-4000:]
    elif case.status == 2:
        assert stderr.count("Error") == 1, stderr[-4000:]
    else:
        # a bar redraws its line with a carriage return, and a message may follow it on that line
        lines = [PROGRESS_BAR.sub("", line) for line in re.split(r"[\r\n]", stderr)]
        assert len([line for line in lines if line.strip()]) == 1, stderr[-4000:]


def _check(case: Case, result: subprocess.CompletedProcess, root: Path, scratch: Path, before: dict[str, str]) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-4000:]
    assert result.returncode == case.status, output[-4000:]
    if case.status == 0:
        _assert_changed_only(root, before, root / case.out)
        if case.argv.startswith("build"):
            _reconciles(json.loads((root / case.out / "manifest.json").read_text()))
    else:
        _assert_one_message(case, result.stderr, root)
        left = [root / rel for rel in case.leaves]  # the rest as it was: no manifest there either
        args = result.args
        out = Path(args[args.index("--out") + 1]) if "--out" in args else root / case.out
        work = Path(f"{out}.work")  # a build's work, kept for --resume only if the message says so
        if work.exists() and str(work.relative_to(root)) not in before:
            assert f"the work done so far is kept in {work}" in _one_line(result.stderr), result.stderr[-4000:]
            left.append(work)
        _assert_changed_only(root, before, *left)
        assert not any((path / "manifest.json").exists() for path in left), "a failed build wrote a manifest"
    assert not (root / "pwned").exists(), "a crafted pickle ran"
    assert _temporary_files(root) == []
    assert _left_in(scratch) == [], "the command left files in its TMPDIR"
    if case.interrupt:
        assert processes_with(str(scratch)) == [], "a worker outlived the command"


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, request) -> None:
    root, scratch = tmp_path / "case", tmp_path / "tmp"
    root.mkdir()
    scratch.mkdir()
    given = Given(request)
    for step in case.setup:
        step(root, given)
    before = _tree(root)
    try:
        result = _run(case, root, scratch)
        _check(case, result, root, scratch, before)
    finally:
        for path in [root, *root.rglob("*")]:  # read-only directories: pytest must clean them up
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)


# --- what the cases share --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A real dataset: one small book built by the real command (seconds), never changed."""
    out = tmp_path_factory.mktemp("sweep") / "dataset"
    args = _command(f"build --corpus books --input {BOOK} --out {out} {FAST}", out.parent)
    result = subprocess.run(args, capture_output=True, text=True, env=_environment(out.parent), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def finished_run(dataset, tmp_path_factory) -> Path:
    """A finished two-step training run on ``dataset``: a checkpoint at step 2."""
    out = tmp_path_factory.mktemp("sweep-run") / "run"
    args = _command(f"{TRAIN} --data {dataset} --out {out} --save-every 2", out.parent)
    result = subprocess.run(args, capture_output=True, text=True, env=_environment(out.parent), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out
