"""Build memory and throughput as the corpus grows (issue 12): does a local build stay flat?

    python bench/bench_scale.py [--scales 1,10,30,100] [--workers 1,2] [--keep DIR] [--dedup near|exact|none]
    python bench/bench_scale.py --check      # only the self-check of the generated copies (seconds)

1. Inputs: for scale k, one multistream dump (with its index) holding k copies of every page of
   the bundled excerpt (206 pages, 98 articles, 5.5 MB of article wikitext). Copy 0 is the
   excerpt itself; copy c >= 1 has page ids offset by c * 10**6, titles ending " (copy c)", and
   a seeded 35% of the prose words replaced by words drawn from the excerpt's own text (markup,
   template and link names, tags, entities and headings kept), so that copies are not near
   duplicates (word 5-gram Jaccard far below 0.8: the self-check measures it on every article).
   Cached in ``--keep DIR`` (default: a temporary directory).
2. For each scale and worker count, ``electra-data build --corpus wiki`` in a child process, with
   the vocab sample (2 MB) and shard size (1 MB) capped below the input as a real corpus exceeds
   them; every 0.1 s, the summed RSS and PSS (``/proc/PID/smaps_rollup``: pages shared by forked
   workers counted once) of the child's whole process tree; the wall time.
3. One table (input MB, documents kept, wall, peak RSS/PSS, MB of wikitext per second per core,
   where the stage time goes, from the manifest's ``timing.stage_cpu_seconds``), then the targets:
   peak RSS at 100x / 10x <= 1.1 (the largest scale against 10x, or the next smaller one);
   throughput of 2 workers / 1 >= 1.7 at each scale (on an idle machine: 0.85 x the worker
   ratio); shards byte-identical across worker counts (the manifests' sha256); and the memory
   each extra worker adds (PSS).
4. A projection to the full English Wikipedia plus 5 GB of books on a 16-core, 64 GB machine,
   from the measured throughput per core and memory; its assumptions are printed with it.

``--scales 1,10 --workers 1,2`` takes about 3 minutes on 2 shared cores. The default scales take
about 40 minutes with today's build (each build's time grows with its scale: 10x about 50 s with
one worker), plus about 5 minutes to make the 30x and 100x inputs once (with ``--keep``), during
which this process briefly holds the 100x XML twice (about 1.3 GB).
"""

from __future__ import annotations

import argparse
import bz2
import html
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DUMP = next((ROOT / "sample_data" / "wikipedia").glob("*.bz2"))
GENERATOR_VERSION = 1  # bump when the copies change, to invalidate cached dumps
REPLACED = 0.35  # share of the prose words replaced in every copy
ID_OFFSET = 10**6  # page ids of copy c: original + c * ID_OFFSET
SAMPLE_S = 0.1
BUILD_CAPS = ["--vocab-size", "4096", "--vocab-sample-mb", "2", "--shard-size-mb", "1"]
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# What a replacement must not touch, tried before a word at every position: lines of templates,
# tables, headings and redirects; template names; the targets of piped links and namespace
# prefixes of links (the text of a plain [[link]] is its target); tags; entities; URLs;
# parameter and attribute names. A word is then a run of ASCII letters, replaced by letters only,
# so that brackets and the markup's structure are never changed.
_TOKEN = re.compile(
    r"""(?P<keep> ^[{|!}=\#].*$ | \{\{[^|{}]* | \[\[[^|\[\]]*\| | \[\[[^|:\[\]]*: | &lt;.*?&gt; | &(?:amp;)?\#?\w+;
                | https?://[^\s\]|]+ | [\w-]+\s*= )
      | (?P<word> \b[A-Za-z]{2,}\b )""",
    re.MULTILINE | re.VERBOSE,
)
_PAGE = re.compile(r"\n  <page>.*?</page>", re.DOTALL)
_TITLE_ID = re.compile(r"<title>(.*?)</title>(\s*<ns>-?\d+</ns>\s*<id>)(\d+)</id>")
_TEXT = re.compile(r"(<text[^>]*>)(.*?)(</text>)", re.DOTALL)


# --- 1. inputs ------------------------------------------------------------------------------


@dataclass
class Excerpt:
    """The bundled dump split for copying: the XML around the pages, the pages, which are articles."""

    header: str
    pages: list[str]
    footer: str
    articles: list[bool]
    vocabulary: list[str]  # every prose word of the articles, lower-cased, in order (drawn with its frequency)


def load_excerpt() -> Excerpt:
    from electra_data.articles import page_drop_reason
    from electra_data.wiki import iter_pages

    xml = bz2.open(DUMP).read().decode("utf-8")
    matches = list(_PAGE.finditer(xml))
    pages = [m.group(0) for m in matches]
    articles = [page_drop_reason(p) is None for p in iter_pages(DUMP)]
    assert len(articles) == len(pages), "every <page> is one page of iter_pages"
    vocabulary = [
        w.group("word").lower()
        for page, article in zip(pages, articles)
        if article
        for w in _TOKEN.finditer(_TEXT.search(page).group(2))
        if w.group("word")
    ]
    return Excerpt(xml[: matches[0].start()], pages, xml[matches[-1].end() :], articles, vocabulary)


def perturb_text(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    """Replace a seeded share of the prose words of (XML-escaped) wikitext, keeping their case."""

    def replace(match: re.Match) -> str:
        word = match.group("word")
        if word is None or rng.random() >= REPLACED:
            return match.group(0)
        new = vocabulary[rng.randrange(len(vocabulary))]
        return new.capitalize() if word[0].isupper() else new

    return _TOKEN.sub(replace, text)


def copy_page(page: str, copy: int, rng: random.Random, vocabulary: list[str]) -> str:
    """Page ``copy`` of one excerpt page: new id and title, perturbed text (copy 0: the page itself)."""
    if copy == 0:
        return page
    page = _TITLE_ID.sub(
        lambda m: f"<title>{m.group(1)} (copy {copy})</title>{m.group(2)}{int(m.group(3)) + copy * ID_OFFSET}</id>",
        page,
        count=1,
    )
    return _TEXT.sub(lambda m: m.group(1) + perturb_text(m.group(2), rng, vocabulary) + m.group(3), page, count=1)


def copy_pages(excerpt: Excerpt, copy: int) -> list[str]:
    rng = random.Random(copy)
    return [copy_page(page, copy, rng, excerpt.vocabulary) for page in excerpt.pages]


def article_wikitext_bytes(excerpt: Excerpt, pages: list[str]) -> int:
    return sum(len(html.unescape(_TEXT.search(p).group(2)).encode()) for p, a in zip(pages, excerpt.articles) if a)


def make_dump(excerpt: Excerpt, scale: int, cache: Path) -> tuple[Path, dict]:
    """The dump of ``scale`` copies (cached: made once per cache directory), and its sizes."""
    from electra_data.multistream import write_multistream

    dump = cache / f"enwiki-scale{scale}-pages-articles-multistream.xml.bz2"
    facts = cache / f"scale{scale}.json"
    if facts.exists() and dump.exists():
        info = json.loads(facts.read_text())
        if info.get("generator") == GENERATOR_VERSION:
            return dump, info
    start = time.perf_counter()
    parts, wikitext = [excerpt.header.encode()], 0
    for copy in range(scale):
        pages = copy_pages(excerpt, copy)
        wikitext += article_wikitext_bytes(excerpt, pages)
        parts += [page.encode() for page in pages]
    xml = b"".join([*parts, excerpt.footer.encode()])
    del parts
    write_multistream(xml, str(dump))
    info = {
        "generator": GENERATOR_VERSION,
        "pages": scale * len(excerpt.pages),
        "articles": scale * sum(excerpt.articles),
        "wikitext_mb": wikitext / 2**20,
        "compressed_mb": dump.stat().st_size / 2**20,
    }
    facts.write_text(json.dumps(info))
    print(f"made {dump.name}: {info['compressed_mb']:.1f} MB, {info['wikitext_mb']:.1f} MB of article wikitext "
          f"in {time.perf_counter() - start:.0f} s")
    return dump, info


def self_check(excerpt: Excerpt) -> float:
    """Copies are parseable and not near duplicates; returns the extracted text's share of the wikitext.

    On every article: the word 5-gram Jaccard of the extracted text of copies 0-1 and 1-2 (target:
    the largest well below 0.8), and that copies stay articles with about as much text.
    """
    from electra_data.dedup import exact_jaccard, shingle_set
    from electra_data.articles import page_drop_reason
    from electra_data.wiki import Page
    from electra_data.wikitext import wikitext_to_text

    copies = [copy_pages(excerpt, c) for c in range(3)]
    jaccards, lengths, wikitext, articles = [], [[], [], []], 0, 0
    for i, article in enumerate(excerpt.articles):
        if not article:
            continue
        texts = []
        for c in range(3):
            source = html.unescape(_TEXT.search(copies[c][i]).group(2))
            articles += page_drop_reason(Page(id=i, title="t", ns=0, redirect=False, text=source)) is None
            texts.append(wikitext_to_text(source))
            lengths[c].append(len(texts[-1]))
        wikitext += len(html.unescape(_TEXT.search(copies[0][i]).group(2)))
        sets = [shingle_set(t, 5) for t in texts]
        jaccards += [exact_jaccard(sets[0], sets[1]), exact_jaccard(sets[1], sets[2])]
    worst = max(jaccards)
    kept = articles / (3 * sum(excerpt.articles))
    growth = sum(lengths[1]) / sum(lengths[0])
    ok = worst < 0.5 and kept == 1.0 and 0.9 < growth < 1.1
    print(f"self-check on {sum(excerpt.articles)} articles x 3 copies: word 5-gram Jaccard of copies 0-1 and 1-2 "
          f"max {worst:.3f}, mean {sum(jaccards) / len(jaccards):.3f} (target: far below 0.8); still articles "
          f"{kept:.0%}; extracted text of copy 1 / copy 0 {growth:.3f} -> {'PASS' if ok else 'FAIL'}")
    if not ok:
        sys.exit("the generated copies are not fit for the benchmark")
    return sum(lengths[0]) / wikitext


# --- 2. builds and their memory -------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:  # the process ended, or is not ours to read
        return None


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants: by parent pid, and by session (orphans re-parented to init).

    ``root`` leads its own session (``start_new_session``); the rest comes from every ``/proc/PID/stat``.
    """
    children: dict[int, list[int]] = {}
    tree = {root}
    for name in os.listdir("/proc"):
        stat = _read(f"/proc/{name}/stat") if name.isdigit() else None
        if stat:
            ppid, _, session = map(int, stat.rsplit(")", 1)[1].split()[1:4])
            children.setdefault(ppid, []).append(int(name))
            if session == root:
                tree.add(int(name))
    todo = list(tree)
    while todo:
        kids = [pid for pid in children.get(todo.pop(), []) if pid not in tree]
        tree.update(kids)
        todo += kids
    return sorted(tree)


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """Summed RSS and PSS of the processes, in MB."""
    rss = pss = 0
    for pid in pids:
        statm = _read(f"/proc/{pid}/statm")
        rollup = _read(f"/proc/{pid}/smaps_rollup")
        if statm:
            rss += int(statm.split()[1]) * PAGE_SIZE
        if rollup:
            pss += next((int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return rss / 2**20, pss / 2**20


@dataclass
class Run:
    scale: int
    workers: int
    info: dict
    wall: float
    rss: float
    pss: float
    manifest: dict

    @property
    def throughput(self) -> float:
        """MB of article wikitext per second."""
        return self.info["wikitext_mb"] / self.wall

    @property
    def per_core(self) -> float:
        return self.throughput / self.workers


def electra_data_command() -> str:
    script = Path(sys.executable).with_name("electra-data")
    return str(script) if script.exists() else shutil.which("electra-data") or sys.exit("electra-data not found")


def run_build(dump: Path, info: dict, scale: int, workers: int, work: Path, dedup: str) -> Run:
    """One build in a child process, its process tree sampled every 0.1 s for memory."""
    out, log = work / "out" / f"scale{scale}-w{workers}", work / "logs" / f"scale{scale}-w{workers}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [electra_data_command(), "build", "--corpus", "wiki", "--input", str(dump), "--out", str(out),
           "--workers", str(workers), "--dedup", dedup, "--overwrite", *BUILD_CAPS]  # fmt: skip
    load = os.getloadavg()[0]
    print(f"scale {scale:>3}, {workers} worker(s), load average {load:.1f}: {' '.join(cmd[1:])}", flush=True)
    peak_rss = peak_pss = 0.0
    start = time.perf_counter()
    with open(log, "w") as log_file:
        child = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while child.poll() is None:
                rss, pss = memory_mb(process_tree(child.pid))
                peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
                time.sleep(SAMPLE_S)
        finally:
            if child.poll() is None:  # interrupted: stop the build we started, and its workers
                os.killpg(child.pid, signal.SIGTERM)
                child.wait()
    wall = time.perf_counter() - start
    if child.returncode != 0:
        sys.exit(f"the build failed (exit {child.returncode}); the end of {log}:\n{log.read_text()[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return Run(scale, workers, info, wall, peak_rss, peak_pss, manifest)


# --- 3. the table and the targets -----------------------------------------------------------


def stage_summary(manifest: dict, wall: float, workers: int, top: int = 3) -> str:
    """The largest stages' shares of the timed stage seconds, and the timed share of wall x workers."""
    stages = manifest.get("timing", {}).get("stage_cpu_seconds", {})
    total = sum(stages.values())
    if not total:
        return "(no stage timings)"
    largest = sorted(stages.items(), key=lambda kv: -kv[1])[:top]
    shares = ", ".join(f"{name} {seconds / total:.0%}" for name, seconds in largest)
    return f"{shares}; timed {total / (wall * workers):.0%} of wall x workers"


def print_table(runs: list[Run]) -> None:
    header = (f"{'scale':>5} {'wrk':>3} {'bz2 MB':>7} {'wtext MB':>8} {'kept':>6} {'dups':>4} {'wall s':>7} "
              f"{'RSS MB':>7} {'PSS MB':>7} {'MB/s/core':>9}  stages (share of timed)")  # fmt: skip
    print("\n" + header + "\n" + "-" * len(header))
    for r in runs:
        counts = r.manifest["counts"]
        dups = counts.get("exact_duplicates", 0) + counts.get("near_duplicates", 0)
        print(f"{r.scale:>5} {r.workers:>3} {r.info['compressed_mb']:>7.1f} {r.info['wikitext_mb']:>8.1f} "
              f"{counts['documents_kept']:>6} {dups:>4} {r.wall:>7.1f} {r.rss:>7.0f} {r.pss:>7.0f} "
              f"{r.per_core:>9.3f}  {stage_summary(r.manifest, r.wall, r.workers)}")  # fmt: skip


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def check_targets(runs: dict[tuple[int, int], Run], scales: list[int], workers: list[int]) -> None:
    print()
    if len(scales) > 1:
        top = scales[-1]
        base = 10 if 10 in scales and top > 10 else scales[-2]
        for w in workers:
            hi, lo = runs[top, w], runs[base, w]
            ratio = hi.rss / lo.rss
            print(f"peak RSS {top}x / {base}x, {w} worker(s): {hi.rss:.0f} / {lo.rss:.0f} MB = {ratio:.2f} "
                  f"(PSS {hi.pss / lo.pss:.2f}; target <= 1.1 for 100x / 10x) {verdict(ratio <= 1.1)}")
    if len(workers) > 1:
        few, many = workers[0], workers[-1]
        target = 0.85 * many / few
        for s in scales:
            ratio = runs[s, many].throughput / runs[s, few].throughput
            print(f"throughput {many} / {few} workers at {s}x: {ratio:.2f} (target >= {target:.2f} on an idle "
                  f"machine) {verdict(ratio >= target)}")
        for s in scales:
            shards = {w: [(x["path"], x["sha256"]) for x in runs[s, w].manifest["shards"]] for w in workers}
            same = all(shards[w] == shards[few] for w in workers)
            print(f"shards at {s}x byte-identical for {', '.join(map(str, workers))} workers "
                  f"({len(shards[few])} shards): {verdict(same)}")
        for s in scales:
            extra = (runs[s, many].pss - runs[s, few].pss) / (many - few)
            print(f"memory per extra worker at {s}x (peak PSS difference): {extra:.0f} MB")


# --- 4. projection --------------------------------------------------------------------------

WIKI = {"bz2 GB": 22, "XML GB": 90, "articles (M)": 6.5, "wikitext GB": 20}
BOOKS_GB = 5
MACHINE = {"cores": 16, "memory GB": 64}


def project(runs: dict[tuple[int, int], Run], scales: list[int], workers: list[int], text_share: float) -> None:
    """Wall time and memory of enwiki + books on the workstation, from the largest scale's runs."""
    top, few, many = scales[-1], workers[0], workers[-1]
    run = runs[top, many]
    stages = run.manifest.get("timing", {}).get("stage_cpu_seconds", {})
    wikitext_share = sum(v for k, v in stages.items() if "wiki" in k) / max(sum(stages.values()), 1e-9)
    cores = MACHINE["cores"]
    # books skip the wiki stages (reading a dump, wikitext -> text); their other stages cost per MB
    # of text what they cost per MB of the text extracted from wikitext
    books_mb = BOOKS_GB * 1000 * (1 - wikitext_share) / text_share  # in MB of wikitext's cost
    base = runs[top, few].pss
    per_worker = (run.pss - base) / (many - few) if many > few else base
    flat = base + (cores - few) * per_worker
    slope = 0.0
    if len(scales) > 1:
        lo = runs[scales[-2], few]
        slope = (runs[top, few].pss - lo.pss) / (runs[top, few].info["wikitext_mb"] - lo.info["wikitext_mb"])
    corpus_mb = WIKI["wikitext GB"] * 1000 + BOOKS_GB * 1000 / text_share  # books in MB of wikitext equivalent
    grown = flat + slope * (corpus_mb - runs[top, few].info["wikitext_mb"])

    print("\nprojection: full English Wikipedia + books, local build")
    print(f"  assumed: enwiki pages-articles {WIKI['bz2 GB']} GB .xml.bz2 / {WIKI['XML GB']} GB XML, "
          f"{WIKI['articles (M)']} M articles after filtering, {WIKI['wikitext GB']} GB of article wikitext; "
          f"{BOOKS_GB} GB of book text; a {cores}-core, {MACHINE['memory GB']} GB workstation, {cores} workers")
    print(f"  assumed: {cores} workers each as fast as one measured at {top}x; books cost the non-wiki "
          f"stages' share ({1 - wikitext_share:.0%}) per MB of text, extracted text being {text_share:.0%} of wikitext")
    print(f"  assumed: memory = peak PSS at {top}x with {few} worker(s) ({base:.0f} MB) + {per_worker:.0f} MB "
          f"per further worker{'' if many > few else ' (not measured: the 1-worker peak; run --workers 1,2)'}; "
          + (f"growth {slope * 1000:.0f} MB per GB of wikitext (PSS between the two largest scales, {few} worker(s))"
             if len(scales) > 1 else "growth not measured (one scale)"))
    for w in sorted({few, many}):
        rate = runs[top, w].per_core * cores
        wiki_h, books_h = WIKI["wikitext GB"] * 1000 / rate / 3600, books_mb / rate / 3600
        print(f"  wall at the per-core rate of {w} worker(s) ({runs[top, w].per_core:.3f} MB/s/core): "
              f"wiki {wiki_h:.1f} h + books {books_h:.1f} h = {wiki_h + books_h:.1f} h")
    for name, mb in (("flat (the target)", flat), ("growing as measured", grown)):
        gb = mb / 1000
        print(f"  memory {name}: {gb:.1f} GB -> {'fits' if gb <= MACHINE['memory GB'] else 'does NOT fit'} "
              f"in {MACHINE['memory GB']} GB")


# --- main -----------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    return sorted({int(x) for x in text.split(",") if x.strip()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int_list, default=[1, 10, 30, 100], help="copies of the excerpt, e.g. 1,10")
    parser.add_argument("--workers", type=int_list, default=[1, 2], help="worker counts of every build, e.g. 1,2")
    parser.add_argument("--keep", type=Path, help="cache the generated dumps (and keep the builds) in this directory")
    parser.add_argument("--dedup", choices=["both", "near", "exact", "none"], default="both", help="the build's mode")
    parser.add_argument("--check", action="store_true", help="only check the generated copies, then stop")
    args = parser.parse_args()

    excerpt = load_excerpt()
    text_share = self_check(excerpt)
    if args.check:
        return
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        runs = {}
        for scale in args.scales:
            dump, info = make_dump(excerpt, scale, work)
            for w in args.workers:
                runs[scale, w] = run_build(dump, info, scale, w, work, args.dedup)
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other jobs slow the builds, and the 2-worker more)")
    print_table(list(runs.values()))
    check_targets(runs, args.scales, args.workers)
    project(runs, args.scales, args.workers, text_share)


if __name__ == "__main__":
    main()
