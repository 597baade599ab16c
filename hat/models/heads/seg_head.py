"""``SegHead``: per-stride class logits (optionally argmax class maps) of a segmentation model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from hat.models.separable_conv import SeparableConvModule2d
from hat.nn import ConvModule2d, DeQuantStub
from hat.registry import OBJECT_REGISTRY

__all__ = ["SegHead"]


def _as_list(x: int | Sequence[int]) -> list[int]:
    return [int(x)] if isinstance(x, int) else [int(v) for v in x]


@OBJECT_REGISTRY.register
class SegHead(nn.Module):
    """Segmentation head with one output per ``out_strides`` entry (finest first).

    Args:
        num_classes: classes predicted at every pixel.
        in_strides: strides of the input features (the neck's outputs, finest first).
        out_strides: strides to predict at; each must be one of ``in_strides``.
        stride2channels: channels of the input feature of each stride.
        feat_channels: hidden channels of the ``stacked_convs`` per output (int or one per
            output stride).
        stacked_convs: separable conv blocks before each output conv (HAT's recipe: 0).
        argmax_output: return the class map ``argmax(logits, dim=1, keepdim=True)`` (int64,
            ``(B, 1, h, w)``) instead of the logits: the deploy output. On a quantized model the
            argmax runs on the integer logits (same index as on the real values).
        dequant_output: a ``DeQuantStub`` on each output (float logits out of a quantized
            model). HAT requires it off with ``argmax_output``.
        int8_output: quantize the output convs' logits (else high-precision output: the
            int32 accumulator times its scale).
        upscale: HAT's extra x2 output; not supported.
        output_with_bn: BatchNorm after the output conv (folded into it when quantized).
        bn_kwargs: BatchNorm arguments.

    ``forward(feats)``: ``feats`` one tensor per ``in_strides`` entry; returns a list with one
    tensor per ``out_strides`` entry: logits ``(B, num_classes, h, w)`` or class maps.
    """

    def __init__(
        self,
        num_classes: int,
        in_strides: Sequence[int],
        out_strides: Sequence[int],
        stride2channels: Mapping[int, int],
        feat_channels: int | Sequence[int] = 256,
        stacked_convs: int = 0,
        argmax_output: bool = False,
        dequant_output: bool = True,
        int8_output: bool = True,
        upscale: bool = False,
        output_with_bn: bool = False,
        bn_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        if upscale:
            raise ValueError("SegHead: upscale=True is not supported")
        if argmax_output and dequant_output:
            raise ValueError("SegHead: argmax_output outputs class ids; set dequant_output=False")
        self.num_classes = int(num_classes)
        self.in_strides = sorted(_as_list(in_strides))
        self.out_strides = sorted(_as_list(out_strides))
        missing = [s for s in self.out_strides if s not in self.in_strides]
        if missing:
            raise ValueError(f"SegHead: out_strides {missing} are not in in_strides")
        s2c = {int(k): int(v) for k, v in stride2channels.items()}
        absent = [s for s in self.out_strides if s not in s2c]
        if absent:
            raise ValueError(f"SegHead: stride2channels has no entry for strides {absent}")
        feats = _as_list(feat_channels)
        if len(feats) == 1:
            feats = feats * len(self.out_strides)
        if len(feats) != len(self.out_strides):
            raise ValueError(
                f"SegHead: {len(feats)} feat_channels for {len(self.out_strides)} out_strides"
            )
        if stacked_convs == 0:
            feats = [s2c[s] for s in self.out_strides]
        self.argmax_output = argmax_output
        self.dequant_output = dequant_output
        self.int8_output = int8_output
        bn_kwargs = bn_kwargs or {}
        self.seg_convs = nn.ModuleDict()
        self.output_convs = nn.ModuleDict()
        self.dequants = nn.ModuleDict()
        for s, c in zip(self.out_strides, feats):
            key = f"stride{s}"
            blocks, c_in = [], s2c[s]
            for _ in range(stacked_convs):
                blocks.append(SeparableConvModule2d(c_in, c, 3, bn_kwargs=bn_kwargs, dw_norm=False))
                c_in = c
            self.seg_convs[key] = nn.Sequential(*blocks)
            norm = nn.BatchNorm2d(self.num_classes, **bn_kwargs) if output_with_bn else None
            self.output_convs[key] = ConvModule2d(
                c_in, self.num_classes, 1, bias=not output_with_bn, norm_layer=norm
            )
            if dequant_output:
                self.dequants[key] = DeQuantStub()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        feats = list(feats)
        if len(feats) != len(self.in_strides):
            raise ValueError(f"SegHead: got {len(feats)} features for in_strides {self.in_strides}")
        outs = []
        for s in self.out_strides:
            key = f"stride{s}"
            y = self.output_convs[key](self.seg_convs[key](feats[self.in_strides.index(s)]))
            if self.argmax_output:
                y = y.argmax(dim=1, keepdim=True)
            if self.dequant_output:
                y = self.dequants[key](y)
            outs.append(y)
        return outs

    def fuse_model(self) -> None:
        """Conv-BN fusion happens in :func:`hat.quantization.prepare_qat`."""

    def set_qconfig(self) -> None:
        """Without ``int8_output`` the output convs keep a high-precision (int32) output."""
        if self.int8_output:
            return
        from hat.quantization import get_default_qconfig

        for conv in self.output_convs.values():
            conv.qconfig = get_default_qconfig(high_precision_output=True)
