"""``PILToTensor``: decoded images and label maps -> uint8 CHW tensors, values unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hat.data.transforms.functional import hwc_to_chw
from hat.registry import OBJECT_REGISTRY

__all__ = ["PILToTensor"]

_KEYS = ("img", "gt_seg")


def _to_chw(x: Any) -> Any:
    """``(H, W, C)`` -> ``(C, H, W)`` and ``(H, W)`` -> ``(1, H, W)`` tensors, dtype kept."""
    if isinstance(x, (list, tuple)):
        return type(x)(_to_chw(i) for i in x)
    if hasattr(x, "getbands"):  # a PIL image
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        return x  # already a tensor (or not an image): leave it
    if x.ndim == 2:
        return torch.from_numpy(np.ascontiguousarray(x))[None]
    if x.ndim == 3:
        return torch.from_numpy(hwc_to_chw([x], x.dtype))
    raise ValueError(f"PILToTensor: expected an (H, W) or (H, W, C) array, got {x.shape}")


@OBJECT_REGISTRY.register
class PILToTensor:
    """Like torchvision's ``PILToTensor`` on every image of a sample (numpy or PIL).

    ``"img"`` ``(H, W, 3)`` uint8 -> ``(3, H, W)`` uint8 tensor; ``"gt_seg"`` ``(H, W)`` uint8 ->
    ``(1, H, W)`` uint8 tensor (as a PIL "L" image gives). Values are not scaled; the batch is
    moved to the device as uint8 (4x less to copy than float). Other keys are left alone.
    """

    def __call__(self, sample: dict) -> dict:
        out = dict(sample)
        for key in _KEYS:
            if key in sample:
                out[key] = _to_chw(sample[key])
        return out

    def __repr__(self) -> str:
        return "PILToTensor()"
