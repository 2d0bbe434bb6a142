"""Make the train/test TSVs in this folder from the NLTK data packages in ../shared/data.

    python sample_data/labelled/make_splits.py ../shared/data/labelled/nltk_data

Each task's sentences are shuffled with a fixed seed and split 80/20 per class, so both files
keep the classes' shares; the output is byte-identical on every run (gzip without a timestamp).
"""

from __future__ import annotations

import gzip
import random
import sys
import zipfile
from pathlib import Path

TASKS = {  # task: (zip, {member: label})
    "polarity": ("sentence_polarity.zip", {"sentence_polarity/rt-polarity.neg": "negative",
                                           "sentence_polarity/rt-polarity.pos": "positive"}),
    "subjectivity": ("subjectivity.zip", {"subjectivity/plot.tok.gt9.5000": "objective",
                                          "subjectivity/quote.tok.gt9.5000": "subjective"}),
}
TEST_SHARE, SEED = 0.2, 12345


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> None:
    body = "text\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(body.encode("utf-8"))


def main(nltk_data: Path) -> None:
    here = Path(__file__).resolve().parent
    for task, (archive, members) in TASKS.items():
        train, test = [], []
        with zipfile.ZipFile(nltk_data / archive) as z:
            for member, label in members.items():
                lines = z.read(member).decode("utf-8").splitlines()
                rows = [(" ".join(line.split()), label) for line in lines if line.strip()]
                random.Random(f"{SEED}-{member}").shuffle(rows)
                cut = round(len(rows) * TEST_SHARE)
                test += rows[:cut]
                train += rows[cut:]
        for name, rows in (("train", train), ("test", test)):
            random.Random(f"{SEED}-{task}-{name}").shuffle(rows)
            (here / task).mkdir(exist_ok=True)
            write_tsv(here / task / f"{name}.tsv.gz", rows)
            print(f"{task}/{name}.tsv.gz: {len(rows)} rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
