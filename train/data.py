"""Stream padded batches from a shard directory's Arrow IPC stream shards.

A shard is read whole into memory when the stream first needs it (a few stay open), and its list
offsets and values are viewed as numpy arrays without copying, so reading row ``i`` is a slice.
Not memory-mapped: reading a mapped page of a shard truncated while the run goes on kills the
process (SIGBUS) with no message; a read that fails is a ``ShardError`` naming the shard.

The example order is a pure function of ``(seed, epoch)``: shards are permuted per epoch and rows
within each shard per ``(epoch, shard)``. The stream position is ``(epoch, index)`` into that
order, so ``state_dict``/``load_state_dict`` resume mid-epoch exactly. Rank ``r`` of ``w`` reads
positions ``index + r, index + r + w, ...``: disjoint strides of one shared order, and every rank
holds the same state.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from electra_data.errors import UserError
from electra_data.train.manifest import FORMAT_VERSION, REBUILD, Manifest

__all__ = ["ShardError", "Shard", "collate", "BatchStream"]

_VERSION_KEY = b"electra_data.format_version"
_ID_TYPES = (pa.uint16(), pa.uint32())  # uint32 only for vocabs > 65535


class ShardError(UserError):
    """A shard that cannot be read, or does not hold what its manifest entry says."""


class Shard:
    """One shard, in memory; ``shard[i]`` is ``(input_ids view, segment_a_length)``.

    Args:
        path: The Arrow IPC stream file.
        expected_rows: The manifest's example count, checked against the file.
        vocab_size: If given, every id must be below it (one vectorised pass when opened: an id
            past the embedding table would crash the model with an opaque index error).

    Raises:
        ShardError: If the file cannot be read, is not a version-1 shard, its row count
            disagrees, or an id is out of range.
    """

    def __init__(self, path: Path, expected_rows: int, vocab_size: int | None = None):
        try:
            reader = pa.ipc.open_stream(pa.py_buffer(Path(path).read_bytes()))
            schema = reader.schema
            # Record batches keep referencing the buffer, so the views below stay valid.
            self._batches = list(reader)
        except (OSError, EOFError, pa.ArrowException) as e:  # missing, truncated, not Arrow
            why = getattr(e, "strerror", None) or f"{type(e).__name__}: {e}"  # strerror: no repeated path
            raise ShardError(
                f"cannot read shard {path} ({why}): it is missing or truncated, or "
                f"is not an Arrow IPC stream; check its directory with electra-data verify and "
                f"{REBUILD} if that fails"
            ) from e
        version = (schema.metadata or {}).get(_VERSION_KEY)
        if version != str(FORMAT_VERSION).encode():
            raise ShardError(
                f"{path} has shard format version {version!r}, expected {FORMAT_VERSION}; {REBUILD}"
            )
        types = dict(zip(schema.names, schema.types))
        ids_type = types.get("input_ids")
        ids_ok = ids_type is not None and pa.types.is_list(ids_type) and ids_type.value_type in _ID_TYPES
        if not ids_ok or types.get("segment_a_length") != pa.uint16():
            raise ShardError(
                f"{path} needs columns input_ids: list<uint16|uint32> and segment_a_length: uint16, "
                f"has {schema.names}; {REBUILD}"
            )
        # zero_copy_only (the default) makes numpy views or fails loudly; never a silent copy.
        self._offsets = [b.column("input_ids").offsets.to_numpy() for b in self._batches]
        self._values = [b.column("input_ids").values.to_numpy() for b in self._batches]
        segment_a = [b.column("segment_a_length").to_numpy() for b in self._batches]
        self._segment_a = np.concatenate(segment_a or [np.zeros(0, np.uint16)])
        self._starts = np.cumsum([0] + [b.num_rows for b in self._batches])
        if self._starts[-1] != expected_rows:
            raise ShardError(
                f"{path} has {self._starts[-1]} rows, the manifest says {expected_rows}; {REBUILD}"
            )
        if vocab_size is not None:
            self._check_ids(path, vocab_size)

    def _check_ids(self, path: Path, vocab_size: int) -> None:
        for chunk, values in enumerate(self._values):
            bad = np.flatnonzero(values >= vocab_size)
            if bad.size:
                row = int(np.searchsorted(self._offsets[chunk], bad[0], side="right")) - 1
                raise ShardError(
                    f"{path} row {self._starts[chunk] + row} holds token id {values[bad[0]]}, "
                    f"not below the vocab size {vocab_size}: the shards do not match their "
                    f"tokenizer; {REBUILD}"
                )

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        chunk = int(np.searchsorted(self._starts, i, side="right")) - 1
        j = i - self._starts[chunk]
        offsets = self._offsets[chunk]
        return self._values[chunk][offsets[j] : offsets[j + 1]], int(self._segment_a[i])


def collate(rows: list[tuple[np.ndarray, int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad examples to the longest in the batch.

    Args:
        rows: ``(input_ids, segment_a_length)`` pairs.
        pad_id: Id written into the padding.

    Returns:
        ``input_ids``, ``attention_mask`` and ``token_type_ids``, each ``(batch, longest)`` int64.
    """
    lengths = np.array([len(ids) for ids, _ in rows])
    input_ids = np.full((len(rows), lengths.max()), pad_id, dtype=np.int64)
    for i, (ids, _) in enumerate(rows):
        input_ids[i, : len(ids)] = ids
    positions = np.arange(input_ids.shape[1])
    attention = positions < lengths[:, None]
    segment_a = np.array([a for _, a in rows])[:, None]
    return {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(attention.astype(np.int64)),
        "token_type_ids": torch.from_numpy((attention & (positions >= segment_a)).astype(np.int64)),
    }


class BatchStream:
    """An endless, deterministic, resumable stream of padded batches from one split.

    Args:
        manifest: The checked manifest.
        split: ``train`` or ``validation``.
        batch_size: Examples per batch (per rank).
        seed: Seed of the example order.
        rank: This process's rank.
        world_size: Number of ranks sharing the order.

    Raises:
        UserError: If the split has no examples.
        ValueError: If ``batch_size``, ``rank`` or ``world_size`` are out of range.
    """

    def __init__(
        self,
        manifest: Manifest,
        split: str,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(
                "need batch_size >= 1 and 0 <= rank < world_size, "
                f"got batch_size={batch_size}, rank={rank}, world_size={world_size}"
            )
        self._shards = manifest.split(split)
        self._sizes = np.array([s.examples for s in self._shards], dtype=np.int64)
        self.examples = int(self._sizes.sum())
        if self.examples == 0:
            raise UserError(f"the {split!r} split of {manifest.root} has no examples")
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self._pad = manifest.special_tokens.pad
        self.epoch, self.index = 0, 0
        # Only the shards a batch touches are open; an LRU bounds open files on huge datasets.
        self._open = functools.lru_cache(maxsize=4)(
            lambda k: Shard(self._shards[k].path, int(self._sizes[k]), manifest.vocab_size)
        )
        self._layout = functools.lru_cache(maxsize=2)(self._epoch_layout)
        self._row_order = functools.lru_cache(maxsize=4)(self._rows_of)

    def _epoch_layout(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        # The leading 0/1 keeps the shard-order and row-order seed sequences apart.
        order = np.random.default_rng([self.seed, 0, epoch]).permutation(len(self._shards))
        return order, np.cumsum(self._sizes[order])

    def _rows_of(self, epoch: int, shard: int) -> np.ndarray:
        return np.random.default_rng([self.seed, 1, epoch, shard]).permutation(self._sizes[shard])

    def _example(self, epoch: int, index: int) -> tuple[np.ndarray, int]:
        order, ends = self._layout(epoch)
        k = int(np.searchsorted(ends, index, side="right"))
        shard = int(order[k])
        local = index - (int(ends[k - 1]) if k else 0)
        return self._open(shard)[int(self._row_order(epoch, shard)[local])]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        rows = []
        for j in range(self.batch_size):
            position = self.index + j * self.world_size + self.rank  # may run into the next epoch
            epoch, index = divmod(position, self.examples)
            rows.append(self._example(self.epoch + epoch, index))
        advanced = self.index + self.batch_size * self.world_size
        self.epoch, self.index = self.epoch + advanced // self.examples, advanced % self.examples
        return collate(rows, self._pad)

    def state_dict(self) -> dict[str, int]:
        """The position in the stream (the same on every rank), plus what it depends on."""
        return {
            "epoch": self.epoch,
            "index": self.index,
            "seed": self.seed,
            "examples": self.examples,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a ``state_dict``; the global batch size may differ, the data may not.

        Raises:
            UserError: If the state was saved with another seed or on other data.
        """
        if state["seed"] != self.seed or state["examples"] != self.examples:
            raise UserError(
                f"the saved data position is for seed {state['seed']} over {state['examples']} "
                f"examples, this run has seed {self.seed} over {self.examples}: "
                "resume with the same data and seed"
            )
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
