"""``FastSCNNNeck``: Fast-SCNN's pyramid pooling and feature fusion (Poudel et al. 2019), HAT's
layout."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hat.models.necks.pyramid_pooling import PyramidPooling
from hat.nn import AddReLU, ConvModule2d, Interpolate
from hat.registry import OBJECT_REGISTRY

__all__ = ["FastSCNNNeck", "FeatureFusion"]


def _sep_conv(channels: int, bn: dict, dw_relu: bool, pw_relu: bool) -> nn.Sequential:
    """3x3 depthwise conv + BN then 1x1 conv + BN, each optionally followed by ReLU."""
    return nn.Sequential(
        ConvModule2d(
            channels, channels, 3, groups=channels, bias=False,
            norm_layer=nn.BatchNorm2d(channels, **bn), act_layer=nn.ReLU() if dw_relu else None,
        ),
        ConvModule2d(
            channels, channels, 1, bias=False, norm_layer=nn.BatchNorm2d(channels, **bn),
            act_layer=nn.ReLU() if pw_relu else None,
        ),
    )  # fmt: skip


class FeatureFusion(nn.Module):
    """Fast-SCNN's feature fusion module: ``fusion(relu(project(high) + up(low)))``.

    ``project``: 3x3 conv + BN (linear) on the high-resolution feature; ``up``: the
    low-resolution feature resized to the high one's size, then a depthwise conv + BN + ReLU
    and a 1x1 conv + BN (linear); the sum is rectified (``AddReLU``, one quantized add) and goes
    through a depthwise conv + BN and a 1x1 conv + BN + ReLU.
    """

    def __init__(
        self, in_channels: int, channels: int, bn_kwargs: dict, upsample_mode: str = "bilinear"
    ) -> None:
        super().__init__()
        self.project = ConvModule2d(
            in_channels, channels, 3, bias=False, norm_layer=nn.BatchNorm2d(channels, **bn_kwargs)
        )
        self.upsample = Interpolate(mode=upsample_mode, align_corners=False)
        self.low_conv = _sep_conv(channels, bn_kwargs, dw_relu=True, pw_relu=False)
        self.add_relu = AddReLU()
        self.fusion = _sep_conv(channels, bn_kwargs, dw_relu=False, pw_relu=True)

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        x = self.project(high)
        low = self.low_conv(self.upsample(low, size=tuple(x.shape[-2:])))
        return self.fusion(self.add_relu(x, low))


@OBJECT_REGISTRY.register
class FastSCNNNeck(nn.Module):
    """Pyramid pooling on the coarsest selected feature, then a feature fusion module per finer
    one (coarse to fine).

    Args:
        in_channels: channels of the features picked by ``indexes`` (finest first; HAT's BEV
            model: ``[40, 320]``, EfficientNet-B0's strides 8 and 32).
        feat_channels: output channels at those features (``[64, 64]``); the coarsest one is
            the pyramid pooling's, each finer one a fusion module's.
        indexes: which backbone features to use (e.g. ``[-3, -1]``).
        bn_kwargs: BatchNorm arguments.
        upsample_mode: ``"bilinear"`` (HAT) or ``"nearest"``, for the fusion's upsampling and
            the pyramid pooling's.
        pool_bins: the pyramid pooling's bins (HAT: 1, 2, 4, 8; the coarsest feature needs at
            least ``max(pool_bins)`` rows and columns, e.g. 256 x 256 images for B0's stride
            32 with 8 bins).

    ``forward(feats)``: ``[finest input, pyramid pooling output, fused output]`` as HAT's
    (with more than two indexes, the last entry is the finest fusion's output). For the BEV
    model at 512x960: ``[(40, 64x120), (64, 16x30), (64, 64x120)]``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        feat_channels: Sequence[int],
        indexes: Sequence[int],
        bn_kwargs: dict | None = None,
        upsample_mode: str = "bilinear",
        pool_bins: Sequence[int] = (1, 2, 4, 8),
    ) -> None:
        super().__init__()
        if not len(in_channels) == len(feat_channels) == len(indexes) >= 2:
            raise ValueError(
                "FastSCNNNeck: in_channels, feat_channels and indexes need the same length "
                f">= 2, got {list(in_channels)}, {list(feat_channels)}, {list(indexes)}"
            )
        bn = dict(bn_kwargs or {})
        self.indexes = [int(i) for i in indexes]
        ins, feats = list(in_channels)[::-1], list(feat_channels)[::-1]  # coarse first
        self.extract = PyramidPooling(
            ins[0], feats[0], bins=pool_bins, bn_kwargs=bn, upsample_mode=upsample_mode
        )
        self.fusions = nn.ModuleList()
        c_low = feats[0]
        for c_in, c in zip(ins[1:], feats[1:]):
            if c != c_low:
                raise ValueError(
                    "FastSCNNNeck: each fusion adds the coarser output to its own, so "
                    f"feat_channels must be equal, got {list(feat_channels)}"
                )
            self.fusions.append(FeatureFusion(c_in, c, bn, upsample_mode))
        for m in self.fusions.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        feats = list(feats)
        try:
            picked = [feats[i] for i in self.indexes][::-1]  # coarse first
        except IndexError:
            raise ValueError(
                f"FastSCNNNeck: indexes {self.indexes} out of range for {len(feats)} features"
            ) from None
        x = self.extract(picked[0])
        outs = [picked[-1], x]
        for high, fusion in zip(picked[1:], self.fusions):
            x = fusion(high, x)
        outs.append(x)
        return outs

    def fuse_model(self) -> None:
        """Conv-BN(-ReLU) fusion happens in :func:`hat.quantization.prepare_qat`."""
