"""Start one training process per device: torchrun environment or local spawn.

* Under ``torchrun`` (RANK/WORLD_SIZE/LOCAL_RANK set) the process group is initialised from the
  environment (nccl with CUDA, gloo otherwise).
* ``--device-ids a,b,...`` spawns one process per id with ``torch.multiprocessing``, on a free
  localhost port. With CUDA, ``CUDA_VISIBLE_DEVICES`` is set to the ids so process ``i`` uses
  ``cuda:i``; on CPU the ids only give the process count (gloo), and each process gets
  ``cpu_count / world_size`` threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
import torch.multiprocessing as mp

from hat.utils.distributed import find_free_port, init_process_group_from_env

__all__ = ["spawn_local", "init_distributed_if_launched", "SpawnedWorkerFailed"]


class SpawnedWorkerFailed(Exception):
    """A spawned worker exited with an error (its own message was printed already)."""


def init_distributed_if_launched() -> bool:
    """Create the process group when a launcher exported RANK/WORLD_SIZE; True if created."""
    if all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        if int(os.environ["WORLD_SIZE"]) > 1:
            init_process_group_from_env()
            return True
    return False


def spawn_local(worker: Callable[..., Any], device_ids: list[int], args: tuple = ()) -> None:
    """Run ``worker(*args)`` in ``len(device_ids)`` processes forming one process group."""
    world_size = len(device_ids)
    if torch.cuda.is_available():
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in device_ids)
    port = find_free_port()
    try:
        mp.spawn(_entry, args=(world_size, port, worker, args), nprocs=world_size, join=True)
    except mp.ProcessExitedException as exc:
        how = (
            f"was killed by signal {-exc.exit_code}"
            if exc.exit_code < 0
            else f"exited with code {exc.exit_code}"
        )
        raise SpawnedWorkerFailed(f"process of rank {exc.error_index} {how}") from None


def _entry(
    local_rank: int, world_size: int, port: int, worker: Callable[..., Any], args: tuple
) -> None:
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    if not torch.cuda.is_available():
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    worker(*args)
