"""Per-sample random state: a sample's augmentation depends only on (seed, epoch, index).

Random transforms draw from the global python, numpy and torch (CPU) generators of the process
that runs them: a DataLoader worker, or the main process with ``num_workers=0``. Which worker
loads a sample, and what it drew before, depend on the number of workers and on where an epoch
started (a resumed run skips the consumed samples); so would the augmentation.

:class:`SampleSeededDataset` (applied to every map-style dataset by the DataLoader build hook,
:mod:`hat.data.dataloader`) loads ``dataset[index]`` with the three generators seeded from
:func:`sample_seed` ``(seed, epoch, index)`` and restores their previous state afterwards: the
augmentation of a sample is the same with any ``num_workers``, any world size and after a
mid-epoch resume, and the main process's random stream (dropout, ...) is not consumed by data
loading. The epoch lives in shared memory (:meth:`SampleSeededDataset.set_epoch`), so persistent
and spawned workers see the current one.
"""

from __future__ import annotations

import hashlib
import operator
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["SampleSeededDataset", "sample_seed", "seeded_rngs"]

_OWN_ATTRS = frozenset({"dataset", "seed", "_epoch"})


def sample_seed(seed: int, epoch: int, index: Any) -> int:
    """A 64-bit seed mixed from ``(seed, epoch, index)`` (blake2b; independent of the process)."""
    try:
        key = str(operator.index(index))
    except TypeError:
        key = repr(index)  # e.g. a tuple from a custom sampler
    text = f"{int(seed)}:{int(epoch)}:{key}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


@contextmanager
def seeded_rngs(seed: int) -> Iterator[None]:
    """Run the block with python, numpy and torch's CPU generator seeded from the 64-bit
    ``seed``; their previous states are restored on leaving (CUDA generators are not touched)."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch_state = torch.default_generator.get_state()
    random.seed(seed)
    np.random.seed([seed & 0xFFFFFFFF, seed >> 32])
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.default_generator.set_state(torch_state)


class SampleSeededDataset(Dataset):
    """``dataset[index]`` under :func:`seeded_rngs` ``(sample_seed(seed, epoch, index))``.

    Other attributes are read from the wrapped ``dataset``.

    Args:
        dataset: a map-style dataset.
        seed: the run's base seed (the same on every rank).
    """

    def __init__(self, dataset: Any, seed: int) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` from now on, in this process and in its workers (shared memory)."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Any) -> Any:
        with seeded_rngs(sample_seed(self.seed, int(self._epoch), index)):
            return self.dataset[index]

    def __getattr__(self, name: str) -> Any:
        # only called for names not found on the wrapper; never for its own state (unpickling
        # looks them up before they exist) nor for protocol names like ``__getitems__``
        if name in _OWN_ATTRS or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"SampleSeededDataset({self.dataset!r}, seed={self.seed})"
