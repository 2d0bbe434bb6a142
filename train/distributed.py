"""Data-parallel training under ``torchrun``: process group, rank facts and the few collectives.

``torchrun --nproc-per-node N $(which electra-train) ...`` sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; without them the run is a single process and every function here is a no-op.
Each rank reads its own stride of one shared example order (``BatchStream``), DDP averages the
gradients, and only rank 0 logs, evaluates, saves and exports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["Distributed", "setup", "teardown"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process logs, evaluates, saves and exports."""
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank: every rank must take the same branch."""
        if self.world_size == 1:
            return flag
        value = torch.tensor(float(flag), device=_collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of ``values`` over ranks."""
        if self.world_size == 1:
            return values
        values = values.to(_collective_device())
        dist.all_reduce(values)
        return values / self.world_size

    def barrier(self) -> None:
        """Wait for every rank (so none exits while rank 0 still writes)."""
        if self.world_size > 1:
            dist.barrier()


def _collective_device() -> torch.device:
    return torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")


def setup(device: torch.device) -> Distributed:
    """Join the process group when started by ``torchrun``.

    Args:
        device: The device type asked for; on CUDA each rank takes GPU ``LOCAL_RANK``.

    Returns:
        This process's rank facts.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    # Rank 0 evaluates and saves while the others wait in the next all-reduce: be patient.
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=1))
    return Distributed(rank, world_size, local_rank)


def teardown(info: Distributed) -> None:
    """Leave the process group."""
    if info.world_size > 1:
        dist.destroy_process_group()
