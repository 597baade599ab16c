"""Run a metric on two real DDP ranks (gloo, spawned processes) and read back rank 0's result."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as tmp


def _worker(rank: int, port: int, fn: Callable[[int], Any], out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        result = fn(rank)
        if rank == 0:
            torch.save(result, out)
    finally:
        dist.destroy_process_group()


def on_two_ranks(fn: Callable[[int], Any], tmp_path: Path) -> Any:
    """``fn(rank)`` on ranks 0 and 1 of a 2-process gloo group; what rank 0 returned.

    ``fn`` must be a module-level function (the ranks are spawned processes) and return what
    ``torch.load(weights_only=True)`` reads back (numbers, strings, tensors, lists, dicts).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "rank0.pt")
    tmp.spawn(_worker, args=(port, fn, out), nprocs=2, join=True)
    return torch.load(out, weights_only=True)
