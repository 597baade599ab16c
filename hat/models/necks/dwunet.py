"""``DwUnet``: a U-Net decoder of depthwise-separable convs over a stride-2..32 backbone."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hat.models.necks.upscale_fusion import UpscaleAndFusion
from hat.models.separable_conv import SeparableConvModule2d
from hat.models.weight_init import kaiming_init_convs
from hat.registry import OBJECT_REGISTRY

__all__ = ["DwUnet"]

_SCALES = (1, 2, 4, 8, 16, 32, 64)


@OBJECT_REGISTRY.register
class DwUnet(nn.Module):
    """U-Net neck: channels ``base_channels * stride`` at every stride.

    The stride-32 feature (``32 * base_channels`` channels, e.g. MobileNetV1 x0.25: 256) goes
    through two separable convs to stride 64 (``64 * base``); then each decoder step
    (:class:`UpscaleAndFusion`) halves the channels, doubles the resolution and merges the
    backbone feature of that stride, down to the finest requested output scale. Each output
    scale gets its own separable conv (``out_layer_scale_{s}``).

    Args:
        base_channels: channels per unit of stride (HAT: 8).
        bn_kwargs: BatchNorm arguments.
        act_type: activation class (or instance).
        use_deconv: transposed-conv upsampling (not supported, as in HAT's DwUnet).
        dw_with_relu: activation after the depthwise convs too.
        output_scales: strides of the outputs (subset of 1..64).
        upsample_mode: ``"bilinear"`` (HAT) or ``"nearest"`` (integer Resize in ORT).

    ``forward(feats)``: ``feats`` the backbone's features, finest first, ending at stride 32
    (the decoder uses the last ``log2(64 / min(output_scales))`` of them); returns the outputs
    finest first, one per ``output_scales`` entry.
    """

    def __init__(
        self,
        base_channels: int,
        bn_kwargs: dict | None = None,
        act_type: type[nn.Module] | nn.Module = nn.ReLU,
        use_deconv: bool = False,
        dw_with_relu: bool = False,
        output_scales: Sequence[int] = (4, 8, 16, 32, 64),
        upsample_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        if use_deconv:
            raise ValueError("DwUnet: use_deconv=True is not supported (HAT's neither)")
        scales = sorted(int(s) for s in output_scales)
        if not scales or not set(scales) <= set(_SCALES):
            raise ValueError(f"DwUnet: output_scales must be a subset of {_SCALES}, got {scales}")
        self.base_channels = int(base_channels)
        self.output_scales = scales
        b = self.base_channels
        dw_act = act_type if dw_with_relu else None
        sep = dict(bn_kwargs=bn_kwargs, dw_act=dw_act, pw_act=act_type)
        self.conv64_1 = SeparableConvModule2d(b * 32, b * 64, 3, stride=2, **sep)
        self.conv64_2 = SeparableConvModule2d(b * 64, b * 64, 3, **sep)
        num_stages = (64 // scales[0]).bit_length() - 1
        self.stages = nn.ModuleList(
            UpscaleAndFusion(
                b * 2 ** (6 - i),
                b * 2 ** (5 - i),
                b * 2 ** (5 - i),
                bn_kwargs=bn_kwargs,
                act_type=act_type,
                dw_with_relu=dw_with_relu,
                upsample_mode=upsample_mode,
            )
            for i in range(num_stages)
        )
        self.output_layers = nn.ModuleDict(
            {f"out_layer_scale_{s}": SeparableConvModule2d(b * s, b * s, 3, **sep) for s in scales}
        )
        kaiming_init_convs(self)

    @property
    def num_inputs(self) -> int:
        """How many backbone features (the coarsest ones) the decoder consumes."""
        return len(self.stages)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        feats = list(feats)
        if len(feats) < max(1, self.num_inputs):
            raise ValueError(
                f"DwUnet: needs {max(1, self.num_inputs)} backbone features (finest first, "
                f"ending at stride 32), got {len(feats)}"
            )
        skips = feats[::-1]  # coarsest (stride 32) first
        x = self.conv64_2(self.conv64_1(skips[0]))
        outs = {}
        scale = 64
        if scale in self.output_scales:
            outs[scale] = self.output_layers[f"out_layer_scale_{scale}"](x)
        for stage, skip in zip(self.stages, skips):
            x = stage(x, skip)
            scale //= 2
            if scale in self.output_scales:
                outs[scale] = self.output_layers[f"out_layer_scale_{scale}"](x)
        return [outs[s] for s in self.output_scales]

    def fuse_model(self) -> None:
        """Conv-BN(-ReLU) fusion happens in :func:`hat.quantization.prepare_qat`."""
