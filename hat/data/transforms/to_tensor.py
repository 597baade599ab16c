"""Numpy sample -> tensors in the layout the models expect."""

from __future__ import annotations

import numpy as np
import torch

from hat.data.transforms.functional import hwc_to_chw, rgb_to_yuv444
from hat.registry import OBJECT_REGISTRY

__all__ = ["ToTensor"]


@OBJECT_REGISTRY.register
class ToTensor:
    """``"img"`` list of ``(H, W, 3)`` uint8 -> one float32 ``(3k, H, W)`` tensor (values 0..255);
    ``"gt_flow"`` ``(H, W, 2)`` -> float32 ``(2, H, W)``; ``"gt_seg"`` ``(H, W)`` -> int64 tensor;
    ``"gt_disp"`` ``(H, W)`` -> float32 ``(1, H, W)``.

    Args:
        to_yuv: convert each image to YUV444 (see :func:`rgb_to_yuv444`).
        rgb_input: the images are RGB (the datasets' ``to_rgb=True``); else BGR. Only used with
            ``to_yuv``.
        use_yuv_v2: accepted for config compatibility with HAT; must be False.
    """

    def __init__(
        self, to_yuv: bool = False, rgb_input: bool = True, use_yuv_v2: bool = False
    ) -> None:
        if use_yuv_v2:
            raise ValueError("ToTensor: use_yuv_v2=True is not supported")
        self.to_yuv = to_yuv
        self.rgb_input = rgb_input

    def __call__(self, sample: dict) -> dict:
        out = dict(sample)
        img = sample["img"]
        if isinstance(img, np.ndarray):
            img = [img]
        if not isinstance(img, (list, tuple)) or not all(isinstance(i, np.ndarray) for i in img):
            raise TypeError(f"ToTensor: 'img' must be numpy image(s), got {type(img).__name__}")
        t = torch.from_numpy(hwc_to_chw(list(img)))
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
        return f"ToTensor(to_yuv={self.to_yuv})"
