"""``CenterPoint3dHead``: CenterPoint's multi-task 3D detection head on a BEV feature map."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from hat.models.task_modules.centerpoint.sep_head import SepHead
from hat.models.task_modules.centerpoint.tasks import parse_tasks
from hat.nn import ConvModule2d
from hat.registry import OBJECT_REGISTRY

__all__ = ["CenterPoint3dHead"]

_DEFAULT_COMMON_HEADS = {
    "reg": (2, 2),
    "height": (1, 2),
    "dim": (3, 2),
    "rot": (2, 2),
    "vel": (2, 2),
}


@OBJECT_REGISTRY.register
class CenterPoint3dHead(nn.Module):
    """CenterPoint head (Yin et al. 2021): a shared conv, then one :class:`SepHead` per task.

    Args:
        in_channels: channels of ``feats[0]`` (the finest BEV level).
        tasks: HAT's task groups, ``[dict(name=..., num_class=..., class_names=[...]), ...]``;
            task ``t`` predicts a heatmap with one channel per class of the group.
        share_conv_channels: channels of the shared 3x3 ConvModule2d (BN, ReLU).
        share_conv_num: number of shared convs.
        common_heads: ``{name: (channels, num_conv)}`` of the regression outputs of every task
            (the seed's ``reg`` (2: x, y offset in the cell), ``height`` (1: box centre z),
            ``dim`` (3: log w, l, h), ``rot`` (2: sin, cos yaw), ``vel`` (2: vx, vy)).
        head_conv_channels: channels of the hidden convs of every output.
        num_heatmap_convs: ``num_conv`` of the heatmap output.
        final_kernel: kernel size of the per-output convs.
        bn_kwargs: BatchNorm arguments.
        init_bias: initial bias of the heatmap logits (-2.19: sigmoid 0.1).

    ``forward(feats) -> [ {"heatmap": (B, n_cls, H, W), "reg": (B, 2, H, W), ...} per task ]``
    on ``feats[0]``; logits and regressions are float (each output ends in a ``DeQuantStub``).

    Quantization: the head gets quantized features from the BEV encoder (no ``QuantStub``);
    :meth:`set_qconfig` gives every final conv a high-precision output (the int32 accumulator
    times its scale), so offsets, log sizes and logits keep their precision.
    """

    def __init__(
        self,
        in_channels: int,
        tasks: Sequence[Mapping],
        share_conv_channels: int = 64,
        share_conv_num: int = 1,
        common_heads: Mapping[str, Sequence[int]] | None = None,
        head_conv_channels: int = 64,
        num_heatmap_convs: int = 2,
        final_kernel: int = 1,
        bn_kwargs: dict | None = None,
        init_bias: float = -2.19,
    ) -> None:
        super().__init__()
        self.tasks = parse_tasks(tasks)
        common = dict(_DEFAULT_COMMON_HEADS if common_heads is None else common_heads)
        if "heatmap" in common:
            raise ValueError("CenterPoint3dHead: common_heads must not contain 'heatmap'")
        if share_conv_num < 1:
            raise ValueError(
                f"CenterPoint3dHead: share_conv_num must be >= 1, got {share_conv_num}"
            )
        bn = dict(bn_kwargs or {})
        self.in_channels = int(in_channels)
        convs, c_in = [], self.in_channels
        for _ in range(share_conv_num):
            convs.append(
                ConvModule2d(
                    c_in,
                    share_conv_channels,
                    3,
                    bias=False,
                    norm_layer=nn.BatchNorm2d(share_conv_channels, **bn),
                    act_layer=nn.ReLU(),
                )
            )
            c_in = share_conv_channels
        self.shared_conv = nn.Sequential(*convs)
        self.task_heads = nn.ModuleList()
        for task in self.tasks:
            heads = {"heatmap": (task.num_class, num_heatmap_convs), **common}
            self.task_heads.append(
                SepHead(c_in, heads, head_conv_channels, final_kernel, init_bias, bn)
            )

    def forward(
        self, feats: Sequence[torch.Tensor] | torch.Tensor
    ) -> list[dict[str, torch.Tensor]]:
        x = feats if isinstance(feats, torch.Tensor) else feats[0]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"CenterPoint3dHead expects feats[0] of shape (B, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        x = self.shared_conv(x)
        return [head(x) for head in self.task_heads]

    def fuse_model(self) -> None:
        """Conv-BN(-ReLU) fusion happens in :func:`hat.quantization.prepare_qat`."""

    def set_qconfig(self, qconfig=None) -> None:
        """High-precision output on every final conv, on top of ``qconfig`` (default: the
        head's own ``qconfig`` if set, else the library's default), which the rest inherits."""
        from hat.quantization import get_default_qconfig

        base = qconfig or getattr(self, "qconfig", None) or get_default_qconfig()
        for head in self.task_heads:
            for conv in head.final.values():
                conv.qconfig = base.replace(high_precision_output=True)
