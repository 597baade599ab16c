"""Multi-scale ground truth for pyramid losses."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from hat.data.transforms.functional import InterpolationMode, interpolation_mode
from hat.registry import OBJECT_REGISTRY

__all__ = ["Scale"]

_ALIGNABLE = ("linear", "bilinear", "bicubic", "trilinear")


def _bilinear_integer_downscale(x: torch.Tensor, s: float) -> torch.Tensor | None:
    """``F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)`` for ``s = 1/k``,
    ``k`` an integer >= 2, by strided slicing (None for other factors).

    Output pixel ``i`` samples the input at ``k * i + (k - 1) / 2``: an input pixel for odd
    ``k``, the midpoint of two for even ``k`` (weights 0.5, 0.5), so the result is a strided
    subsample or the mean of 2 x 2 strided samples, equal to torch's to float32 rounding.
    torch's CPU kernel is slow for these shapes (0.1-0.3 s for a (8, 19, 256, 512) one-hot
    label at k >= 8 on one core; slicing: < 10 ms).
    """
    k = round(1.0 / s) if s > 0 else 0
    if k < 2 or abs(k * s - 1.0) > 1e-9:
        return None
    h, w = (int(math.floor(n * s)) for n in x.shape[-2:])
    if h == 0 or w == 0:
        return None
    o = (k - 1) // 2

    def take(dy: int, dx: int) -> torch.Tensor:
        return x[..., o + dy :: k, o + dx :: k][..., :h, :w]

    if k % 2:
        return take(0, 0).contiguous()
    return (take(0, 0) + take(0, 1) + take(1, 0) + take(1, 1)) * 0.25


@OBJECT_REGISTRY.register
class Scale:
    """Replace the labels by one resized copy per scale.

    ``gt_flow`` ``(B, 2, H, W)`` (or ``(2, H, W)``) becomes the list
    ``[interpolate(gt, scale_factor=s, mode) * s for s in scales]`` (flow in each level's pixels;
    ``mul_scale=False`` skips the ``* s``). ``gt_seg`` (one-hot or soft, ``(B, C, H, W)``), if
    present, becomes ``[interpolate(seg, scale_factor=s, mode)]``, never multiplied; an integer
    ``gt_seg`` (a label map of ids) is resized with nearest neighbour whatever ``mode`` says and
    keeps its dtype.
    """

    def __init__(
        self,
        scales: float | Sequence[float],
        mode: str | InterpolationMode = "bilinear",
        mul_scale: bool = True,
    ) -> None:
        self.scales = [
            float(s) for s in (scales if isinstance(scales, (list, tuple)) else [scales])
        ]
        if not self.scales or min(self.scales) <= 0:
            raise ValueError(f"Scale: scales must be positive, got {scales!r}")
        self.mode = "area" if mode == "area" else interpolation_mode(mode)
        self.mul_scale = mul_scale

    def _resize(self, x: torch.Tensor, s: float) -> torch.Tensor:
        align = False if self.mode in _ALIGNABLE else None
        xf = x if x.is_floating_point() else x.float()
        if self.mode == "bilinear" and xf.dim() == 4:
            fast = _bilinear_integer_downscale(xf, s)
            if fast is not None:
                return fast
        return F.interpolate(xf, scale_factor=s, mode=self.mode, align_corners=align)

    def _resize_ids(self, x: torch.Tensor, s: float) -> torch.Tensor:
        out = F.interpolate(x.float(), scale_factor=s, mode="nearest-exact")
        return out.to(x.dtype)

    def __call__(self, sample: dict) -> dict:
        out = dict(sample)
        for key, multiply in (("gt_flow", self.mul_scale), ("gt_seg", False)):
            if key not in sample:
                continue
            gt = sample[key]
            if not isinstance(gt, torch.Tensor) or gt.dim() not in (3, 4):
                raise TypeError(f"Scale: '{key}' must be a (C, H, W) or (B, C, H, W) tensor")
            batched = gt.dim() == 4
            x = gt if batched else gt[None]
            if key == "gt_seg" and not x.is_floating_point():
                levels = [self._resize_ids(x, s) for s in self.scales]
            else:
                levels = [
                    self._resize(x, s) * s if multiply else self._resize(x, s) for s in self.scales
                ]
            out[key] = levels if batched else [lvl[0] for lvl in levels]
        return out

    def __repr__(self) -> str:
        return f"Scale(scales={self.scales}, mode={self.mode!r}, mul_scale={self.mul_scale})"
