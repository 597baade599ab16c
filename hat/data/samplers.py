"""A distributed sampler that can resume mid-epoch by skipping indices (no data replay).

:class:`ResumableDistributedSampler` is torch's ``DistributedSampler`` that also works without a
process group (world size 1) and can skip the first ``n`` samples of an epoch *in the global
order*: the epoch's global index list (shuffled with ``seed + epoch``, padded to a multiple of
the world size) is cut after ``n`` entries and the rest is dealt round-robin to the ranks, as
torch does. Rank ``r`` of ``W`` therefore draws global positions ``r, r+W, r+2W, ...``: with a
global batch of ``B*W`` the union of the ranks' step-``s`` batches is the global slice
``[s*B*W, (s+1)*B*W)``, exactly what one process with batch ``B*W`` sees at step ``s``. Resuming
after ``k`` steps skips ``k*B*W`` global samples, which is right even if the world size changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
from torch.utils.data import DistributedSampler

from hat.registry import OBJECT_REGISTRY
from hat.utils.distributed import get_rank, get_world_size
from hat.utils.seed import base_seed

__all__ = ["ResumableDistributedSampler"]  # and DistSetEpochDatasetSampler, lazily (below)


@OBJECT_REGISTRY.register
class ResumableDistributedSampler(DistributedSampler):
    """Shards (and shuffles) a dataset over ranks; :meth:`skip_samples` resumes mid-epoch.

    Args:
        dataset: anything with ``len``.
        num_replicas, rank: default to the process group's (1 and 0 without one).
        shuffle: shuffle with ``seed + epoch`` (identical on all ranks).
        seed: default :func:`hat.utils.seed.base_seed` (the config's ``seed``, rank-independent).
        drop_last: drop the tail instead of padding (only with ``pad_to_even``).
        pad_to_even: pad (or drop) so every rank gets the same count, as DDP training needs.
            ``False`` shards exactly (rank ``r`` gets ``r::W``): right for evaluation, where
            every sample must count once.
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        drop_last: bool = False,
        pad_to_even: bool = True,
    ) -> None:
        num_replicas = get_world_size() if num_replicas is None else num_replicas
        rank = get_rank() if rank is None else rank
        seed = base_seed() if seed is None else seed
        super().__init__(
            dataset,
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        self.pad_to_even = pad_to_even
        self.skipped = 0  # global samples of the current epoch that are skipped

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first sample (cancels :meth:`skip_samples`)."""
        self.epoch = epoch
        self.skipped = 0

    def skip_samples(self, num_global_samples: int) -> None:
        """Skip the first ``num_global_samples`` of the current epoch's global order."""
        if num_global_samples < 0:
            raise ValueError(f"cannot skip a negative number of samples: {num_global_samples}")
        self.skipped = num_global_samples

    def global_indices(self) -> list[int]:
        """The epoch's index list before sharding and skipping."""
        n = len(self.dataset)  # type: ignore[arg-type]
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = torch.randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if not self.pad_to_even or n == 0:
            return indices
        if self.drop_last:
            return indices[: self.total_size]
        padding = self.total_size - n
        while padding > 0:
            indices += indices[:padding]
            padding = self.total_size - len(indices)
        return indices

    def _global_length(self) -> int:
        return self.total_size if self.pad_to_even else len(self.dataset)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        remaining = self.global_indices()[self.skipped :]
        return iter(remaining[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        remaining = max(self._global_length() - self.skipped, 0)
        return len(range(self.rank, remaining, self.num_replicas))


def __getattr__(name: str) -> type:
    # DistSetEpochDatasetSampler (hat.data.epoch_sampler) subclasses the sampler above: exported
    # lazily, so that either module can be imported first
    if name == "DistSetEpochDatasetSampler":
        from hat.data.epoch_sampler import DistSetEpochDatasetSampler

        return DistSetEpochDatasetSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
