"""Move sample fields between the dataset layout and ``(B, C, H, W)`` tensors.

A sample's ``"img"`` is either a list of ``(H, W, C)`` numpy images (before ``ToTensor``), a
``(C, H, W)`` tensor (after ``ToTensor``) or a ``(B, C, H, W)`` tensor (a collated batch).
Labels follow the image: numpy ``(H, W[, C])``; tensors ``(C, H, W)``/``(H, W)`` for one sample
and ``(B, C, H, W)``/``(B, H, W)`` for a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch

from hat.data.transforms.functional import hwc_to_chw

__all__ = ["img_channel_groups", "is_batched", "label_to_bchw", "img_to_bchw", "spatial_size"]

Restore = Callable[[torch.Tensor], Any]


def is_batched(img: Any) -> bool:
    """True when ``img`` is a collated ``(B, C, H, W)`` tensor."""
    return isinstance(img, torch.Tensor) and img.dim() == 4


def spatial_size(img: Any) -> tuple[int, int]:
    """``(H, W)`` of a sample's ``"img"`` in any layout."""
    if isinstance(img, (list, tuple)):
        return tuple(img[0].shape[:2])
    if isinstance(img, torch.Tensor) and img.dim() in (3, 4):
        return tuple(img.shape[-2:])
    if isinstance(img, np.ndarray) and img.ndim in (2, 3):
        return tuple(img.shape[:2])
    raise TypeError(f"unsupported 'img' layout: {_describe(img)}")


def img_channel_groups(img: Any) -> list[int]:
    """Channels of each image in ``img`` (``[3, 3]`` for a pair, in list or tensor layout)."""
    if isinstance(img, (list, tuple)):
        return [im.shape[2] if im.ndim == 3 else 1 for im in img]
    channels = img.shape[-3]
    return [3] * (channels // 3) if channels % 3 == 0 else [channels]


def _to_dtype_like(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if t.is_floating_point() and not dtype.is_floating_point:
        t = t.round()
        if dtype == torch.uint8:
            t = t.clamp(0, 255)
    return t.to(dtype)


def img_to_bchw(img: Any) -> tuple[torch.Tensor, Restore]:
    """``"img"`` as a float ``(B, C, H, W)`` tensor and a function that restores its layout."""
    if isinstance(img, (list, tuple)) and all(isinstance(i, np.ndarray) for i in img):
        groups = img_channel_groups(img)
        np_dtype = img[0].dtype
        t = torch.from_numpy(hwc_to_chw(list(img)))[None]

        def restore(out: torch.Tensor) -> Any:
            planes = _to_dtype_like(out[0], torch.from_numpy(np.empty(0, np_dtype)).dtype).numpy()
            parts, start = [], 0
            for c, orig in zip(groups, img):
                part = cv2.merge(list(planes[start : start + c])) if c > 1 else planes[start]
                parts.append(part.reshape(orig.shape))
                start += c
            return type(img)(parts)

        return t, restore
    if isinstance(img, torch.Tensor) and img.dim() in (3, 4):
        batched = img.dim() == 4
        dtype = img.dtype
        t = img if batched else img[None]

        def restore_t(out: torch.Tensor) -> torch.Tensor:
            out = _to_dtype_like(out, dtype)
            return out if batched else out[0]

        return (t if t.is_floating_point() else t.float()), restore_t
    raise TypeError(f"unsupported 'img' layout: {_describe(img)}")


def label_to_bchw(label: Any, batched: bool) -> tuple[torch.Tensor, Restore]:
    """A spatial label as ``(B, C, H, W)`` plus a function that restores its layout and dtype."""
    if isinstance(label, np.ndarray):
        shape = label.shape
        t = torch.from_numpy(hwc_to_chw([label], label.dtype))[None]

        def restore_np(out: torch.Tensor) -> np.ndarray:
            arr = _to_dtype_like(out, t.dtype)[0].numpy()
            return np.ascontiguousarray(np.moveaxis(arr, 0, 2)).reshape(shape)

        return t, restore_np
    if isinstance(label, torch.Tensor):
        dims = label.dim()
        if batched and dims == 3 or not batched and dims == 2:
            t, squeeze = label.unsqueeze(-3), True
        elif batched and dims == 4 or not batched and dims == 3:
            t, squeeze = label, False
        else:
            raise TypeError(f"label of shape {tuple(label.shape)} does not fit the image layout")
        if not batched:
            t = t[None]

        def restore_t(out: torch.Tensor) -> torch.Tensor:
            out = _to_dtype_like(out, label.dtype)
            if not batched:
                out = out[0]
            return out.squeeze(-3) if squeeze else out

        return t, restore_t
    raise TypeError(f"unsupported label layout: {_describe(label)}")


def _describe(x: Any) -> str:
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return f"{type(x).__name__} of shape {tuple(x.shape)}"
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of {[_describe(i) for i in x[:3]]}"
    return type(x).__name__
