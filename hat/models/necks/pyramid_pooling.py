"""Pyramid pooling (PSPNet, Zhao et al. 2017) as Fast-SCNN's global feature extractor uses it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hat.nn import Concat, ConvModule2d, Interpolate
from hat.quantization.mapping import register_qat_module
from hat.quantization.qat.bin_avg_pool import QATBinAvgPool

__all__ = ["BinAvgPool", "PyramidPooling", "bin_pool_geometry"]


def bin_pool_geometry(size: int, bins: int) -> tuple[int, int]:
    """``(kernel, stride)`` that average-pools ``size`` positions into ``bins`` (HAT's rule):
    ``stride = size // bins``, ``kernel = size - (bins - 1) * stride`` (windows overlap when
    ``bins`` does not divide ``size``)."""
    if size < bins:
        raise ValueError(f"pyramid pooling: a side of {size} cannot be pooled into {bins} bins")
    stride = size // bins
    return size - (bins - 1) * stride, stride


class BinAvgPool(nn.Module):
    """Average pooling of a ``(B, C, H, W)`` map into ``bins x bins`` cells
    (:func:`bin_pool_geometry` per side; no padding).

    Quantized (``QATBinAvgPool`` -> ``IntBinAvgPool``): exact int32 window sums and one
    requantization, exported as ``ConvInteger`` with an all-ones depthwise kernel.
    """

    def __init__(self, bins: int) -> None:
        super().__init__()
        if bins < 1:
            raise ValueError(f"BinAvgPool: bins must be >= 1, got {bins}")
        self.bins = int(bins)

    def geometry(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((kh, kw), (sh, sw))`` for an input of ``height x width``."""
        (kh, sh) = bin_pool_geometry(height, self.bins)
        (kw, sw) = bin_pool_geometry(width, self.bins)
        return (kh, kw), (sh, sw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = self.geometry(*x.shape[-2:])
        return F.avg_pool2d(x, kernel, stride)

    def extra_repr(self) -> str:
        return f"bins={self.bins}"


register_qat_module(BinAvgPool, QATBinAvgPool.from_float)


class PyramidPooling(nn.Module):
    """``conv3x3(cat(up(conv1x1(pool_b(x))) for b in bins, x))``.

    Each branch pools ``x`` into ``b x b`` cells (:class:`BinAvgPool`), reduces it to
    ``channels // 4`` with a 1x1 conv + BN + ReLU and resizes it back to ``x``'s size; the
    branches and ``x`` are concatenated and projected to ``channels`` by a 3x3 conv + BN + ReLU.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        bins: Sequence[int] = (1, 2, 4, 8),
        bn_kwargs: dict | None = None,
        upsample_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        if channels % 4:
            raise ValueError(f"PyramidPooling: channels must be a multiple of 4, got {channels}")
        bn = dict(bn_kwargs or {})
        c = channels // 4
        self.pools = nn.ModuleList(BinAvgPool(b) for b in bins)
        self.reduce = nn.ModuleList(
            ConvModule2d(
                in_channels, c, 1, bias=False, norm_layer=nn.BatchNorm2d(c, **bn),
                act_layer=nn.ReLU(),
            )
            for _ in bins
        )  # fmt: skip
        self.upsample = nn.ModuleList(
            Interpolate(mode=upsample_mode, align_corners=False) for _ in bins
        )
        self.concat = Concat(dim=1)
        self.project = ConvModule2d(
            c * len(self.pools) + in_channels, channels, 3, bias=False,
            norm_layer=nn.BatchNorm2d(channels, **bn), act_layer=nn.ReLU(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        outs = [
            up(conv(pool(x)), size=size)
            for pool, conv, up in zip(self.pools, self.reduce, self.upsample)
        ]
        return self.project(self.concat(*outs, x))
