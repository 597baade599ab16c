"""PWC-Net feature pyramid, shared between the two input images."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.layers import conv_bn_act
from hat.models.weight_init import kaiming_init_convs
from hat.nn import Concat, QuantStub
from hat.registry import OBJECT_REGISTRY

__all__ = ["PwcNet"]


@OBJECT_REGISTRY.register
class PwcNet(nn.Module):
    """Six-level feature pyramid (PWC-Net), with BN + ``act_type`` instead of LeakyReLU.

    Input: ``(B, 6, H, W)``, two 3-channel images concatenated on channels (normalised YUV444,
    about [-1, 1); a ``QuantStub(scale=1/128)`` marks the quantized input). The images are
    stacked on the batch dimension and go through one pyramid, so the weights are shared.

    Level ``l`` (1..``pyr_lvls``) has stride ``2**l`` and ``out_channels[l - 1]`` channels,
    made of three 3x3 convs, the first with stride 2.

    Returns ``[feats1, feats2]``, each a list of ``pyr_lvls`` maps ordered level 1 first.
    """

    def __init__(
        self,
        out_channels: list[int],
        use_bn: bool = True,
        bn_kwargs: dict | None = None,
        pyr_lvls: int = 6,
        flow_pred_lvl: int = 2,
        act_type: nn.Module | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if len(out_channels) != pyr_lvls:
            raise ValueError(
                f"PwcNet: out_channels has {len(out_channels)} entries, expected pyr_lvls="
                f"{pyr_lvls}"
            )
        if not 1 <= flow_pred_lvl <= pyr_lvls:
            raise ValueError(f"PwcNet: flow_pred_lvl={flow_pred_lvl} not in [1, {pyr_lvls}]")
        act = act_type if act_type is not None else nn.ReLU()
        self.out_channels = list(out_channels)
        self.pyr_lvls = pyr_lvls
        self.flow_pred_lvl = flow_pred_lvl
        self.in_channels = in_channels
        self.quant = QuantStub(scale=1.0 / 128)
        self.stack = Concat(dim=0)
        levels = []
        c_in = in_channels
        for c in out_channels:
            levels.append(
                nn.Sequential(
                    conv_bn_act(c_in, c, act, use_bn, bn_kwargs, stride=2),
                    conv_bn_act(c, c, act, use_bn, bn_kwargs),
                    conv_bn_act(c, c, act, use_bn, bn_kwargs),
                )
            )
            c_in = c
        self.levels = nn.ModuleList(levels)
        kaiming_init_convs(self)

    def forward(self, img: torch.Tensor) -> list[list[torch.Tensor]]:
        n = self.in_channels
        if img.dim() != 4 or img.shape[1] != 2 * n:
            raise ValueError(
                f"PwcNet expects (B, {2 * n}, H, W) = two images concatenated on channels, "
                f"got {tuple(img.shape)}"
            )
        x = self.quant(img)
        b = x.shape[0]
        x = self.stack(x[:, :n], x[:, n:])
        feats1, feats2 = [], []
        for level in self.levels:
            x = level(x)
            feats1.append(x[:b])
            feats2.append(x[b:])
        return [feats1, feats2]

    def fuse_model(self) -> None:
        """Delegates to the ``ConvModule2d`` blocks (fusion itself is done by the quantizer)."""
        for m in self.modules():
            if m is not self and hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self) -> None:
        """No per-module overrides: the quantizer's default qconfig applies everywhere."""
