"""Random crop of a sample (images and spatial labels cropped at the same window)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hat.data.transforms.layout import spatial_size
from hat.registry import OBJECT_REGISTRY

__all__ = ["RandomCrop"]

LABEL_KEYS = ("gt_flow", "gt_seg", "gt_disp")


def _crop(x: Any, top: int, left: int, h: int, w: int) -> Any:
    if isinstance(x, (list, tuple)):
        return type(x)(_crop(i, top, left, h, w) for i in x)
    if isinstance(x, np.ndarray):
        return x[top : top + h, left : left + w]
    return x[..., top : top + h, left : left + w]


@OBJECT_REGISTRY.register
class RandomCrop:
    """Crop ``size=(h, w)`` (or an int) at a uniformly random position.

    Applies to ``"img"`` and the spatial labels (``gt_flow``, ``gt_seg``, ``gt_disp``); flow
    and disparity values are unchanged by a crop. A batch (``(B, C, H, W)`` tensors) shares one
    window.
    Raises a ValueError when the image is smaller than ``size``.
    """

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ValueError(f"RandomCrop: size must be an int or (h, w) > 0, got {size!r}")

    def __call__(self, sample: dict) -> dict:
        h, w = spatial_size(sample["img"])
        ch, cw = self.size
        if ch > h or cw > w:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the image {(h, w)}")
        top = int(torch.randint(0, h - ch + 1, ()).item())
        left = int(torch.randint(0, w - cw + 1, ()).item())
        out = dict(sample)
        out["img"] = _crop(sample["img"], top, left, ch, cw)
        for key in LABEL_KEYS:
            if key in sample:
                out[key] = _crop(sample[key], top, left, ch, cw)
        return out

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size})"
