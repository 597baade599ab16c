"""PWC-Net context network: dilated convs predicting a residual flow at the last level."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.layers import conv_bn_act
from hat.nn import ConvModule2d

__all__ = ["ContextNetwork"]


class ContextNetwork(nn.Module):
    """3x3 conv-BN-act stack with growing dilation, then a plain 3x3 conv to 2 channels."""

    def __init__(
        self,
        in_channels: int,
        channels: list[int],
        dilations: list[int],
        act: nn.Module | None,
        use_bn: bool = True,
        bn_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        if len(channels) != len(dilations):
            raise ValueError(
                f"ContextNetwork: {len(channels)} channels but {len(dilations)} dilations"
            )
        layers = []
        c = in_channels
        for co, d in zip(channels, dilations):
            layers.append(conv_bn_act(c, co, act, use_bn, bn_kwargs, dilation=d))
            c = co
        layers.append(ConvModule2d(c, 2, 3, bias=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
