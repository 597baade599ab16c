"""FlyingChairs optical-flow datasets: packed LMDB and raw files.

Item (before transforms)::

    {"img": [img1, img2],         # (H, W, 3) uint8, RGB when to_rgb else BGR
     "gt_flow": flow,             # (H, W, 2) float32, forward flow (u, v) in pixels
     "img_name": int}             # 1-based pair number
"""

from __future__ import annotations

from typing import Any

from hat.data.codecs.flyingchairs import decode_pair
from hat.data.datasets.base import LmdbRecordDataset, SampleDataset, Transforms
from hat.data.readers.flyingchairs_layout import FlyingChairsLayout
from hat.registry import OBJECT_REGISTRY

__all__ = ["FlyingChairs", "FlyingChairsFromImage"]


@OBJECT_REGISTRY.register
class FlyingChairs(LmdbRecordDataset):
    """FlyingChairs packed by :class:`~hat.data.packers.flyingchairs.FlyingChairsPacker`.

    ``data_path``: its LMDB directory (e.g. ``tmp_data/FlyingChairs/train_lmdb``); the other
    arguments and how items are read: see :class:`~hat.data.datasets.base.LmdbRecordDataset`.
    """

    def _decode_record(self, value: Any, idx: int, where: str, copy: bool) -> dict:
        pair = decode_pair(value, self.to_rgb, where=where, copy=copy)
        return {"img": [pair.img1, pair.img2], "gt_flow": pair.flow, "img_name": pair.img_name}


@OBJECT_REGISTRY.register
class FlyingChairsFromImage(SampleDataset):
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
        super().__init__(data_path, transforms, to_rgb)
        self.split = split
        self.layout = FlyingChairsLayout(self.data_path)
        self.pair_ids = self.layout.pair_ids(split)

    def __len__(self) -> int:
        return len(self.pair_ids)

    def _load(self, idx: int) -> dict:
        pair_id = self.pair_ids[idx]
        img1, img2, flow = self.layout.read_pair(pair_id, self.to_rgb)
        return {"img": [img1, img2], "gt_flow": flow, "img_name": pair_id}

    def _repr_source(self) -> str:
        return f"split={self.split!r}, "
