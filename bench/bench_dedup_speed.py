"""Throughput and memory of dedup on real corpora (issue 4), baselines in the same run.

One process, one core (CPU time). On the wiki sample of sample_data/ plus all the Gutenberg
books and the whole Linux kernel rst tarball of ../shared/data (~3,100 documents, ~39 MB):

- ours: ``minhash_signature`` (vectorised shingle hash + datasketch's affine32 permutations)
  plus ``band_keys`` (signature + bucketing), and the whole per-document dedup work
  (``exact_key`` + signature + bucketing);
- datasketch's per-shingle ``MinHash.update()`` loop and ``MinHash.bulk`` (SHA-1 shingle hash,
  same scheme and permutations), both fed by ``shingles()``;
- the real ``ExactDedup`` + ``NearDedup`` transforms on Beam's FnApiRunner, runner overhead in:
  a pipeline that reads the documents from a JSONL file and dedups them, minus the same pipeline
  that only reads them (the dedup stage's own cost);
- peak RSS (child processes) of the per-document dedup work streamed over 1x and 10x the input
  (copies with distinct keys), and of the Beam transforms on FnApiRunner over 1x and 10x.

    python bench/bench_dedup_speed.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ARGS = dict(num_perm=128, seed=1, ngram=5)


def load_texts() -> list[tuple[str, str]]:
    """(key, text) of the documents: extracted wiki sample articles, all books, all kernel docs."""
    from electra_data.wiki import iter_pages, page_drop_reason
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


def child(mode: str, repeat: int, path: str) -> None:
    if mode == "stream":  # the per-document work of both stages, streamed as a worker does
        from electra_data.dedup import band_keys, exact_key, minhash_signature

        for doc in (d for c in range(repeat) for d in _copy(c, path)):
            exact_key(doc.text)
            sig = minhash_signature(doc.text, **ARGS)
            if sig is not None:
                band_keys(sig, 16, 8)
    else:
        import apache_beam as beam
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        from electra_data.pipelines.dedup import ExactDedup, NearDedup

        with beam.Pipeline(runner=FnApiRunner()) as p:
            docs = p | beam.Create(range(repeat)) | beam.FlatMap(_copy, path)
            kept, _ = docs | ExactDedup()
            _ = kept | NearDedup(threshold=0.8, **ARGS)
            _ = docs | "NearOnAll" >> NearDedup(threshold=0.8, **ARGS)  # every copy is a near duplicate
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

    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from datasketch import MinHash

    from electra_data.dedup import MINHASH_SCHEME, band_keys, exact_key, minhash_signature, shingles
    from electra_data.pipelines.dedup import ExactDedup, NearDedup

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
        def run():
            with beam.Pipeline(runner=FnApiRunner()) as p:
                docs = p | beam.Create([0]) | beam.FlatMap(_copy, path)  # read as a source would
                if dedup:
                    kept, _ = docs | ExactDedup()
                    _ = kept | NearDedup(threshold=0.8, **ARGS)
                else:
                    _ = docs | beam.Map(len)
        return run

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
        rows.append(("Beam ExactDedup + NearDedup (FnApiRunner)", read_dedup - read_only))
        ours = rows[0][1]
        print(f"{n} documents, {mb:.2f} MB of text (wiki sample, all books, all kernel docs), 128 perms, 16 x 8 bands")
        print(f"{'':42s} {'CPU s':>6s} {'ms/doc':>7s} {'MB/s/core':>9s} {'x ours':>7s}")
        for label, seconds in rows:
            print(f"{label:42s} {seconds:6.2f} {1000 * seconds / n:7.2f} {mb / seconds:9.2f} {seconds / ours:7.1f}")
        print(f"(the Beam stage: {read_dedup:.2f} s reading + dedup - {read_only:.2f} s reading only)")

        print(f"\npeak RSS (MB)                              {'1x':>6s} {f'{args.repeat}x':>7s}")
        for label, mode in (("per-document dedup work, streamed", "stream"), ("Beam transforms on FnApiRunner", "beam")):
            small, large = _child_rss(mode, 1, path), _child_rss(mode, args.repeat, path)
            print(f"{label:42s} {small:6.0f} {large:7.0f}")


if __name__ == "__main__":
    main()
