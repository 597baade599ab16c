"""Numpy sample -> tensors in the layout the models expect."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hat.data.transforms.functional import hwc_to_chw, rgb_to_yuv444
from hat.registry import OBJECT_REGISTRY

__all__ = ["IMG_DTYPES", "ToTensor"]

IMG_DTYPES = {"uint8": np.uint8, "float32": np.float32}


@OBJECT_REGISTRY.register
class ToTensor:
    """``"img"`` list of ``(H, W, 3)`` images -> one ``(3k, H, W)`` tensor; ``"gt_flow"``
    ``(H, W, 2)`` -> float32 ``(2, H, W)``; ``"gt_seg"`` ``(H, W)`` -> int64 tensor;
    ``"gt_disp"`` ``(H, W)`` -> float32 ``(1, H, W)``.

    The image tensor is uint8 for uint8 images (a quarter of the float32 bytes to build, send
    to the main process and copy to the device); the first batch transform on the device
    (``BgrToYuv444`` or ``Normalize``) turns it into float32 with the same 0..255 values.
    Images of another dtype become float32.

    In a :class:`~hat.data.transforms.compose.Compose` pipeline where a later transform
    resamples the image (``resamples_img``: a bilinear ``SegRandomAffine``,
    ``FlowRandomAffineScale``, ``SegResize``), the default ``img_dtype=None`` resolves to
    ``"float32"``, so the resampled values are not rounded to uint8.

    Args:
        to_yuv: convert each image to YUV444 (see :func:`rgb_to_yuv444`).
        rgb_input: the images are RGB (the datasets' ``to_rgb=True``); else BGR. Only used with
            ``to_yuv``.
        use_yuv_v2: accepted for config compatibility with HAT; must be False.
        img_dtype: ``"uint8"`` (uint8 images only), ``"float32"``, or None (see above).

    ``copies_input``: the ``img``, ``gt_flow``, ``gt_disp`` and ``gt_seg`` tensors of the result
    are new memory (never a view of an input array) and no input array is written to, so an
    LMDB dataset whose pipeline starts with ``ToTensor`` hands it read-only views of the memory
    map (:mod:`hat.data.datasets.lmdb_item`): the layout change to ``(C, H, W)`` is then the
    only copy made of each sample's pixels.
    """

    copies_input = True

    def __init__(
        self,
        to_yuv: bool = False,
        rgb_input: bool = True,
        use_yuv_v2: bool = False,
        img_dtype: str | None = None,
    ) -> None:
        if use_yuv_v2:
            raise ValueError("ToTensor: use_yuv_v2=True is not supported")
        if img_dtype is not None and img_dtype not in IMG_DTYPES:
            raise ValueError(
                f"ToTensor: img_dtype must be one of {sorted(IMG_DTYPES)} or None, "
                f"got {img_dtype!r}"
            )
        self.to_yuv = to_yuv
        self.rgb_input = rgb_input
        self.img_dtype = img_dtype

    def for_pipeline(self, later: Sequence[Any]) -> ToTensor:
        """This transform as used before the ``later`` transforms of a pipeline: with
        ``img_dtype=None``, a copy producing float32 when one of them resamples the image."""
        if self.img_dtype is None and any(getattr(t, "resamples_img", False) for t in later):
            resolved = copy.copy(self)
            resolved.img_dtype = "float32"
            return resolved
        return self

    def _img_dtype(self, img: list[np.ndarray]) -> type:
        all_uint8 = all(i.dtype == np.uint8 for i in img)
        if self.img_dtype == "uint8" and not all_uint8:
            raise TypeError(
                "ToTensor(img_dtype='uint8'): 'img' must be uint8 images, got "
                f"{sorted({str(i.dtype) for i in img})}"
            )
        if self.img_dtype == "float32" or not all_uint8:
            return np.float32
        return np.uint8

    def __call__(self, sample: dict) -> dict:
        out = dict(sample)
        img = sample["img"]
        if isinstance(img, np.ndarray):
            img = [img]
        if not isinstance(img, (list, tuple)) or not all(isinstance(i, np.ndarray) for i in img):
            raise TypeError(f"ToTensor: 'img' must be numpy image(s), got {type(img).__name__}")
        img = list(img)
        t = torch.from_numpy(hwc_to_chw(img, self._img_dtype(img)))
        out["img"] = rgb_to_yuv444(t, self.rgb_input) if self.to_yuv else t
        if "gt_flow" in sample and isinstance(sample["gt_flow"], np.ndarray):
            out["gt_flow"] = torch.from_numpy(hwc_to_chw([sample["gt_flow"]]))
        if "gt_disp" in sample and isinstance(sample["gt_disp"], np.ndarray):
            out["gt_disp"] = torch.from_numpy(hwc_to_chw([sample["gt_disp"]]))
        if "gt_seg" in sample and isinstance(sample["gt_seg"], np.ndarray):
            out["gt_seg"] = torch.from_numpy(
                np.ascontiguousarray(sample["gt_seg"]).astype(np.int64)
            )
        return out

    def __repr__(self) -> str:
        return f"ToTensor(to_yuv={self.to_yuv}, img_dtype={self.img_dtype!r})"
