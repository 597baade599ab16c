"""StereoNet head: low-resolution cost volume, soft-argmin, hierarchical refinement."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hat.models.heads.edge_aware_refinement import EdgeAwareRefinement
from hat.models.weight_init import kaiming_init_convs
from hat.nn import (
    Concat,
    ConcatVolume,
    ConvModule2d,
    CostVolume,
    DeQuantStub,
    Interpolate,
    SoftArgmin,
)
from hat.registry import OBJECT_REGISTRY

__all__ = ["StereoNetHead"]


@OBJECT_REGISTRY.register
class StereoNetHead(nn.Module):
    """Disparity from StereoNetNeck features (HAT's StereoNet head, 2D-conv aggregation).

    With ``R = refine_levels`` the features have stride ``2^R`` and the volume searches
    ``D = maxdisp / 2^R`` disparities (HAT: 192 / 16 = 12):

    1. volume ``(B, (num_groups + 2 * concat_channels) * D, h, w)``: the group-wise correlation
       of the matching features (:class:`hat.nn.CostVolume`) and the concatenation volume of
       the thin features (:class:`hat.nn.ConcatVolume`), disparity in the channels;
    2. aggregation: 3x3 ConvModule2d (BN, ReLU) with ``agg_channels``, then a 3x3 conv to ``D``
       matching scores. HAT aggregates with 3D convs over ``(disparity, y, x)``; 2D convs over
       channels quantize to integer kernels on ONNX Runtime (it has no integer 3D conv) and
       cost fewer MACs at these sizes (deploy 540x960: 1.5 GMAC vs 4 GMAC);
    3. :class:`hat.nn.SoftArgmin` with ``value_scale = 1 / D``: the disparity as a fraction of
       ``maxdisp`` (the unit of every level, so upsampling needs no rescaling);
    4. ``R`` :class:`EdgeAwareRefinement` levels at strides ``2^(R-1), ..., 1``, guided by the
       left image (downsampled by 2 per level, bilinear: a 2x2 box filter).

    ``forward(features)`` with ``features = [gwc_l, gwc_r, cat_l, cat_r, img_l]`` returns the
    ``R + 1`` disparities (coarsest first, float, units of ``maxdisp``).

    Quantization: the disparity path (soft-argmin, the refinements' upsampling and residual
    add) uses asymmetric int16 activations (``int16_disparity``); an 8-bit disparity would step
    by ``maxdisp / 255`` = 0.75 px. Its inputs are 8-bit, so every conv stays an integer
    kernel.
    """

    def __init__(
        self,
        maxdisp: int = 192,
        refine_levels: int = 4,
        bn_kwargs: dict | None = None,
        num_groups: int = 32,
        concat_channels: int = 16,
        agg_channels: Sequence[int] = (128, 128, 128, 128, 128),
        refine_channels: int = 32,
        refine_dilations: Sequence[int] = (1, 2, 4, 8, 1, 1),
        int16_disparity: bool = True,
    ) -> None:
        super().__init__()
        stride = 2**refine_levels
        if refine_levels < 1 or maxdisp % stride or maxdisp < stride:
            raise ValueError(
                f"StereoNetHead: maxdisp={maxdisp} must be a positive multiple of "
                f"2**refine_levels={stride}"
            )
        if not agg_channels:
            raise ValueError("StereoNetHead: agg_channels needs at least one entry")
        bn = dict(bn_kwargs or {})
        self.maxdisp = int(maxdisp)
        self.refine_levels = int(refine_levels)
        self.stride = stride
        self.num_disp = maxdisp // stride
        self.num_groups = int(num_groups)
        self.int16_disparity = bool(int16_disparity)
        d = self.num_disp
        self.cost_volume = CostVolume(d, num_groups)
        self.concat_volume = ConcatVolume(d)
        self.volume_cat = Concat(dim=1)
        layers, cin = [], (num_groups + 2 * concat_channels) * d
        for c in agg_channels:
            layers.append(
                ConvModule2d(
                    cin, c, 3, bias=False, norm_layer=nn.BatchNorm2d(c, **bn), act_layer=nn.ReLU()
                )
            )
            cin = c
        self.aggregation = nn.Sequential(*layers)
        self.score_conv = ConvModule2d(cin, d, 3)
        self.soft_argmin = SoftArgmin(d, value_scale=1.0 / d)
        self.downsample = nn.ModuleList(
            Interpolate(scale_factor=0.5, mode="bilinear", align_corners=False)
            for _ in range(refine_levels - 1)
        )
        self.refinements = nn.ModuleList(
            EdgeAwareRefinement(3, refine_channels, refine_dilations, bn)
            for _ in range(refine_levels)
        )
        self.dequant = nn.ModuleList(DeQuantStub() for _ in range(refine_levels + 1))
        kaiming_init_convs(self)
        for r in self.refinements:
            r.zero_init_residual()

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != 5:
            raise ValueError(
                "StereoNetHead expects [gwc_left, gwc_right, concat_left, concat_right, "
                f"img_left], got {len(features)} tensors"
            )
        gwc_l, gwc_r, cat_l, cat_r, img = features
        ratio = img.shape[-1] / gwc_l.shape[-1]
        if round(ratio) != self.stride:
            raise ValueError(
                f"StereoNetHead: features are {gwc_l.shape[-1]} wide for a {img.shape[-1]}-wide "
                f"image (stride {ratio:.2f}); refine_levels={self.refine_levels} needs stride "
                f"{self.stride}"
            )
        volume = self.volume_cat(self.cost_volume(gwc_l, gwc_r), self.concat_volume(cat_l, cat_r))
        disp = self.soft_argmin(self.score_conv(self.aggregation(volume)))
        images = [img]
        for down in self.downsample:
            images.append(down(images[-1]))
        preds = [disp]
        for i, refine in enumerate(self.refinements):
            disp = refine(disp, images[self.refine_levels - 1 - i])
            preds.append(disp)
        return [dq(p) for dq, p in zip(self.dequant, preds)]

    def disparity_modules(self) -> list[nn.Module]:
        """Modules whose outputs are disparities (int16 when ``int16_disparity``)."""
        mods: list[nn.Module] = [self.soft_argmin]
        for r in self.refinements:
            mods.extend(r.disparity_modules())
        return mods

    def fuse_model(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self, qconfig=None) -> None:
        """int16 activations on the disparity path (``int16_disparity``), on top of ``qconfig``
        (default: the library's default qconfig), which the rest of the head inherits.

        The int16 grid is asymmetric: disparities are >= 0, so the range ``[0, max]`` gets all
        65536 codes with the zero point at -32768, where the requantization's saturation is the
        refinements' ReLU (no float ``Relu`` node in the exported graph)."""
        if not self.int16_disparity:
            return
        from hat.quantization import get_default_qconfig

        base = qconfig or get_default_qconfig()
        act = base.activation.replace(dtype="int16", symmetric=False)
        for m in self.disparity_modules():
            m.qconfig = base.replace(activation=act)
