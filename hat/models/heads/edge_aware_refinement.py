"""StereoNet's edge-aware refinement: upsample a disparity and correct it guided by the image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hat.models.basic_res_block import BasicResBlock
from hat.nn import AddReLU, Concat, ConvModule2d, Interpolate

__all__ = ["EdgeAwareRefinement"]


class EdgeAwareRefinement(nn.Module):
    """``relu(up + residual(cat(up, image)))`` with ``up`` the disparity resized to the image.

    The disparity is in units of the maximum disparity (resolution independent), so resizing
    needs no rescaling. ``residual``: a 3x3 conv to ``channels`` (BN, ReLU), one dilated basic
    residual block per entry of ``dilations`` (the paper: 1, 2, 4, 8, 1, 1) and a 3x3 conv to
    one channel (BN, no activation).

    Quantized: the disparity path (``upsample`` and ``add_relu``) is meant to be int16 (see
    :meth:`disparity_modules`); ``concat`` requantizes the disparity and image to the convs'
    uint8 input, so every conv stays an integer kernel.
    """

    def __init__(
        self,
        image_channels: int = 3,
        channels: int = 32,
        dilations: Sequence[int] = (1, 2, 4, 8, 1, 1),
        bn_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        bn = dict(bn_kwargs or {})
        self.upsample = Interpolate(mode="bilinear", align_corners=False)
        self.concat = Concat(dim=1)
        self.conv_in = ConvModule2d(
            1 + image_channels,
            channels,
            3,
            bias=False,
            norm_layer=nn.BatchNorm2d(channels, **bn),
            act_layer=nn.ReLU(),
        )
        self.blocks = nn.Sequential(
            *[BasicResBlock(channels, channels, dilation=d, bn_kwargs=bn) for d in dilations]
        )
        self.conv_out = ConvModule2d(channels, 1, 3, bias=False, norm_layer=nn.BatchNorm2d(1, **bn))
        self.add_relu = AddReLU()

    def forward(self, disparity: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        up = self.upsample(disparity, size=tuple(image.shape[-2:]))
        x = self.conv_in(self.concat(up, image))
        offset = self.conv_out(self.blocks(x))
        return self.add_relu(offset, up)

    def zero_init_residual(self) -> None:
        """Start as the identity (plain upsampling): the output BN's scale is zeroed, so the
        first updates refine instead of undoing a random offset."""
        nn.init.zeros_(self.conv_out.norm.weight)

    def disparity_modules(self) -> list[nn.Module]:
        """The modules whose outputs are disparities (int16 when quantized)."""
        return [self.upsample, self.add_relu]

    def fuse_model(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "fuse_model"):
                m.fuse_model()
