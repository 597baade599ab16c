"""``DepthwiseSeparableFCNHead``: FCN segmentation head of depthwise-separable conv blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hat.models.separable_conv import SeparableConvModule2d
from hat.nn import ConvModule2d, DeQuantStub
from hat.quantization.qtensor import QTensor
from hat.registry import OBJECT_REGISTRY

__all__ = ["DepthwiseSeparableFCNHead"]


@OBJECT_REGISTRY.register
class DepthwiseSeparableFCNHead(nn.Module):
    """``num_convs`` separable blocks, channel dropout, a 1x1 classifier, a ``DeQuantStub``.

    Each block is a 3x3 depthwise conv + BN then a 1x1 pointwise conv + BN + ReLU
    (``SeparableConvModule2d``, fused and quantized as ``hat.nn.ConvModule2d``).

    Args:
        input_index: which of the input features the head reads.
        in_channels: channels of that feature.
        feat_channels: channels of the separable blocks.
        num_classes: output channels (class logits).
        dropout_ratio: ``nn.Dropout2d`` probability before the classifier during float
            training (0: none). A prepared (quantized) model skips it: scaled activations would
            leave the quantization grid of the classifier's input.
        num_convs: separable blocks (>= 1).
        bn_kwargs: BatchNorm arguments.
        int8_output: quantize the classifier's logits to 8 bits; ``False`` (HAT's default):
            high-precision output (int32 accumulator times its scale).

    ``forward(feats)``: ``feats`` a sequence of ``(B, C, H, W)`` tensors; returns the
    ``(B, num_classes, H, W)`` logits of ``feats[input_index]`` (float after the
    ``DeQuantStub``).
    """

    def __init__(
        self,
        input_index: int,
        in_channels: int,
        feat_channels: int,
        num_classes: int,
        dropout_ratio: float = 0.1,
        num_convs: int = 1,
        bn_kwargs: dict | None = None,
        int8_output: bool = False,
    ) -> None:
        super().__init__()
        for key, value in (
            ("in_channels", in_channels),
            ("feat_channels", feat_channels),
            ("num_classes", num_classes),
            ("num_convs", num_convs),
        ):
            if int(value) < 1:
                raise ValueError(f"DepthwiseSeparableFCNHead: {key} must be >= 1, got {value}")
        if not 0.0 <= float(dropout_ratio) < 1.0:
            raise ValueError(
                f"DepthwiseSeparableFCNHead: dropout_ratio must be in [0, 1), got {dropout_ratio}"
            )
        self.input_index = int(input_index)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.int8_output = bool(int8_output)
        bn_kwargs = dict(bn_kwargs or {})
        blocks, c_in = [], int(in_channels)
        for _ in range(int(num_convs)):
            blocks.append(SeparableConvModule2d(c_in, int(feat_channels), 3, bn_kwargs=bn_kwargs))
            c_in = int(feat_channels)
        self.convs = nn.Sequential(*blocks)
        self.dropout = nn.Dropout2d(float(dropout_ratio)) if dropout_ratio > 0 else None
        self.cls_seg = ConvModule2d(c_in, self.num_classes, 1)
        self.dequant = DeQuantStub()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        if isinstance(feats, torch.Tensor):
            feats = [feats]
        n = len(feats)
        if not -n <= self.input_index < n:
            raise IndexError(
                f"DepthwiseSeparableFCNHead: input_index {self.input_index} out of range for "
                f"{n} input features"
            )
        x = feats[self.input_index]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"DepthwiseSeparableFCNHead expects (B, {self.in_channels}, H, W) features at "
                f"input_index {self.input_index}, got {tuple(x.shape)}"
            )
        x = self.convs(x)
        if self.dropout is not None and self.training and not isinstance(x, QTensor):
            x = self.dropout(x)
        return self.dequant(self.cls_seg(x))

    def fuse_model(self) -> None:
        """Conv-BN(-ReLU) fusion happens in :func:`hat.quantization.prepare_qat`."""

    def set_qconfig(self) -> None:
        """Without ``int8_output`` the classifier keeps a high-precision (int32) output."""
        if self.int8_output:
            return
        from hat.quantization import get_default_qconfig

        self.cls_seg.qconfig = get_default_qconfig(high_precision_output=True)
