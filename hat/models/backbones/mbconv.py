"""EfficientNet's mobile inverted bottleneck (MBConv) block and its squeeze-excitation gate."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.layers import clone_act
from hat.nn import Add, ConvModule2d, Mul

__all__ = ["MBConvBlock", "SqueezeExcite", "drop_connect"]


def drop_connect(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Drop the residual branch of whole samples with probability ``rate`` (stochastic depth),
    scaling the kept ones by ``1 / (1 - rate)``; identity in eval mode.

    Applied to plain float tensors only: in the quantized stages (calibration, QAT) a block's
    branch is a quantized tensor with one output scale, and the blocks run as in evaluation.
    """
    if not training or rate <= 0.0 or type(x) is not torch.Tensor:
        return x
    keep = 1.0 - rate
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class SqueezeExcite(nn.Module):
    """``x * sigmoid(expand(act(reduce(avgpool(x)))))`` (Hu et al. 2018; EfficientNet's SE).

    ``reduce`` and ``expand`` are 1x1 convs with bias. Float only: global average pooling has
    no quantized module in this project.
    """

    def __init__(self, channels: int, squeezed_channels: int, act: nn.Module) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeezed_channels, 1)
        self.act = clone_act(act)
        self.expand = nn.Conv2d(squeezed_channels, channels, 1)
        self.gate = nn.Sigmoid()
        self.mul = Mul()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(self.expand(self.act(self.reduce(self.pool(x)))))
        return self.mul(x, s)


class MBConvBlock(nn.Module):
    """``project(se(dw(expand(x)))) [+ x]``.

    * ``expand``: 1x1 conv + BN + act to ``in_channels * expand_ratio`` (absent for ratio 1);
    * ``dw``: ``kernel_size`` depthwise conv (``stride``) + BN + act;
    * ``se``: :class:`SqueezeExcite` squeezing to ``max(1, int(in_channels * se_ratio))``
      (``se_ratio`` None: no SE);
    * ``project``: 1x1 conv + BN, linear;
    * identity shortcut (``hat.nn.Add``, one quantized add) when ``id_skip``, the stride is 1
      and the channel count is kept, with :func:`drop_connect` on the branch while training.

    Convolutions have no bias (BN follows each); padding is ``kernel_size // 2``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        expand_ratio: int,
        act: nn.Module,
        se_ratio: float | None = None,
        bn_kwargs: dict | None = None,
        id_skip: bool = True,
        drop_connect_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"MBConvBlock: stride must be 1 or 2, got {stride}")
        if expand_ratio < 1:
            raise ValueError(f"MBConvBlock: expand_ratio must be >= 1, got {expand_ratio}")
        bn = dict(bn_kwargs or {})
        mid = in_channels * expand_ratio
        self.expand = None
        if expand_ratio != 1:
            self.expand = ConvModule2d(
                in_channels, mid, 1, bias=False, norm_layer=nn.BatchNorm2d(mid, **bn),
                act_layer=clone_act(act),
            )  # fmt: skip
        self.dw = ConvModule2d(
            mid, mid, kernel_size, stride=stride, groups=mid, bias=False,
            norm_layer=nn.BatchNorm2d(mid, **bn), act_layer=clone_act(act),
        )  # fmt: skip
        self.se = None
        if se_ratio is not None and se_ratio > 0:
            self.se = SqueezeExcite(mid, max(1, int(in_channels * se_ratio)), act)
        self.project = ConvModule2d(
            mid, out_channels, 1, bias=False, norm_layer=nn.BatchNorm2d(out_channels, **bn)
        )
        self.has_skip = id_skip and stride == 1 and in_channels == out_channels
        self.add = Add() if self.has_skip else None
        self.drop_connect_rate = float(drop_connect_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else self.expand(x)
        y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        if self.add is None:
            return y
        return self.add(drop_connect(y, self.drop_connect_rate, self.training), x)

    def fuse_model(self) -> None:
        """Conv-BN(-ReLU) fusion happens in :func:`hat.quantization.prepare_qat`."""
