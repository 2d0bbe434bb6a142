"""Throughput and memory of dedup on real corpora (issue 4), baselines in the same run.

One process, one core (CPU time). On the wiki sample of sample_data/ plus all the Gutenberg
books and the whole Linux kernel rst tarball of ../shared/data (~3,100 documents, ~39 MB):

- ours: ``minhash_signature`` (vectorised shingle hash + datasketch's affine32 permutations)
  plus ``band_keys`` (signature + bucketing), and the whole per-document dedup work
  (``exact_key`` + signature + bucketing);
- datasketch's per-shingle ``MinHash.update()`` loop and ``MinHash.bulk`` (SHA-1 shingle hash,
  same scheme and permutations), both fed by ``shingles()``;
- the real ``ExactDedup`` + ``NearDedup`` transforms on Beam's FnApiRunner, runner overhead in:
  a pipeline that reads the documents from a JSONL file into units on disk with their dedup runs
  (exact keys and MinHash bands, ``pipelines.read.write_unit``, as the build's ``ProcessUnits``
  does) and dedups them, minus the same pipeline that writes the units without dedup runs and
  does not dedup (the dedup stage's own cost);
- peak RSS (child processes) of the per-document dedup work streamed over 1x and 10x the input
  (copies with distinct keys), and of that Beam pipeline on FnApiRunner over 1x and 10x (with
  near dedup run a second time over all documents, exact copies included: every copy is a near
  duplicate).

    python bench/bench_dedup_speed.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ARGS = dict(num_perm=128, seed=1, ngram=5)
NEAR = dict(threshold=0.8, **ARGS)  # what the units' band runs are written with


def load_texts() -> list[tuple[str, str]]:
    """(key, text) of the documents: extracted wiki sample articles, all books, all kernel docs."""
    from electra_data.articles import page_drop_reason
    from electra_data.wiki import iter_pages
    from electra_data.wikitext import wikitext_to_text

    docs = [
        (f"wiki:{page.id}", wikitext_to_text(page.text))
        for path in sorted((SAMPLE / "wikipedia").glob("*.bz2"))
        for page in iter_pages(path)
        if page_drop_reason(page) is None
    ]
    books = sorted((SHARED / "books" / "gutenberg").rglob("*.txt"))
    docs += [(f"books:{p.stem}", p.read_text(encoding="utf-8-sig")) for p in books]
    with tarfile.open(next((SHARED / "domain").glob("linux-doc-*.tar.gz"))) as tar:
        docs += [
            (f"domain:{m.name}", tar.extractfile(m).read().decode("utf-8"))
            for m in tar
            if m.isfile() and m.name.endswith(".rst.txt")
        ]
    return docs


def _cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def _child_rss(mode: str, repeat: int, path: str) -> float:
    """Peak RSS in MB of a child running ``mode`` over the JSONL input repeated ``repeat`` times."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--repeat", str(repeat), "--input", path],
        capture_output=True, text=True, check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _copy(copy: int, path: str):
    """The documents of the JSONL input, keys suffixed with ``#copy`` (read lazily)."""
    from electra_data.documents import Document

    with open(path, encoding="utf-8") as f:
        for line in f:
            key, text = json.loads(line)
            yield Document(f"{key}#{copy}", "bench", key, text)


def _write_units(copy: int, path: str, work: str, partitions: int, dedup: bool):
    """Copy ``copy`` of the JSONL input -> units of about ``UNIT_BYTES`` of text in ``work``,
    with their exact-key and band runs if ``dedup``; yields the unit names."""
    from electra_data.pipelines.plan import UNIT_BYTES
    from electra_data.pipelines.read import write_unit

    docs, size, count = [], 0, 0

    def flush():
        name = f"bench-{copy:04d}-{count:04d}"
        write_unit(work, name, docs, partitions, exact=dedup, near=NEAR if dedup else None)
        return name

    for doc in _copy(copy, path):
        docs.append(doc)
        size += len(doc.text)
        if size >= UNIT_BYTES:
            yield flush()
            docs, size, count = [], 0, count + 1
    if docs:
        yield flush()


def _partitions(path: str, repeat: int) -> int:
    """As the build plans them: one per 64 MB of text."""
    return max(1, math.ceil(repeat * Path(path).stat().st_size / (64 * 2**20)))


def dedup_pipeline(path: str, repeat: int, *, dedup: bool, near_on_all: bool = False) -> None:
    """Read ``repeat`` copies of the JSONL input into units on disk, then (``dedup``) run exact
    and near dedup over them as the build does; ``near_on_all``: near dedup once more, over all
    documents (no exact drops)."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from electra_data.pipelines.dedup import ExactDedup, NearDedup

    partitions = _partitions(path, repeat)
    near_args = dict(threshold=NEAR["threshold"], num_perm=NEAR["num_perm"], ngram=NEAR["ngram"])
    with tempfile.TemporaryDirectory() as work, beam.Pipeline(runner=FnApiRunner()) as p:
        units = p | beam.Create(range(repeat)) | beam.FlatMap(_write_units, path, work, partitions, dedup)
        if dedup:
            exact = units | ExactDedup(work, partitions)
            _ = (units, exact) | NearDedup(work, partitions, **near_args)
            if near_on_all:  # every copy is a near duplicate
                none = p | "NoExact" >> beam.Create([])
                _ = (units, none) | "NearOnAll" >> NearDedup(work, partitions, **near_args)
        else:
            _ = units | beam.Map(len)


def child(mode: str, repeat: int, path: str) -> None:
    if mode == "stream":  # the per-document work of both stages, streamed as a worker does
        from electra_data.dedup import band_keys, exact_key, minhash_signature

        for doc in (d for c in range(repeat) for d in _copy(c, path)):
            exact_key(doc.text)
            sig = minhash_signature(doc.text, **ARGS)
            if sig is not None:
                band_keys(sig, 16, 8)
    else:
        dedup_pipeline(path, repeat, dedup=True, near_on_all=True)
    # VmHWM, not ru_maxrss: Linux carries the parent's ru_maxrss over fork and exec.
    status = Path("/proc/self/status").read_text()
    print(int(status.split("VmHWM:")[1].split()[0]) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--child")
    parser.add_argument("--input")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.repeat, args.input)

    from datasketch import MinHash

    from electra_data.dedup import MINHASH_SCHEME, band_keys, exact_key, minhash_signature, shingles

    docs = load_texts()
    texts = [t for _, t in docs]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    n = len(texts)

    def ours_signatures():
        for t in texts:
            sig = minhash_signature(t, **ARGS)
            if sig is not None:
                band_keys(sig, 16, 8)

    def ours_stage():
        for t in texts:
            exact_key(t)
            sig = minhash_signature(t, **ARGS)
            if sig is not None:
                band_keys(sig, 16, 8)

    def update_loop():
        for t in texts:
            m = MinHash(num_perm=128, seed=1, scheme=MINHASH_SCHEME)
            for s in shingles(t, 5):
                m.update(s)

    def bulk():
        MinHash.bulk([list(shingles(t, 5)) for t in texts], num_perm=128, seed=1, scheme=MINHASH_SCHEME)

    def beam_pipeline(dedup: bool):
        return lambda: dedup_pipeline(path, 1, dedup=dedup)

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "docs.jsonl")
        Path(path).write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        rows = [
            ("ours: signature + bucketing", _cpu(ours_signatures)),
            ("ours: exact key + signature + bucketing", _cpu(ours_stage)),
            ("datasketch MinHash.bulk (SHA-1)", _cpu(bulk)),
            ("datasketch update() per shingle", _cpu(update_loop)),
        ]
        read_only, read_dedup = _cpu(beam_pipeline(False)), _cpu(beam_pipeline(True))
        rows.append(("Beam units' runs + ExactDedup + NearDedup", read_dedup - read_only))
        ours = rows[0][1]
        print(f"{n} documents, {mb:.2f} MB of text (wiki sample, all books, all kernel docs), 128 perms, 16 x 8 bands")
        print(f"{'':42s} {'CPU s':>6s} {'ms/doc':>7s} {'MB/s/core':>9s} {'x ours':>7s}")
        for label, seconds in rows:
            print(f"{label:42s} {seconds:6.2f} {1000 * seconds / n:7.2f} {mb / seconds:9.2f} {seconds / ours:7.1f}")
        print(f"(the Beam stage, FnApiRunner: {read_dedup:.2f} s reading into units + dedup"
              f" - {read_only:.2f} s reading into units only)")

        print(f"\npeak RSS (MB)                              {'1x':>6s} {f'{args.repeat}x':>7s}")
        for label, mode in (("per-document dedup work, streamed", "stream"), ("units + Beam dedup on FnApiRunner", "beam")):
            small, large = _child_rss(mode, 1, path), _child_rss(mode, args.repeat, path)
            print(f"{label:42s} {small:6.0f} {large:7.0f}")


if __name__ == "__main__":
    main()
