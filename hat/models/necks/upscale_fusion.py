"""One decoder step of the depthwise U-Net: upsample the coarse map and merge the skip."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.separable_conv import SeparableConvModule2d
from hat.nn import Interpolate
from hat.nn.add_relu import AddReLU

__all__ = ["UpscaleAndFusion"]


class UpscaleAndFusion(nn.Module):
    """``relu(fuse(horizontal(skip)) + up(vertical(coarse)))``.

    ``vertical``: separable conv on the coarse map (``vertical_in -> out`` channels), then
    resized to the skip's size (``upsample_mode``: bilinear as HAT, or nearest). ``horizontal``:
    separable conv on the skip (``horizontal_in -> out``), then ``fuse``: a separable conv
    whose pointwise part is linear; the sum is rectified (``AddReLU``: one quantized op).
    """

    def __init__(
        self,
        vertical_in_channels: int,
        out_channels: int,
        horizontal_in_channels: int,
        bn_kwargs: dict | None = None,
        act_type: type[nn.Module] | nn.Module = nn.ReLU,
        dw_with_relu: bool = False,
        upsample_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        dw_act = act_type if dw_with_relu else None
        self.horizontal_conv = SeparableConvModule2d(
            horizontal_in_channels, out_channels, 3, bn_kwargs=bn_kwargs, dw_act=dw_act,
            pw_act=act_type,
        )  # fmt: skip
        self.vertical_conv = SeparableConvModule2d(
            vertical_in_channels, out_channels, 3, bn_kwargs=bn_kwargs, dw_act=dw_act,
            pw_act=act_type,
        )  # fmt: skip
        self.upscale = Interpolate(mode=upsample_mode, align_corners=False)
        self.fuse_conv = SeparableConvModule2d(
            out_channels, out_channels, 3, bn_kwargs=bn_kwargs, dw_act=dw_act, pw_act=None
        )
        self.add = AddReLU()

    def forward(self, vertical: torch.Tensor, horizontal: torch.Tensor) -> torch.Tensor:
        h = self.fuse_conv(self.horizontal_conv(horizontal))
        v = self.upscale(self.vertical_conv(vertical), size=tuple(h.shape[-2:]))
        return self.add(h, v)
