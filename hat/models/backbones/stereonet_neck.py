"""StereoNet feature extractor, shared between the left and right images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hat.models.basic_res_block import BasicResBlock
from hat.models.layers import clone_act
from hat.models.weight_init import kaiming_init_convs
from hat.nn import Concat, ConvModule2d, QuantStub
from hat.registry import OBJECT_REGISTRY

__all__ = ["StereoNetNeck"]


@OBJECT_REGISTRY.register
class StereoNetNeck(nn.Module):
    """HAT's StereoNet features: stride-16 matching features plus a thin concat feature.

    Input ``(B, 6, H, W)``: left and right images concatenated on channels (normalised YUV444
    in about [-1, 1); ``QuantStub(scale=1/128)``). Both images go through the same layers
    stacked on the batch dimension (shared weights, identical quantization parameters).

    Layers (``out_channels = [c0, c1, c2, c3, c4, c5]``, HAT: ``[32, 32, 64, 128, 128, 16]``):
    three 3x3 convs ``c0`` (the first with stride 2), then residual stages of ``num_blocks``
    basic blocks with ``c1 .. c4`` channels and ``stage_strides`` (HAT: 2, 2, 2, 1, a total
    stride of 16; the head's ``refine_levels`` must match: stride ``2^refine_levels``). The
    matching feature is ``cat(stage3, stage4)`` (``c3 + c4`` channels) and the
    concat feature a 3x3 conv (128) + 1x1 conv (``c5``) of it.

    Returns ``[gwc_left, gwc_right, concat_left, concat_right, img_left]``; ``img_left`` is the
    quantized left image, which guides the refinement.
    """

    def __init__(
        self,
        out_channels: Sequence[int],
        use_bn: bool = True,
        bn_kwargs: dict | None = None,
        bias: bool = False,
        act_type: nn.Module | None = None,
        num_blocks: Sequence[int] = (3, 16, 3, 3),
        lastconv_channels: int = 128,
        stage_strides: Sequence[int] = (2, 2, 2, 1),
    ) -> None:
        super().__init__()
        if len(out_channels) != 6:
            raise ValueError(
                f"StereoNetNeck: out_channels needs 6 entries (first conv, 4 stages, concat "
                f"feature), got {list(out_channels)}"
            )
        if len(num_blocks) != 4 or min(num_blocks) < 1:
            raise ValueError(
                f"StereoNetNeck: num_blocks needs 4 positive entries, got {num_blocks}"
            )
        if len(stage_strides) != 4 or not set(stage_strides) <= {1, 2}:
            raise ValueError(
                f"StereoNetNeck: stage_strides needs 4 entries of 1 or 2, got {stage_strides}"
            )
        self.stride = 2 * int(np.prod(stage_strides))
        self.out_channels = [int(c) for c in out_channels]
        self.use_bn = use_bn
        self.bn_kwargs = dict(bn_kwargs or {})
        self.bias = bias
        act = act_type if act_type is not None else nn.ReLU()
        c = self.out_channels
        self.quant = QuantStub(scale=1.0 / 128)
        self.firstconv = nn.Sequential(
            self._conv(3, c[0], 3, 2, act),
            self._conv(c[0], c[0], 3, 1, act),
            self._conv(c[0], c[0], 3, 1, act),
        )
        s = [int(v) for v in stage_strides]
        self.layer1 = self._stage(c[0], c[1], num_blocks[0], s[0])
        self.layer2 = self._stage(c[1], c[2], num_blocks[1], s[1])
        self.layer3 = self._stage(c[2], c[3], num_blocks[2], s[2])
        self.layer4 = self._stage(c[3], c[4], num_blocks[3], s[3])
        self.gwc_cat = Concat(dim=1)
        self.lastconv = nn.Sequential(
            self._conv(c[3] + c[4], lastconv_channels, 3, 1, act),
            self._conv(lastconv_channels, c[5], 1, 1, None, bn=False),
        )
        kaiming_init_convs(self)

    @property
    def gwc_channels(self) -> int:
        return self.out_channels[3] + self.out_channels[4]

    @property
    def concat_channels(self) -> int:
        return self.out_channels[5]

    def _conv(
        self, cin: int, cout: int, k: int, stride: int, act: nn.Module | None, bn: bool = True
    ) -> ConvModule2d:
        norm = nn.BatchNorm2d(cout, **self.bn_kwargs) if (bn and self.use_bn) else None
        return ConvModule2d(
            cin,
            cout,
            k,
            stride=stride,
            bias=self.bias or norm is None,
            norm_layer=norm,
            act_layer=clone_act(act),
        )

    def _stage(self, cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicResBlock(cin, cout, stride, bias=self.bias, bn_kwargs=self.bn_kwargs)]
        layers += [
            BasicResBlock(cout, cout, 1, bias=self.bias, bn_kwargs=self.bn_kwargs)
            for _ in range(blocks - 1)
        ]
        return nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        if img.dim() != 4 or img.shape[1] != 6:
            raise ValueError(
                "StereoNetNeck expects (B, 6, H, W) = left and right images concatenated on "
                f"channels, got {tuple(img.shape)}"
            )
        x = self.quant(img)
        b = x.shape[0]
        left = x[:, :3]
        x = torch.cat([left, x[:, 3:]], 0)  # same qparams: a layout op
        x = self.layer2(self.layer1(self.firstconv(x)))
        l3 = self.layer3(x)
        l4 = self.layer4(l3)
        gwc = self.gwc_cat(l3, l4)
        cat = self.lastconv(gwc)
        return [gwc[:b], gwc[b:], cat[:b], cat[b:], left]

    def fuse_model(self) -> None:
        """Delegates to the conv blocks (fusion itself is done by the quantizer)."""
        for m in self.modules():
            if m is not self and hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self) -> None:
        """No per-module overrides: the default qconfig applies everywhere."""
