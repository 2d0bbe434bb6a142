"""Quality of exact and near dedup on a labelled set built from real documents (issue 4).

Bases are real documents from ../shared/data: Wikipedia articles (extracted like the build does),
~1,500-word sections of the Gutenberg books (chapter-sized, neighbouring sections of a book are
same-topic non-duplicates), and Linux kernel docs from the rst tarball (same-directory docs are
same-topic non-duplicates). Each base gets one edited copy at a target shingle Jaccard, drawn so
that many land just above and just below the threshold. An edit combines, at random,
truncation, inserted boilerplate (Gutenberg licence paragraphs), paragraph reordering and word
substitutions, always with re-wrapping and re-casing; its strength is bisected until the true
Jaccard is within 0.01 of the target.

Truth: every pair of documents with true word 5-gram Jaccard >= threshold. (True Jaccard is
computed exactly for all designed pairs and for every pair whose MinHash estimate is >= 0.5;
a pair at 0.8 has an estimate below 0.5 with probability ~1e-17.) Prediction: two documents in
the same cluster (a kept document and those removed as its duplicates) of the real NearDedup
transform, run on Beam's FnApiRunner over the documents written into units with their dedup runs
as the build writes them (``pipelines.read.write_unit``; units of ``UNIT_BYTES`` of text): by
default, with estimates near the threshold checked exactly; for comparison, with estimates only,
without verification, and with 256 permutations. Exact dedup is measured on byte-identical and
re-wrapped copies of the bases: precision and recall must be 1.0.

    python bench/bench_dedup_quality.py [--per-source 200] [--threshold 0.8] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import re
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

import apache_beam as beam
import numpy as np
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from electra_data.dedup import minhash_signature, normalize_for_dedup, shingles
from electra_data.documents import Document
from electra_data.pipelines.dedup import ExactDedup, NearDedup
from electra_data.pipelines.plan import UNIT_BYTES
from electra_data.pipelines.read import write_unit
from electra_data.articles import page_drop_reason
from electra_data.wiki import iter_pages
from electra_data.wikitext import wikitext_to_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WIKI = DATA / "wikipedia" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
BOOKS = DATA / "books" / "gutenberg"
DOMAIN = DATA / "domain" / "linux-doc-6.1.192_rst-sources_en.tar.gz"
_GUTENBERG_BODY = re.compile(r"\*\*\* ?START OF.*?\*\*\*(.*)\*\*\* ?END OF", re.S)
# (low, high, share of the edited copies): dense around the threshold on both sides.
TARGETS = [(0.90, 0.99, 0.25), (0.82, 0.90, 0.2), (0.78, 0.82, 0.15), (0.65, 0.78, 0.2), (0.30, 0.65, 0.2)]


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def load_bases(per_source: int, rng: random.Random) -> tuple[list[Document], list[str]]:
    """Real documents of >= 100 words from the three sources, and boilerplate paragraphs."""
    wiki = []
    for page in iter_pages(WIKI):
        if page_drop_reason(page) is None:
            text = wikitext_to_text(page.text)
            if len(text.split()) >= 100:
                wiki.append(Document(f"wiki:{page.id}", "wiki", page.title, text))
    books, boilerplate = [], []
    for path in sorted(BOOKS.glob("*.txt")):
        raw = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
        body = _GUTENBERG_BODY.search(raw)
        boilerplate += _paragraphs(raw[body.end() :])[:40] if body else []
        section, count = [], 0
        for para in _paragraphs(body.group(1) if body else raw):
            section.append(para)
            count += len(para.split())
            if count >= 1500:
                books.append(Document(f"book:{path.stem}:{len(books):04d}", "books", path.stem, "\n\n".join(section)))
                section, count = [], 0
    domain = []
    with tarfile.open(DOMAIN) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".txt"):
                text = tar.extractfile(member).read().decode("utf-8", "replace")
                if len(text.split()) >= 100:
                    domain.append(Document(f"domain:{member.name.lstrip('./')}", "domain", member.name, text))
    picked = []
    for docs in (wiki, books, domain):
        picked += rng.sample(docs, min(per_source, len(docs)))
    return picked, [p for p in boilerplate if len(p.split()) >= 20]


def _shout(text: str) -> str:
    """ASCII letters upper-cased: str.upper() is no mere re-casing for all scripts (ı -> I)."""
    return re.sub(r"[a-z]+", lambda m: m.group().upper(), text)


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def edit(text: str, strength: float, recipe: tuple[str, ...], boilerplate: list[str], seed: int) -> str:
    """A realistic edited copy; ``strength`` in [0, 1] scales every edit of the recipe."""
    # One generator per edit: the same choices at every strength, so J falls as strength grows.
    rngs = {name: random.Random(f"{seed}:{name}") for name in ("reorder", "substitute", "truncate", "boilerplate", "wrap")}
    paras = _paragraphs(text)
    if "reorder" in recipe and len(paras) > 2:
        rng = rngs["reorder"]
        for _ in range(round(strength * len(paras))):
            i, j = rng.randrange(len(paras)), rng.randrange(len(paras))
            paras[i], paras[j] = paras[j], paras[i]
    if "substitute" in recipe:
        rng = rngs["substitute"]
        words = [w for p in paras for w in p.split()]
        order = rng.sample(range(len(words)), len(words))
        vocab = sorted(set(words))
        for i in order[: round(strength * 0.25 * len(words))]:
            words[i] = rng.choice(vocab)
        it = iter(words)
        paras = [" ".join(itertools.islice(it, len(p.split()))) for p in paras]
    if "truncate" in recipe:
        rng = rngs["truncate"]
        words = " ".join(paras).split()
        cut = round(strength * 0.7 * len(words))
        paras = [" ".join(words[cut:] if rng.random() < 0.3 else words[: len(words) - cut])]
    if "boilerplate" in recipe:
        rng = rngs["boilerplate"]
        need, start = strength * 0.8 * len(text.split()), rng.randrange(len(boilerplate))
        for k in itertools.count():
            if need <= 0:
                break
            para = boilerplate[(start + k) % len(boilerplate)]
            paras.insert(rng.randrange(len(paras) + 1), para)
            need -= len(para.split())
    width = rngs["wrap"].randint(50, 90)
    return "\n\n".join(_wrap(p, width) for p in paras)


def _wrap(text: str, width: int) -> str:
    """Re-wrap without splitting words (a split word is a different text, not a re-wrap)."""
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def variant_at(base: Document, target: float, boilerplate: list[str], rng: random.Random) -> tuple[str, float, str]:
    recipes = ["truncate", "boilerplate", "reorder", "substitute"]
    recipe = tuple(sorted(rng.sample(recipes, rng.randint(1, 3))))
    recipe = recipe if recipe != ("reorder",) else ("reorder", "substitute")  # reordering alone barely moves J
    seed, base_shingles = rng.randrange(2**31), shingles(base.text, 5)
    low, high, best = 0.0, 1.0, None
    for _ in range(16):
        mid = (low + high) / 2
        text = edit(base.text, mid, recipe, boilerplate, seed)
        sim = jaccard(base_shingles, shingles(text, 5))
        if best is None or abs(sim - target) < abs(best[1] - target):
            best = (text, sim)
        if abs(sim - target) < 0.01:
            break
        low, high = (mid, high) if sim > target else (low, mid)
    return best[0], best[1], "+".join(recipe)


def _units(docs: list[Document]) -> list[list[Document]]:
    """The documents in order, in units of about ``UNIT_BYTES`` of text (as the build reads them)."""
    units, size = [[]], 0
    for doc in docs:
        if size >= UNIT_BYTES:
            units.append([])
            size = 0
        units[-1].append(doc)
        size += len(doc.text)
    return units


def _run(docs: list[Document], *, near: dict | None = None, verify: bool = True, estimates_only: bool = False) -> list:
    """[key, reason, detail] of the duplicates that dedup drops: exact dedup alone (``near``
    None), or near dedup alone with ``near`` (``threshold``, ``num_perm``, ``seed``, ``ngram``).

    The documents go to units in a work directory with their runs (exact keys or MinHash bands),
    then ``ExactDedup`` or ``NearDedup`` runs over them as the build wires it (``estimates_only``:
    the verification margin set to 0, no exact checks).
    """
    with tempfile.TemporaryDirectory() as work:
        units = []
        # as the build plans them: a partition per 64 MB of text
        partitions = max(1, math.ceil(sum(len(d.text.encode("utf-8")) for d in docs) / (64 * 2**20)))
        by_location = {}
        for i, unit_docs in enumerate(_units(docs)):
            name = f"bench-{i:05d}"
            write_unit(work, name, unit_docs, partitions, exact=near is None, near=near)
            units.append(name)
            by_location.update({(name, row): doc.key for row, doc in enumerate(unit_docs)})
        out = Path(work) / "drops.json"
        with beam.Pipeline(runner=FnApiRunner()) as p:
            names = p | "Units" >> beam.Create(units)
            if near is None:
                drops = names | ExactDedup(work, partitions)
            else:
                transform = NearDedup(
                    work, partitions, threshold=near["threshold"], num_perm=near["num_perm"], ngram=near["ngram"],
                    verify=verify,
                )  # fmt: skip
                if estimates_only:
                    transform._margin = 0.0  # no exact checks: how verification worked before them
                drops = (names, p | "NoExact" >> beam.Create([])) | transform
            _ = (
                drops
                | beam.combiners.ToList()
                | beam.Map(lambda rows: out.write_text(json.dumps(rows)))
            )
        return [[by_location[tuple(loc)], reason, detail] for loc, (reason, detail) in json.loads(out.read_text())]


def same_cluster_pairs(rejected: list) -> set[tuple[str, str]]:
    clusters: dict[str, list[str]] = {}
    for key, _, detail in rejected:
        clusters.setdefault(detail["duplicate_of"], []).append(key)
    return {
        tuple(sorted(pair)) for kept, removed in clusters.items() for pair in itertools.combinations([kept, *removed], 2)
    }


def prf(predicted: set, truth: set) -> tuple[float, float, float]:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-source", type=int, default=200)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    start = time.perf_counter()
    bases, boilerplate = load_bases(args.per_source, rng)

    docs, designed = list(bases), {}
    weights = [w for *_, w in TARGETS]
    for base in bases:
        low, high, _ = rng.choices(TARGETS, weights)[0]
        text, sim, recipe = variant_at(base, rng.uniform(low, high), boilerplate, rng)
        key = f"{base.key}~edit"
        docs.append(Document(key, base.source, base.title, text))
        designed[(base.key, key)] = (sim, recipe)
    print(f"{len(bases)} bases, {len(docs)} documents, built in {time.perf_counter() - start:.0f} s", file=sys.stderr)

    sets = {d.key: shingles(d.text, 5) for d in docs}
    sigs = {d.key: minhash_signature(d.text, num_perm=128, seed=1, ngram=5) for d in docs}
    keys = [k for k in sorted(sigs) if sigs[k] is not None]
    matrix = np.stack([sigs[k] for k in keys])
    candidates = set(designed)
    for i, k in enumerate(keys):
        close = np.nonzero((matrix[i + 1 :] == matrix[i]).mean(axis=1) >= 0.5)[0]
        candidates |= {(k, keys[i + 1 + j]) for j in close}
    truth = {tuple(sorted(p)) for p in candidates if jaccard(sets[p[0]], sets[p[1]]) >= args.threshold}

    rows = []
    for label, perms, verify in (
        ("near, 128 perms (default)", 128, "exact near threshold"),
        ("near, 128 perms, estimates only", 128, "estimate"),
        ("near, 128 perms, verify=False", 128, None),
        ("near, 256 perms", 256, "exact near threshold"),
    ):
        t = time.perf_counter()
        near = dict(threshold=args.threshold, num_perm=perms, seed=1, ngram=5)
        rejected = _run(docs, near=near, verify=verify is not None, estimates_only=verify == "estimate")
        predicted = same_cluster_pairs(rejected)
        rows.append((label, *prf(predicted, truth), len(predicted), time.perf_counter() - t))
        if label.endswith("(default)"):
            verified = predicted

    copies = [Document(f"{b.key}~copy", b.source, b.title, b.text) for b in bases[::4]]
    copies += [Document(f"{b.key}~wrap", b.source, b.title, _wrap(_shout(b.text), 60)) for b in bases[1::4]]
    exact_truth = {
        tuple(sorted(p))
        for p in itertools.combinations([d.key for d in bases + copies], 2)
        if p[0].split("~")[0] == p[1].split("~")[0]
    }
    exact_truth |= {  # genuinely identical texts among the bases themselves count too
        tuple(sorted((a.key, b.key)))
        for a, b in itertools.combinations(bases, 2)
        if normalize_for_dedup(a.text) == normalize_for_dedup(b.text)
    }
    t = time.perf_counter()
    predicted = same_cluster_pairs(_run(bases + copies))
    rows.append(("exact dedup on exact copies", *prf(predicted, exact_truth), len(predicted), time.perf_counter() - t))

    print(f"\nthreshold {args.threshold}, word 5-grams, LSH banding from lsh_params (16 x 8 at 128 perms)")
    print(f"{'':32s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'pairs':>6s} {'seconds':>8s}")
    for label, p, r, f, n, s in rows:
        print(f"{label:32s} {p:9.3f} {r:7.3f} {f:6.3f} {n:6d} {s:8.1f}")
    print(f"true pairs (J >= {args.threshold}): {len(truth)}; exact-copy pairs: {len(exact_truth)}")

    print("\nedited copies by true Jaccard to their base: share put in the base's cluster (default)")
    print(f"{'Jaccard':>11s} {'pairs':>6s} {'caught':>7s}")
    edges = [0.3, 0.6, 0.7, 0.75, 0.78, 0.8, 0.82, 0.85, 0.9, 1.01]
    for low, high in zip(edges, edges[1:]):
        pairs = [p for p, (sim, _) in designed.items() if low <= sim < high]
        caught = sum(tuple(sorted(p)) in verified for p in pairs)
        print(f"{low:.2f}-{min(high, 1):.2f} {len(pairs):6d} {caught / len(pairs) if pairs else 0:7.3f}")


if __name__ == "__main__":
    main()
