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
from typing import Any

from hat.data.cityscapes_labels import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABEL_MAPPINGS,
    CITYSCAPES_LABLE_MAPPINGS,
)
from hat.data.codecs.cityscapes import decode_sample
from hat.data.datasets.base import LmdbRecordDataset, SampleDataset, Transforms
from hat.data.readers.cityscapes_layout import CityscapesLayout
from hat.registry import OBJECT_REGISTRY

__all__ = [
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_LABEL_MAPPINGS",
    "CITYSCAPES_LABLE_MAPPINGS",
    "CityscapesFromImage",
    "CityscapesFromLMDB",
]

logger = logging.getLogger(__name__)


@OBJECT_REGISTRY.register
@OBJECT_REGISTRY.alias("Cityscapes")
class CityscapesFromLMDB(LmdbRecordDataset):
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
        super().__init__(data_path, transforms, to_rgb)
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

    def _decode_record(self, value: Any, idx: int, where: str, copy: bool) -> dict:
        s = decode_sample(value, self.to_rgb, where=where, copy=copy)
        return {"img": s.img, "gt_seg": s.gt_seg, "img_name": s.img_name or str(idx)}


@OBJECT_REGISTRY.register
class CityscapesFromImage(SampleDataset):
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
        super().__init__(data_path, transforms, to_rgb)
        self.split = split
        self.layout = CityscapesLayout(self.data_path)
        self.samples = self.layout.samples(split)

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, idx: int) -> dict:
        sample = self.samples[idx]
        img, label = self.layout.read_sample(sample, self.to_rgb)
        return {"img": img, "gt_seg": label, "img_name": sample.name}

    def _repr_source(self) -> str:
        return f"split={self.split!r}, "
