"""One level of the PWC-Net optical-flow estimator (DenseNet-style conv stack + flow conv)."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.layers import conv_bn_act
from hat.nn import Concat, ConvModule2d

__all__ = ["FlowDecoder"]


class FlowDecoder(nn.Module):
    """``x -> (features, flow)`` at one pyramid level.

    Each 3x3 conv-BN-act of ``channels`` sees the concatenation of all previous outputs and the
    input when ``use_dense`` (``x = Concat(conv(x), x)``), else only the previous output. The
    flow (u, v in pixels of this level) is a plain 3x3 conv of the final features.
    """

    def __init__(
        self,
        in_channels: int,
        channels: list[int],
        act: nn.Module | None,
        use_bn: bool = True,
        bn_kwargs: dict | None = None,
        use_dense: bool = True,
    ) -> None:
        super().__init__()
        self.use_dense = use_dense
        convs, concats = [], []
        c = in_channels
        for co in channels:
            convs.append(conv_bn_act(c, co, act, use_bn, bn_kwargs))
            if use_dense:
                concats.append(Concat(dim=1))
            c = c + co if use_dense else co
        self.convs = nn.ModuleList(convs)
        self.concats = nn.ModuleList(concats)
        self.out_channels = c
        self.pred_flow = ConvModule2d(c, 2, 3, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for i, conv in enumerate(self.convs):
            y = conv(x)
            x = self.concats[i](y, x) if self.use_dense else y
        return x, self.pred_flow(x)
