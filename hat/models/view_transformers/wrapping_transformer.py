"""IPM view transformer (HAT's ``WrappingTransformer``): camera features -> BEV features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

import hat.nn as hnn
from hat.models.view_transformers.ipm_points import bev_grid_shape
from hat.models.view_transformers.ipm_sample import IpmSample
from hat.registry import OBJECT_REGISTRY

__all__ = ["WrappingTransformer"]


@OBJECT_REGISTRY.register
class WrappingTransformer(nn.Module):
    """Samples every view's features at its IPM points, fuses the views by an element-wise
    maximum and upsamples the BEV map bilinearly by ``bev_upscale``.

    Args:
        bev_size: ``(x_range_m, y_range_m, res_m)``; the points cover its ``(Hb, Wb)`` grid.
        num_views: cameras per sample.
        bev_upscale: upsampling factor of the fused BEV map (1: none).
        drop_prob: probability of zeroing a whole view in training.
        grid_quant_scale: int16 scale of the points in the quantized model, a power of two;
            None derives it from the feature size
            (:func:`hat.models.view_transformers.ipm_sample.grid_quant_scale_for`).
        mode: sampling mode, ``"bilinear"`` (quantizable) or ``"nearest"`` (float only).

    ``forward(feats (B*V, C, Hf, Wf), points (B*V, Hb, Wb, 2))`` ->
    ``(B, C, Hb * bev_upscale, Wb * bev_upscale)``. ``points`` are float feature-pixel
    coordinates (:func:`hat.models.view_transformers.ipm_points.ipm_points`); quantized, they
    stay a float model input that the sampling op quantizes to int16 itself.
    """

    def __init__(
        self,
        bev_size: Sequence[float],
        num_views: int = 6,
        bev_upscale: int = 2,
        drop_prob: float = 0.1,
        grid_quant_scale: float | None = None,
        mode: str = "bilinear",
    ) -> None:
        super().__init__()
        self.bev_size = tuple(float(v) for v in bev_size)
        self.bev_hw = bev_grid_shape(self.bev_size)
        if int(bev_upscale) != bev_upscale or int(bev_upscale) < 1:
            raise ValueError(f"bev_upscale must be an integer >= 1, got {bev_upscale!r}")
        self.bev_upscale = int(bev_upscale)
        self.sample = IpmSample(num_views, drop_prob, grid_quant_scale, mode)
        self.upsample = (
            hnn.Interpolate(scale_factor=self.bev_upscale, mode="bilinear", align_corners=False)
            if self.bev_upscale > 1
            else None
        )

    @property
    def num_views(self) -> int:
        return self.sample.num_views

    def forward(self, feats: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        if points.dim() != 4 or tuple(points.shape[1:3]) != self.bev_hw:
            raise ValueError(
                f"WrappingTransformer: points must be (B*{self.num_views}, {self.bev_hw[0]}, "
                f"{self.bev_hw[1]}, 2) for bev_size {self.bev_size}, got {tuple(points.shape)}"
            )
        bev = self.sample(feats, points)
        return self.upsample(bev) if self.upsample is not None else bev
