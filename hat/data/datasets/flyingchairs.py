"""FlyingChairs optical-flow datasets: packed LMDB and raw files.

Item (before transforms)::

    {"img": [img1, img2],         # (H, W, 3) uint8, RGB when to_rgb else BGR
     "gt_flow": flow,             # (H, W, 2) float32, forward flow (u, v) in pixels
     "img_name": int}             # 1-based pair number
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch.utils.data as tud

from hat.data.codecs.flyingchairs import decode_pair
from hat.data.datasets.lmdb_item import read_lmdb_item
from hat.data.memory import tune_malloc
from hat.data.pack_type.lmdb import LmdbReader, index_key
from hat.data.readers.flyingchairs_layout import FlyingChairsLayout
from hat.data.transforms.compose import build_transforms
from hat.registry import OBJECT_REGISTRY

__all__ = ["FlyingChairs", "FlyingChairsFromImage"]

Transforms = Callable[[Any], Any] | Sequence[Any] | None


class _FlowDataset(tud.Dataset):
    """Shared by both readers: transforms, and allocator tuning on the first item per process."""

    def __init__(self, transforms: Transforms, to_rgb: bool) -> None:
        self.transforms = build_transforms(transforms)
        self.to_rgb = to_rgb

    def __getitem__(self, idx: int) -> dict:
        tune_malloc()  # once per process (a DataLoader worker is a process): see hat.data.memory
        return self._finish(self._load(idx))

    def _load(self, idx: int) -> dict:
        raise NotImplementedError

    def _finish(self, item: dict) -> dict:
        return self.transforms(item) if self.transforms is not None else item


@OBJECT_REGISTRY.register
class FlyingChairs(_FlowDataset):
    """FlyingChairs packed by :class:`~hat.data.packers.flyingchairs.FlyingChairsPacker`.

    Each item is decoded straight from the memory map with one copy of each array (none, when
    the first transform is ``ToTensor``: see :mod:`hat.data.datasets.lmdb_item`).

    Args:
        data_path: the LMDB directory (e.g. ``tmp_data/FlyingChairs/train_lmdb``).
        transforms: a callable, a list of callables (applied in order) or None.
        to_rgb: images in RGB order (else BGR).
    """

    def __init__(self, data_path: str, transforms: Transforms = None, to_rgb: bool = True) -> None:
        super().__init__(transforms, to_rgb)
        self.data_path = os.fspath(data_path)
        self.reader = LmdbReader(self.data_path)

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, idx: int) -> dict:
        tune_malloc()
        if idx < 0:
            idx += len(self)
        return read_lmdb_item(self.reader, idx, partial(self._decode, idx), self.transforms)

    def _load(self, idx: int) -> dict:
        if idx < 0:
            idx += len(self)
        with self.reader.view(idx) as value:
            return self._decode(idx, value, copy=True)

    def _decode(self, idx: int, value: Any, copy: bool) -> dict:
        where = f"{self.data_path} key {index_key(idx)!r}"
        pair = decode_pair(value, self.to_rgb, where=where, copy=copy)
        return {"img": [pair.img1, pair.img2], "gt_flow": pair.flow, "img_name": pair.img_name}

    def __repr__(self) -> str:
        return (
            f"FlyingChairs(data_path={self.data_path!r}, len={len(self)}, "
            f"transforms={self.transforms!r})"
        )


@OBJECT_REGISTRY.register
class FlyingChairsFromImage(_FlowDataset):
    """FlyingChairs read from the raw release (``.ppm`` pairs + ``.flo``).

    Args:
        data_path: the directory holding ``FlyingChairs_release/`` and
            ``FlyingChairs_train_val.txt``.
        split: ``"train"`` or ``"val"``.
        transforms: a callable, a list of callables (applied in order) or None.
        to_rgb: images in RGB order (else BGR).
    """

    def __init__(
        self, data_path: str, split: str = "val", transforms: Transforms = None, to_rgb: bool = True
    ) -> None:
        super().__init__(transforms, to_rgb)
        self.data_path = os.fspath(data_path)
        self.split = split
        self.layout = FlyingChairsLayout(self.data_path)
        self.pair_ids = self.layout.pair_ids(split)

    def __len__(self) -> int:
        return len(self.pair_ids)

    def _load(self, idx: int) -> dict:
        pair_id = self.pair_ids[idx]
        img1, img2, flow = self.layout.read_pair(pair_id, self.to_rgb)
        return {"img": [img1, img2], "gt_flow": flow, "img_name": pair_id}

    def __repr__(self) -> str:
        return (
            f"FlyingChairsFromImage(data_path={self.data_path!r}, split={self.split!r}, "
            f"len={len(self)}, transforms={self.transforms!r})"
        )
