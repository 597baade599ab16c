"""Colour-space conversion to the deployed model's YUV444 input."""

from __future__ import annotations

import numpy as np
import torch

from hat.data.transforms.functional import rgb_to_yuv444
from hat.registry import OBJECT_REGISTRY

__all__ = ["BgrToYuv444"]


@OBJECT_REGISTRY.register
@OBJECT_REGISTRY.alias("ImageBgrToYuv444")
class BgrToYuv444:
    """Convert every 3-channel group of ``"img"`` to YUV444 (BT.601 full range, uint8 levels).

    ``rgb_input=True``: the groups are RGB (the datasets' default ``to_rgb=True``); else BGR.
    Accepts ``(3k, H, W)`` / ``(B, 3k, H, W)`` tensors or a list of ``(H, W, 3)`` uint8 arrays.
    A tensor comes out floating point: an integer (uint8) one as float32 with the same YUV
    levels a float32 input gives, so this is where a uint8 batch becomes the model's float input.
    """

    def __init__(self, rgb_input: bool = False) -> None:
        self.rgb_input = rgb_input

    def __call__(self, sample: dict) -> dict:
        out = dict(sample)
        img = sample["img"]
        if isinstance(img, torch.Tensor):
            dtype = None if img.is_floating_point() else torch.float32
            out["img"] = rgb_to_yuv444(img, self.rgb_input, dtype)
        elif isinstance(img, (list, tuple)):
            out["img"] = type(img)(self._numpy(i) for i in img)
        else:
            raise TypeError(f"BgrToYuv444: unsupported 'img' type {type(img).__name__}")
        return out

    def _numpy(self, img: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
        return rgb_to_yuv444(t.float(), self.rgb_input).permute(1, 2, 0).numpy().astype(img.dtype)

    def __repr__(self) -> str:
        return f"BgrToYuv444(rgb_input={self.rgb_input})"
