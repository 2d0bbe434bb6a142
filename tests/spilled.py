"""Run the build's stages on units on disk, as the build does, for tests of one stage at a time.

Each helper writes its inputs into a work directory, runs the stage's transforms on the local
runner (FnApiRunner) and returns plain Python values read back from what they wrote.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from electra_data import spill
from electra_data.documents import Document, Rejected
from electra_data.pipelines import workdir
from electra_data.pipelines.dedup import ExactDedup, NearDedup
from electra_data.pipelines.duplicates_report import ChosenClusters
from electra_data.pipelines.metrics import REJECTED
from electra_data.pipelines.plan import plan_build
from electra_data.pipelines.read import TALLY, ReadItems, write_unit
from electra_data.pipelines.select import SelectDocuments
from electra_data.pipelines.tokenize import PackUnits
from electra_data.pipelines.write import WriteShards


def collect(pcoll, path: Path, label: str = "Collect"):
    """Write a PCollection's elements, as one pickled list, to ``path`` (read it with ``load``)."""
    return pcoll | f"{label}List" >> beam.combiners.ToList() | f"{label}Write" >> beam.Map(
        lambda values: Path(path).write_bytes(pickle.dumps(values))
    )


def load(path: Path) -> list:
    return pickle.loads(Path(path).read_bytes())


def read_inputs(files: dict[str, list[str]], work: Path, *, on_error: str = "fail", **options) -> tuple[list[Document], list[Rejected], dict]:
    """The documents (as read, before cleaning), rejected records and tallies of the readers."""
    plan = plan_build(files)
    reader = dict(keep_disambiguation=False, fmt=None, text_field="text", doc_separator="file", keep_code=False)
    reader.update(options)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        units, rejected, tallies = p | beam.Create(plan.items) | ReadItems(str(work), plan.unit_bytes, on_error=on_error, **reader)
        collect(units, work / "units.pkl", "Units")
        collect(rejected, work / "rejected.pkl", "Rejected")
        collect(tallies | beam.CombinePerKey(sum), work / "tallies.pkl", "Tallies")
    docs = [doc for unit in sorted(load(work / "units.pkl")) for _, doc in spill.read_documents(workdir.raw_path(str(work), unit))]
    return docs, load(work / "rejected.pkl"), dict(load(work / "tallies.pkl"))


def write_units(work: Path, docs: list[Document], *, per_unit: int = 2, partitions: int = 2, exact: bool = True,
                near: dict | None = None) -> list[str]:  # fmt: skip
    """Write ``docs`` in order into units of ``per_unit`` documents (uncleaned), with their runs."""
    names = []
    for i in range(0, max(1, len(docs)), per_unit):
        name = f"test-{i // per_unit:05d}-0000"
        write_unit(str(work), name, list(docs[i : i + per_unit]), partitions, exact=exact, near=near)
        names.append(name)
    return names


def _dedup_graph(p, work: str, units: list[str], exact: bool, near: dict | None, verify: bool, rounds: int, partitions: int):
    names = p | "Units" >> beam.Create(units)
    drops = names | ExactDedup(work, partitions) if exact else p | "NoExact" >> beam.Create([])
    if near is not None:
        params = {"threshold": near["threshold"], "num_perm": near["num_perm"], "ngram": near["ngram"]}
        near_drops = (names, drops) | NearDedup(work, partitions, verify=verify, rounds=rounds, **params)
        drops = (drops, near_drops) | "AllDrops" >> beam.Flatten()
    return names, drops


def dedup_drops(work: Path, docs: list[Document], *, exact: bool = True, near: dict | None = None, verify: bool = True,
                rounds: int = 4, per_unit: int = 2, partitions: int = 2) -> tuple[list[str], list]:  # fmt: skip
    """(unit names, drops ``((unit, row), (reason, detail))``) of dedup over ``docs`` spread in
    units of ``per_unit``. ``near``: ``threshold``, ``num_perm``, ``seed``, ``ngram``, or None."""
    units = write_units(work, docs, per_unit=per_unit, partitions=partitions, exact=exact, near=near)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        _, drops = _dedup_graph(p, str(work), units, exact, near, verify, rounds, partitions)
        collect(drops, work / "drops.pkl", "Drops")
    return units, load(work / "drops.pkl")


def dedup(work: Path, docs: list[Document], *, exact: bool = True, near: dict | None = None, verify: bool = True,
          rounds: int = 4, per_unit: int = 2, partitions: int = 2) -> tuple[list[Document], list[Rejected]]:  # fmt: skip
    """(kept documents in their order, rejected duplicates) of dedup over ``docs`` spread in units.

    ``near``: ``threshold``, ``num_perm``, ``seed``, ``ngram``, or None for no near dedup.
    """
    units = write_units(work, docs, per_unit=per_unit, partitions=partitions, exact=exact, near=near)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        names, drops = _dedup_graph(p, str(work), units, exact, near, verify, rounds, partitions)
        selected = names | SelectDocuments(str(work), drops, drops | ChosenClusters(), seed=0)
        collect(drops, work / "drops.pkl", "Drops")
        collect(selected[REJECTED], work / "rejected.pkl", "Rejected")
        _ = selected[TALLY]
    dropped = {loc for loc, _ in load(work / "drops.pkl")}
    kept = [doc for i, doc in enumerate(docs) if (units[i // per_unit], i % per_unit) not in dropped]
    return kept, load(work / "rejected.pkl")


def select(work: Path, units: list[str], *, seed: int = 0) -> dict[str, list]:
    """The outputs of ``SelectDocuments`` over units on disk, nothing dropped: ``sample`` (the
    vocab sample's candidates), ``holdout`` (the held-out document's) and ``tally``."""
    w = str(work)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        drops = p | "NoDrops" >> beam.Create([])
        chosen = p | "NoneChosen" >> beam.Create([frozenset()])
        selected = p | "Units" >> beam.Create(units) | SelectDocuments(w, drops, chosen, seed=seed)
        for tag in ("sample", "holdout", TALLY):
            collect(selected[tag], work / f"select-{tag}.pkl", f"Select{tag.title()}")
    return {tag: load(work / f"select-{tag}.pkl") for tag in ("sample", "holdout", TALLY)}


class Packed(NamedTuple):
    shards: list[dict]  # WriteShards' info of every shard, by path
    tallies: dict[str, int]  # PackUnits' tallies, summed
    examples: dict[str, list[tuple]]  # unit -> its example rows (order, ids, segment_a, validation)
    units: list[str]


def pack_and_write(work: Path, out: Path, docs: list[Document], tokenizer_json: str, *, per_unit: int = 2,
                   num_shards: int | None = None, shard_size_mb: float = 64, seed: int = 0,
                   validation_fraction: float = 0.0, max_seq_length: int = 128) -> Packed:  # fmt: skip
    """Pack ``docs`` (in units of ``per_unit``, nothing dropped) and write their shards to ``out``,
    as the build does: holdout candidates from ``SelectDocuments``, then ``PackUnits`` and
    ``WriteShards``."""
    units = write_units(work, docs, per_unit=per_unit, partitions=1, exact=False, near=None)
    w = str(work)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        names = p | "Units" >> beam.Create(units)
        tokenizer = p | "Tokenizer" >> beam.Create([tokenizer_json])
        drops = p | "NoDrops" >> beam.Create([])
        chosen = p | "NoneChosen" >> beam.Create([frozenset()])
        selected = names | SelectDocuments(w, drops, chosen, seed=seed)
        packed, tallies = names | PackUnits(
            w, tokenizer, selected.holdout, drops, max_seq_length=max_seq_length, seed=seed,
            validation_fraction=validation_fraction,
        )  # fmt: skip
        shards = packed | WriteShards(w, str(out), tokenizer, num_shards=num_shards, shard_size_mb=shard_size_mb)
        collect(shards, work / "shards.pkl", "Shards")
        collect(tallies | beam.CombinePerKey(sum), work / "pack-tallies.pkl", "Tallies")
    examples = {}
    for unit in units:  # WriteShards leaves each unit's examples sorted by shard bucket
        run = workdir.run_path(w, "sorted", unit)
        examples[unit] = [row for bucket in sorted(spill.run_partitions(run)) for row in spill.read_partition(run, bucket)]
    shards = sorted(load(work / "shards.pkl"), key=lambda s: s["path"])
    return Packed(shards, dict(load(work / "pack-tallies.pkl")), examples, units)
