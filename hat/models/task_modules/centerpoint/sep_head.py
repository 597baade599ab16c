"""``SepHead``: one conv stack per regression/classification output of a CenterPoint task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from hat.nn import ConvModule2d, DeQuantStub

__all__ = ["SepHead"]


class SepHead(nn.Module):
    """Separate conv stacks on a shared feature, one per entry of ``heads``.

    ``heads`` maps an output name to ``(channels, num_conv)``: ``num_conv - 1`` ConvModule2d
    (``final_kernel`` x ``final_kernel``, BN, ReLU, ``head_conv_channels``) then a final conv
    with bias to ``channels``; every output ends with its own ``DeQuantStub``. The output named
    ``heatmap`` gets its final bias set to ``init_bias`` (CenterNet's -2.19: sigmoid 0.1 at
    the start of training; its convs keep torch's default init); the convs of the other
    outputs are Kaiming-initialised (CenterPoint's ``SepHead``).

    ``forward(x) -> {name: (B, channels, H, W)}``.
    """

    def __init__(
        self,
        in_channels: int,
        heads: Mapping[str, Sequence[int]],
        head_conv_channels: int = 64,
        final_kernel: int = 1,
        init_bias: float = -2.19,
        bn_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        if final_kernel % 2 != 1:
            raise ValueError(f"SepHead: final_kernel must be odd, got {final_kernel}")
        bn = dict(bn_kwargs or {})
        self.names = list(heads)
        self.branches = nn.ModuleDict()
        self.final = nn.ModuleDict()
        self.dequants = nn.ModuleDict()
        for name, spec in heads.items():
            if len(spec) != 2 or int(spec[0]) < 1 or int(spec[1]) < 1:
                raise ValueError(
                    f"SepHead: heads[{name!r}] must be (channels >= 1, num_conv >= 1), got {spec}"
                )
            channels, num_conv = int(spec[0]), int(spec[1])
            convs, c_in = [], in_channels
            for _ in range(num_conv - 1):
                convs.append(
                    ConvModule2d(
                        c_in,
                        head_conv_channels,
                        final_kernel,
                        bias=False,
                        norm_layer=nn.BatchNorm2d(head_conv_channels, **bn),
                        act_layer=nn.ReLU(),
                    )
                )
                c_in = head_conv_channels
            self.branches[name] = nn.Sequential(*convs)
            self.final[name] = ConvModule2d(c_in, channels, final_kernel, bias=True)
            self.dequants[name] = DeQuantStub()
        for name in self.names:
            if name == "heatmap":
                continue
            for m in (*self.branches[name].modules(), *self.final[name].modules()):
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        if "heatmap" in self.final:
            nn.init.constant_(self.final["heatmap"].conv.bias, init_bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            name: self.dequants[name](self.final[name](self.branches[name](x)))
            for name in self.names
        }
