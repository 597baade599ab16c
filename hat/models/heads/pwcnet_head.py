"""PWC-Net coarse-to-fine flow head."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.heads.pwcnet_level import PwcnetLevel
from hat.models.weight_init import kaiming_init_convs
from hat.nn import DeQuantStub
from hat.registry import OBJECT_REGISTRY

__all__ = ["PwcnetHead"]

DEFAULT_DECODER_CHANNELS = (128, 128, 96, 64, 32)
DEFAULT_CONTEXT_CHANNELS = (128, 128, 128, 96, 64, 32)
DEFAULT_CONTEXT_DILATIONS = (1, 2, 4, 8, 16, 1)


@OBJECT_REGISTRY.register
@OBJECT_REGISTRY.alias("PwcNetHead")
class PwcnetHead(nn.Module):
    """Flow estimation from level ``pyr_lvls`` (coarsest) down to ``flow_pred_lvl``.

    Args:
        in_channels: feature channels per pyramid level, level 1 first (the backbone's
            ``out_channels``).
        bn_kwargs: kwargs of every ``BatchNorm2d``.
        use_bn: conv-BN-act blocks (else conv with bias + act).
        md: correlation max displacement (``(2md+1)^2`` cost-volume channels).
        use_res: add the context network's residual flow at the last level.
        use_dense: DenseNet-style concatenation in the flow decoders.
        pyr_lvls: coarsest level used (6 for a stride-64 pyramid).
        flow_pred_lvl: finest level, where the final flow is predicted.
        act_type: activation instance, deep-copied for every use (e.g. ``nn.ReLU()``).
        decoder_channels: decoder conv widths (default PWC-Net's ``[128, 128, 96, 64, 32]``).
        context_channels: context conv widths (default ``[128, 128, 128, 96, 64, 32]``).
        context_dilations: context conv dilations (default ``[1, 2, 4, 8, 16, 1]``).
        quant_cost_volume_gain: before quantization (``fuse_model``) every cost volume is
            multiplied by this and the convs reading it divided by it: same float function,
            a cost volume range comparable to what it is concatenated with (8: measured on
            the demo: calibration EPE 1.038x -> 1.004x float; hat/quantization/README.md).

    ``forward([feats1, feats2])`` (lists indexed by level - 1) returns the flows of every level,
    **finest first** (``[flow_l2, flow_l3, ..., flow_l6]``, like ``loss_weights`` and the
    ``Scale`` batch transform's targets), each ``(B, 2, H_l, W_l)`` in pixels of its level.
    """

    def __init__(
        self,
        in_channels: list[int],
        bn_kwargs: dict | None = None,
        use_bn: bool = True,
        md: int = 4,
        use_res: bool = True,
        use_dense: bool = True,
        pyr_lvls: int = 6,
        flow_pred_lvl: int = 2,
        act_type: nn.Module | None = None,
        decoder_channels: list[int] | None = None,
        context_channels: list[int] | None = None,
        context_dilations: list[int] | None = None,
        quant_cost_volume_gain: float = 8.0,
    ) -> None:
        super().__init__()
        self.quant_cost_volume_gain = float(quant_cost_volume_gain)
        if len(in_channels) < pyr_lvls:
            raise ValueError(
                f"PwcnetHead: in_channels has {len(in_channels)} levels, needs pyr_lvls={pyr_lvls}"
            )
        if not 1 <= flow_pred_lvl <= pyr_lvls:
            raise ValueError(f"PwcnetHead: flow_pred_lvl={flow_pred_lvl} not in [1, {pyr_lvls}]")
        act = act_type if act_type is not None else nn.ReLU()
        dec = list(decoder_channels or DEFAULT_DECODER_CHANNELS)
        ctx = list(context_channels or DEFAULT_CONTEXT_CHANNELS)
        dil = list(context_dilations or DEFAULT_CONTEXT_DILATIONS)
        self.pyr_lvls = pyr_lvls
        self.flow_pred_lvl = flow_pred_lvl
        self.md = md
        self.level_ids = list(range(pyr_lvls, flow_pred_lvl - 1, -1))  # coarse to fine
        self.levels = nn.ModuleDict()
        self.dequants = nn.ModuleDict()
        for lvl in self.level_ids:
            last = lvl == flow_pred_lvl
            self.levels[f"l{lvl}"] = PwcnetLevel(
                feat_channels=in_channels[lvl - 1],
                decoder_channels=dec,
                act=act,
                md=md,
                use_bn=use_bn,
                bn_kwargs=bn_kwargs,
                use_dense=use_dense,
                is_top=lvl == pyr_lvls,
                is_last=last,
                context_channels=ctx if (last and use_res) else None,
                context_dilations=dil,
            )
            self.dequants[f"l{lvl}"] = DeQuantStub()
        kaiming_init_convs(self)

    def forward(self, features: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        if len(features) != 2:
            raise ValueError("PwcnetHead expects [feats1, feats2] from the backbone")
        feats1, feats2 = features
        if len(feats1) < self.pyr_lvls or len(feats2) < self.pyr_lvls:
            raise ValueError(
                f"PwcnetHead needs {self.pyr_lvls} feature levels, got {len(feats1)} and "
                f"{len(feats2)}"
            )
        flows: dict[int, torch.Tensor] = {}
        up_flow = up_feat = None
        for lvl in self.level_ids:
            level = self.levels[f"l{lvl}"]
            f1, f2 = feats1[lvl - 1], feats2[lvl - 1]
            feat, flow = level(f1, f2, up_flow, up_feat)
            flows[lvl] = self.dequants[f"l{lvl}"](flow)
            if lvl != self.flow_pred_lvl:
                size = tuple(feats1[lvl - 2].shape[-2:])
                up_flow, up_feat = level.upsample(feat, flow, size)
        return [flows[lvl] for lvl in sorted(flows)]

    def fuse_model(self) -> None:
        """Before quantization: rescale every level's cost volume by ``quant_cost_volume_gain``
        (function-preserving, see ``PwcnetLevel.equalize_cost_volume``; applied once), then
        delegate to the ``ConvModule2d`` blocks (the quantizer does the Conv-BN fusion)."""
        if not getattr(self, "_cost_volume_equalized", False):
            for level in self.levels.values():
                level.equalize_cost_volume(self.quant_cost_volume_gain)
            self._cost_volume_equalized = True
        for m in self.modules():
            if m is not self and hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self) -> None:
        """No per-module overrides yet (the quantizer's defaults apply; flow outputs could get
        a higher-precision output qconfig here)."""
