"""Seeding: ``seed + rank`` for the process, deterministic data-loader worker seeds."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "base_seed", "seed_worker", "set_deterministic"]

_BASE_SEED = 0


def seed_everything(seed: int | None, rank: int = 0) -> int:
    """Seed python, numpy and torch (all devices) with ``seed + rank``; returns that seed.

    ``seed=None`` draws a random base seed (logged by the caller). The base seed (without the
    rank) is remembered: samplers use it so every rank shuffles the data the same way.
    """
    global _BASE_SEED
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little") >> 1
    _BASE_SEED = int(seed)
    process_seed = int(seed) + int(rank)
    random.seed(process_seed)
    np.random.seed(process_seed % (2**32))
    torch.manual_seed(process_seed)
    return process_seed


def base_seed() -> int:
    """The seed given to :func:`seed_everything` (identical on every rank; 0 if never set)."""
    return _BASE_SEED


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed python/numpy from the per-worker torch seed torch already set."""
    seed = torch.initial_seed() % (2**32)
    random.seed(seed)
    np.random.seed(seed)


def set_deterministic(enabled: bool = True) -> None:
    """Use deterministic kernels (``torch.use_deterministic_algorithms``) and no cuDNN autotune.

    On CUDA some reductions use atomics; bitwise reproducibility also needs
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which is set here when missing.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled and torch.backends.cudnn.benchmark
