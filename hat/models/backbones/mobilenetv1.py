"""MobileNetV1 (Howard et al. 2017) with a width multiplier, returning multi-scale features."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.separable_conv import SeparableConvModule2d
from hat.models.weight_init import kaiming_init_convs
from hat.nn import ConvModule2d, DeQuantStub, QuantStub
from hat.registry import OBJECT_REGISTRY

__all__ = ["MobileNetV1", "MOBILENETV1_STAGES"]

#: ``(out_channels, stride)`` of the 13 depthwise-separable blocks, grouped by output stride
#: (2, 4, 8, 16, 32); the stem is a 3x3 stride-2 conv with 32 channels.
MOBILENETV1_STAGES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((64, 1),),
    ((128, 2), (128, 1)),
    ((256, 2), (256, 1)),
    ((512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1)),
    ((1024, 2), (1024, 1)),
)


@OBJECT_REGISTRY.register
class MobileNetV1(nn.Module):
    """MobileNetV1 with every width multiplied by ``alpha`` (x0.25: 8, 16, 32, 64, 128, 256).

    Args:
        num_classes: classifier outputs (used with ``include_top``; HAT configs pass -1 when
            ``include_top=False``).
        bn_kwargs: BatchNorm arguments (HAT: ``eps=2e-5, momentum=0.1``).
        alpha: width multiplier.
        dw_with_relu: ReLU after each depthwise conv (the paper's block); else linear.
        include_top: global average pool + 1x1 conv classifier after a ``DeQuantStub``
            (float: average pooling has no quantized module).
        flat_output: with ``include_top``, logits ``(B, num_classes)`` instead of
            ``(B, num_classes, 1, 1)``.
        in_channels: image channels.
        input_scale: fixed scale of the input ``QuantStub`` (images normalised as
            ``(x - 128) / 128`` lie on the grid of ``1/128``).

    ``forward(img)``: without top, the list of features at strides ``[2, 4, 8, 16, 32]``
    (channels ``alpha * [64, 128, 256, 512, 1024]``); with top, the logits.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        bn_kwargs: dict | None = None,
        alpha: float = 1.0,
        dw_with_relu: bool = True,
        include_top: bool = True,
        flat_output: bool = True,
        in_channels: int = 3,
        input_scale: float | None = 1.0 / 128,
    ) -> None:
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"MobileNetV1: alpha must be > 0, got {alpha}")
        if include_top and num_classes <= 0:
            raise ValueError("MobileNetV1: include_top needs num_classes > 0")
        self.alpha = float(alpha)
        self.include_top = include_top
        self.flat_output = flat_output
        bn_kwargs = dict(bn_kwargs or {})
        width = self.width
        self.quant = QuantStub(scale=input_scale)
        self.stem = ConvModule2d(
            in_channels,
            width(32),
            3,
            stride=2,
            bias=False,
            norm_layer=nn.BatchNorm2d(width(32), **bn_kwargs),
            act_layer=nn.ReLU(),
        )
        stages = []
        c_in = width(32)
        for blocks in MOBILENETV1_STAGES:
            layers = []
            for c, s in blocks:
                layers.append(
                    SeparableConvModule2d(
                        c_in,
                        width(c),
                        3,
                        stride=s,
                        bn_kwargs=bn_kwargs,
                        dw_act=nn.ReLU if dw_with_relu else None,
                        pw_act=nn.ReLU,
                    )
                )
                c_in = width(c)
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.out_channels = [width(blocks[-1][0]) for blocks in MOBILENETV1_STAGES]
        self.out_strides = [2, 4, 8, 16, 32]
        if include_top:
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Conv2d(c_in, num_classes, 1)
            self.dequant = DeQuantStub()
        kaiming_init_convs(self)

    def width(self, channels: int) -> int:
        """``channels * alpha`` (at least 1)."""
        return max(1, int(channels * self.alpha))

    def forward(self, img: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        x = self.stem(self.quant(img))
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        if not self.include_top:
            return feats
        y = self.classifier(self.pool(self.dequant(x)))
        return y.flatten(1) if self.flat_output else y

    def fuse_model(self) -> None:
        """Conv-BN(-ReLU) fusion happens in :func:`hat.quantization.prepare_qat`."""

    def set_qconfig(self) -> None:
        """The classifier top (after the DeQuantStub) stays float."""
        if self.include_top:
            self.pool.qconfig = None
            self.classifier.qconfig = None
