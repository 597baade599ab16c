"""Cityscapes semantic-segmentation datasets: packed LMDB and raw files.

Item (before transforms)::

    {"img": img,                  # (H, W, 3) uint8, RGB when to_rgb else BGR
     "gt_seg": label,             # (H, W) uint8 raw labelIds (0..33), NOT remapped
     "img_name": str}             # "{city}_{seq:06d}_{frame:06d}"

Remap to train ids with ``LabelRemap`` (a sample or batch transform). After ``PILToTensor``:
``img`` (3, H, W) uint8 and ``gt_seg`` (1, H, W) uint8, collated to (B, 3, H, W) / (B, 1, H, W).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch.utils.data as tud

from hat.data.cityscapes_labels import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABEL_MAPPINGS,
    CITYSCAPES_LABLE_MAPPINGS,
)
from hat.data.codecs.cityscapes import decode_sample
from hat.data.datasets.lmdb_item import read_lmdb_item
from hat.data.memory import tune_malloc
from hat.data.pack_type.lmdb import LmdbReader, index_key
from hat.data.readers.cityscapes_layout import CityscapesLayout
from hat.data.transforms.compose import build_transforms
from hat.registry import OBJECT_REGISTRY

__all__ = [
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_LABEL_MAPPINGS",
    "CITYSCAPES_LABLE_MAPPINGS",
    "CityscapesFromImage",
    "CityscapesFromLMDB",
]

logger = logging.getLogger(__name__)

Transforms = Callable[[Any], Any] | Sequence[Any] | None


class _SegDataset(tud.Dataset):
    """Shared by both readers: transforms, and allocator tuning on the first item per process."""

    def __init__(self, transforms: Transforms, to_rgb: bool) -> None:
        self.transforms = build_transforms(transforms)
        self.to_rgb = to_rgb

    def __getitem__(self, idx: int) -> dict:
        tune_malloc()  # once per process (a DataLoader worker is a process): see hat.data.memory
        item = self._load(idx)
        return self.transforms(item) if self.transforms is not None else item

    def _load(self, idx: int) -> dict:
        raise NotImplementedError


@OBJECT_REGISTRY.register
@OBJECT_REGISTRY.alias("Cityscapes")
class CityscapesFromLMDB(_SegDataset):
    """Cityscapes packed by :class:`~hat.data.packers.cityscapes.CityscapesPacker`.

    Args:
        data_path: the LMDB directory (e.g. ``tmp_data/cityscapes/train_lmdb``).
        transforms: a callable, a list of callables (applied in order) or None.
        to_rgb: images in RGB order (else BGR).
        num_samples: use only the first N samples (HAT configs pass the split size, e.g. 2975);
            more than the LMDB holds logs a warning and uses them all.
    """

    def __init__(
        self,
        data_path: str,
        transforms: Transforms = None,
        to_rgb: bool = True,
        num_samples: int | None = None,
    ) -> None:
        super().__init__(transforms, to_rgb)
        self.data_path = os.fspath(data_path)
        self.reader = LmdbReader(self.data_path)
        self._len = len(self.reader)
        if num_samples is not None:
            if int(num_samples) > self._len:
                logger.warning(
                    "CityscapesFromLMDB: num_samples=%d but %s holds %d samples; using %d",
                    num_samples,
                    self.data_path,
                    self._len,
                    self._len,
                )
            self._len = min(int(num_samples), self._len)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, idx: int) -> dict:
        tune_malloc()
        idx = self._index(idx)
        return read_lmdb_item(self.reader, idx, partial(self._decode, idx), self.transforms)

    def _load(self, idx: int) -> dict:
        idx = self._index(idx)
        with self.reader.view(idx) as value:
            return self._decode(idx, value, copy=True)

    def _index(self, idx: int) -> int:
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"{self.data_path}: index {idx} out of range for {len(self)}")
        return idx

    def _decode(self, idx: int, value: Any, copy: bool) -> dict:
        where = f"{self.data_path} key {index_key(idx)!r}"
        s = decode_sample(value, self.to_rgb, where=where, copy=copy)
        return {"img": s.img, "gt_seg": s.gt_seg, "img_name": s.img_name or str(idx)}

    def __repr__(self) -> str:
        return (
            f"CityscapesFromLMDB(data_path={self.data_path!r}, len={len(self)}, "
            f"transforms={self.transforms!r})"
        )


@OBJECT_REGISTRY.register
class CityscapesFromImage(_SegDataset):
    """Cityscapes read from the raw ``leftImg8bit/`` + ``gtFine/`` tree.

    Args:
        data_path: the directory holding ``leftImg8bit/`` and ``gtFine/``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        transforms: a callable, a list of callables (applied in order) or None.
        to_rgb: images in RGB order (else BGR).
    """

    def __init__(
        self, data_path: str, split: str = "val", transforms: Transforms = None, to_rgb: bool = True
    ) -> None:
        super().__init__(transforms, to_rgb)
        self.data_path = os.fspath(data_path)
        self.split = split
        self.layout = CityscapesLayout(self.data_path)
        self.samples = self.layout.samples(split)

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, idx: int) -> dict:
        sample = self.samples[idx]
        img, label = self.layout.read_sample(sample, self.to_rgb)
        return {"img": img, "gt_seg": label, "img_name": sample.name}

    def __repr__(self) -> str:
        return (
            f"CityscapesFromImage(data_path={self.data_path!r}, split={self.split!r}, "
            f"len={len(self)}, transforms={self.transforms!r})"
        )
