"""Data-side scaffolding shared by the recipes: data loaders and batch processors.

Every builder returns a fresh dict (the registry builds one object per dict, so two users of one
dict share one object); the containers passed in are used as they are, so a recipe that hands
the same transform list to two builders keeps one shared list (an edit in a derived config
changes both).

Loaded by path from a recipe (``from ...common import data_pipeline``).
"""

from collections.abc import Callable

import torch

from hat.data.collates import collate_2d


def data_loader(
    dataset_type: str,
    *,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    distributed: bool = False,
    pin_memory: bool = True,
    **dataset_kwargs,
) -> dict:
    """A ``DataLoader`` dict over ``dict(type=dataset_type, **dataset_kwargs)``, batched with
    ``collate_2d``; ``distributed`` adds a ``DistributedSampler`` (the registry's loader hook
    turns it into a resumable one)."""
    loader = dict(
        type=torch.utils.data.DataLoader, dataset=dict(type=dataset_type, **dataset_kwargs)
    )
    if distributed:
        loader["sampler"] = dict(type=torch.utils.data.DistributedSampler)
    loader.update(
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=pin_memory,
        collate_fn=collate_2d,
    )
    return loader


def yuv444_normalize() -> list[dict]:
    """The deployed models' input preprocessing as batch transforms: RGB images to YUV444,
    then ``(x - 128) / 128``."""
    return [
        dict(type="BgrToYuv444", rgb_input=True),
        dict(type="TorchVisionAdapter", interface="Normalize", mean=128.0, std=128.0),
    ]


def multi_batch_processor(batch_transforms: list, loss_collector: Callable | None = None) -> dict:
    """A ``MultiBatchProcessor`` applying ``batch_transforms``: a training one (gradient update,
    losses from ``loss_collector``) when ``loss_collector`` is given, an evaluation one
    otherwise."""
    return dict(
        type="MultiBatchProcessor",
        need_grad_update=loss_collector is not None,
        batch_transforms=batch_transforms,
        loss_collector=loss_collector,
    )
