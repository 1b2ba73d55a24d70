"""Running ``part2/train.py`` under ``torchrun --nproc_per_node N`` (DistributedDataParallel).

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; without them everything here is a
no-op for a single process. Each rank trains on ``batch_size / N`` sequences drawn with its own
generator (seeded with ``seed + rank``), gradients are averaged by DDP (gloo on CPU, nccl on GPUs),
and only rank 0 writes logs, samples and checkpoints. Collective calls happen only at steps that
every rank reaches together (print intervals, checkpoints, the end), never once per step.
"""
from __future__ import annotations

import gc
import os

import torch
import torch.distributed as dist

from common.runtime import UserError


class Dist:
    """The process group of this run, or a stand-in for a single process."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.active = self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self, device: torch.device) -> torch.device:
        """Join the group (gloo on CPU, nccl on CUDA); on CUDA each rank gets ``cuda:LOCAL_RANK``."""
        if not self.active:
            return device
        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device

    def split_batch(self, batch_size: int) -> int:
        if batch_size % self.world:
            raise UserError(f"--batch_size {batch_size} must be divisible by the {self.world} processes "
                            "of torchrun (it is the total batch over all of them)")
        return batch_size // self.world

    def wrap(self, model):
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel
        ids = [model.device.index] if model.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """Mean over the ranks (a copy)."""
        if not self.active:
            return tensor
        out = tensor.clone()
        dist.all_reduce(out)
        return out / self.world

    def max(self, tensor: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return tensor
        out = tensor.clone()
        dist.all_reduce(out, op=dist.ReduceOp.MAX)
        return out

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any (a stop request, a time limit)."""
        if not self.active:
            return flag
        return bool(self.max(torch.tensor(int(flag))).item())

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's copy of a same-shaped CPU tensor (e.g. a generator state), in rank order."""
        if not self.active:
            return [tensor]
        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(parts, tensor)
        return parts

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        """Leave the group. The DDP wrapper sits in reference cycles; collecting it first lets its
        reducer release gloo's threads while the interpreter is alive (at exit they abort the process)."""
        if self.active and dist.is_initialized():
            gc.collect()
            dist.destroy_process_group()
