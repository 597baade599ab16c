"""The process pool that reads and encodes samples for a packer."""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.pool
import signal

__all__ = ["reader_pool"]


def _ignore_interrupt() -> None:
    # Ctrl-C reaches every process of the terminal's group: only the packer handles it (it
    # stops the pool and removes its temporary LMDB); the workers would each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def reader_pool(num_workers: int) -> multiprocessing.pool.Pool:
    """A pool of ``num_workers`` spawned processes (no fork of a possibly multi-threaded
    parent) that leave Ctrl-C to the packer; SIGTERM (``pool.terminate()``) ends them."""
    return mp.get_context("spawn").Pool(num_workers, initializer=_ignore_interrupt)
