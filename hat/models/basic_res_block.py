"""ResNet basic block built from ``hat.nn`` modules (quantizable as written)."""

from __future__ import annotations

import torch
from torch import nn

from hat.nn import AddReLU, ConvModule2d

__all__ = ["BasicResBlock"]


class BasicResBlock(nn.Module):
    """``relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x))``.

    The first conv has ``stride`` and both have ``dilation`` (padding keeps the size); the
    shortcut is the identity, or a 1x1 conv + BN when the stride or channel count changes. The
    merge is one :class:`hat.nn.AddReLU` (one output scale, ReLU fused).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        dilation: int = 1,
        bias: bool = False,
        bn_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        bn = bn_kwargs or {}
        self.conv1 = ConvModule2d(
            in_channels,
            out_channels,
            3,
            stride=stride,
            dilation=dilation,
            bias=bias,
            norm_layer=nn.BatchNorm2d(out_channels, **bn),
            act_layer=nn.ReLU(),
        )
        self.conv2 = ConvModule2d(
            out_channels,
            out_channels,
            3,
            dilation=dilation,
            bias=bias,
            norm_layer=nn.BatchNorm2d(out_channels, **bn),
        )
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = ConvModule2d(
                in_channels,
                out_channels,
                1,
                stride=stride,
                bias=bias,
                norm_layer=nn.BatchNorm2d(out_channels, **bn),
            )
        self.add_relu = AddReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.add_relu(self.conv2(self.conv1(x)), identity)

    def fuse_model(self) -> None:
        """Delegates to the ``ConvModule2d`` blocks (the quantizer folds their BN)."""
        for m in (self.conv1, self.conv2, self.downsample):
            if m is not None:
                m.fuse_model()
