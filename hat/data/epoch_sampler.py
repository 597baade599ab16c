"""A distributed sampler that also tells the dataset the epoch (HAT's
``DistSetEpochDatasetSampler``).

Datasets whose items depend on the epoch (MOTR's clip length grows at ``sampler_steps``:
:class:`~hat.data.datasets.mot17.Mot17Dataset`) expose ``set_epoch(epoch)``. The trainers call
the sampler's ``set_epoch`` at every epoch start (:func:`~hat.data.dataloader.set_loader_epoch`);
this sampler forwards it to the dataset, on every rank, before the epoch's indices are drawn,
so all ranks sample clips of the same length while drawing disjoint indices.
"""

from __future__ import annotations

from hat.data.samplers import ResumableDistributedSampler
from hat.registry import OBJECT_REGISTRY

__all__ = ["DistSetEpochDatasetSampler"]


@OBJECT_REGISTRY.register
class DistSetEpochDatasetSampler(ResumableDistributedSampler):
    """:class:`~hat.data.samplers.ResumableDistributedSampler` whose :meth:`set_epoch` also
    calls ``dataset.set_epoch(epoch)`` when the dataset has one (same arguments)."""

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        set_dataset_epoch = getattr(self.dataset, "set_epoch", None)
        if callable(set_dataset_epoch):
            set_dataset_epoch(epoch)
