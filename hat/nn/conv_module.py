"""Conv2d + optional norm + optional activation, the unit that quantization fuses."""

from __future__ import annotations

import torch
from torch import nn


class ConvModule2d(nn.Module):
    """``act(norm(conv(x)))`` with attribute names ``conv``, ``norm``, ``act``.

    ``fuse_model()`` marks the block for Conv-BN(-ReLU) fusion; the quantizer folds BN into the
    convolution (``qat_mode="fuse_bn"``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        norm_layer: nn.Module | None = None,
        act_layer: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if padding is None:
            k = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
            padding = dilation * (k - 1) // 2
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=bias
        )
        self.norm = norm_layer
        self.act = act_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x

    def fuse_model(self) -> None:
        """Kept for HAT's API; fusion itself happens in :func:`hat.quantization.prepare_qat`."""
