"""One coarse-to-fine step of PWC-Net: warp, cost volume, flow decoder, upsampling."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.heads.context_network import ContextNetwork
from hat.models.heads.pwcnet_decoder import FlowDecoder
from hat.models.layers import clone_act
from hat.nn import Add, Concat, ConvModule2d, Correlation, Interpolate, MulScalar, Warp

__all__ = ["PwcnetLevel"]


class PwcnetLevel(nn.Module):
    """Flow estimation at one pyramid level; flows are in pixels of this level.

    - top level (``is_top``): ``x = act(corr(f1, f2))``;
    - other levels: ``f2`` is warped by the upsampled flow of the coarser level, then
      ``x = Concat(act(corr(f1, warp(f2))), f1, up_flow, up_feat)``;
    - ``FlowDecoder(x) -> (feat, flow)``; with a context network (last level only)
      ``flow = Add(flow, context(feat))``.

    :meth:`upsample` prepares the next, finer level: the flow is resized bilinearly and
    multiplied by 2 (``MulScalar``: level ``l`` pixels -> level ``l - 1`` pixels); the decoder
    features go through a 3x3 conv to 2 channels and are resized bilinearly. Resize + conv is
    used instead of PWC-Net's learned 4x4 transposed convs because it quantizes with the same
    ops as the rest of the model (bilinear resize keeps its input scale, x2 is an exact power-of
    -two rescale) and keeps the flow upsampling exact instead of learned.
    """

    def __init__(
        self,
        feat_channels: int,
        decoder_channels: list[int],
        act: nn.Module | None,
        md: int = 4,
        use_bn: bool = True,
        bn_kwargs: dict | None = None,
        use_dense: bool = True,
        is_top: bool = False,
        is_last: bool = False,
        context_channels: list[int] | None = None,
        context_dilations: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.is_top = is_top
        self.is_last = is_last
        self.corr = Correlation(md)
        corr_act = clone_act(act)
        self.corr_act = corr_act if corr_act is not None else nn.Identity()
        in_channels = self.corr.out_channels
        if not is_top:
            self.warp = Warp(align_corners=True, use_mask=True)
            self.concat = Concat(dim=1)
            in_channels += feat_channels + 2 + 2
        self.decoder = FlowDecoder(in_channels, decoder_channels, act, use_bn, bn_kwargs, use_dense)
        self.context = None
        if context_channels:
            self.context = ContextNetwork(
                self.decoder.out_channels,
                context_channels,
                context_dilations,
                act,
                use_bn,
                bn_kwargs,
            )
            self.res_add = Add()
        if not is_last:
            self.feat_conv = ConvModule2d(self.decoder.out_channels, 2, 3, bias=True)
            self.feat_resize = Interpolate(scale_factor=2.0, mode="bilinear", align_corners=False)
            self.flow_resize = Interpolate(scale_factor=2.0, mode="bilinear", align_corners=False)
            self.flow_scale = MulScalar(2.0)

    def forward(
        self,
        f1: torch.Tensor,
        f2: torch.Tensor,
        up_flow: torch.Tensor | None = None,
        up_feat: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(decoder features, flow)`` at this level."""
        if self.is_top:
            x = self.corr_act(self.corr(f1, f2))
        else:
            if up_flow is None or up_feat is None:
                raise ValueError("PwcnetLevel below the top level needs up_flow and up_feat")
            corr = self.corr_act(self.corr(f1, self.warp(f2, up_flow)))
            x = self.concat(corr, f1, up_flow, up_feat)
        feat, flow = self.decoder(x)
        if self.context is not None:
            flow = self.res_add(flow, self.context(feat))
        return feat, flow

    def equalize_cost_volume(self, gain: float) -> None:
        """Multiply the cost volume by ``gain`` and divide the weights that read it by ``gain``:
        the float function is unchanged (the activation after the correlation is positively
        homogeneous, the readers are convolutions), but before quantization the cost volume
        (a mean over channels, values ~0.1) gets a range comparable to the features and flows
        it is concatenated with, instead of a handful of the concatenation's uint8 levels."""
        if gain == 1.0:
            return
        act = self.corr_act
        if not isinstance(act, (nn.Identity, nn.ReLU, nn.LeakyReLU)):
            raise TypeError(f"equalize_cost_volume: {type(act).__name__} is not homogeneous")
        k = self.corr.out_channels
        dec = self.decoder
        offsets = [sum(c.conv.out_channels for c in dec.convs[:i]) for i in range(len(dec.convs))]
        readers = [(dec.convs[0], 0)]
        if dec.use_dense:
            readers += [(conv, off) for conv, off in zip(dec.convs[1:], offsets[1:])]
            end = sum(c.conv.out_channels for c in dec.convs)
            readers.append((dec.pred_flow, end))
            if not self.is_last:
                readers.append((self.feat_conv, end))
            if self.context is not None:
                readers.append((self.context.layers[0], end))
        with torch.no_grad():
            for module, off in readers:
                conv = module.conv if hasattr(module, "conv") else module
                conv.weight[:, off : off + k].div_(gain)
        self.corr.gain *= gain

    def upsample(
        self, feat: torch.Tensor, flow: torch.Tensor, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(up_flow, up_feat)`` at ``size`` (the finer level's H, W) for the next level."""
        if self.is_last:
            raise RuntimeError("the last PwcnetLevel has no upsampling")
        up_flow = self.flow_scale(self.flow_resize(flow, size=size))
        up_feat = self.feat_resize(self.feat_conv(feat), size=size)
        return up_flow, up_feat
