"""Backward warping of a feature map by a flow field (PWC-Net's warping layer)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Warp", "flow_to_grid"]


def flow_to_grid(flow: torch.Tensor, align_corners: bool = True) -> torch.Tensor:
    """Pixel flow ``(B, 2, H, W)`` -> normalised ``grid_sample`` grid ``(B, H, W, 2)``.

    The sampling position of output pixel ``(x, y)`` is ``(x + u, y + v)``.
    """
    b, _, h, w = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device)
    px = xs.view(1, 1, w) + flow[:, 0]
    py = ys.view(1, h, 1) + flow[:, 1]
    if align_corners:
        gx = px * (2.0 / max(w - 1, 1)) - 1.0
        gy = py * (2.0 / max(h - 1, 1)) - 1.0
    else:
        gx = (2.0 * px + 1.0) / w - 1.0
        gy = (2.0 * py + 1.0) / h - 1.0
    return torch.stack((gx, gy), dim=-1)


class Warp(nn.Module):
    """``out(x) = feat(x + flow(x))`` with bilinear sampling and zero padding.

    ``flow`` is ``(B, 2, H, W)`` (u, v) in pixels of ``feat``'s resolution. With
    ``use_mask=True`` (PWC-Net) a tensor of ones is warped alongside the features and output
    pixels whose warped ones are below ``mask_threshold`` (they touch the zero padding) are set to
    zero. Both are sampled in one ``grid_sample`` call. ``grid_sample`` stays a float op when
    the model is quantized.
    """

    def __init__(
        self,
        align_corners: bool = True,
        use_mask: bool = True,
        mask_threshold: float = 0.9999,
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.use_mask = use_mask
        self.mask_threshold = mask_threshold

    def forward(self, feat: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        if feat.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
            raise ValueError(
                f"Warp expects feat (B, C, H, W) and flow (B, 2, H, W), "
                f"got {tuple(feat.shape)} and {tuple(flow.shape)}"
            )
        if feat.shape[0] != flow.shape[0] or feat.shape[-2:] != flow.shape[-2:]:
            raise ValueError(
                f"Warp: feat {tuple(feat.shape)} and flow {tuple(flow.shape)} differ in batch "
                "or spatial size"
            )
        grid = flow_to_grid(flow.to(feat.dtype), self.align_corners)
        if not self.use_mask:
            return F.grid_sample(
                feat, grid, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners
            )
        ones = feat.new_ones(feat.shape[0], 1, *feat.shape[-2:])
        both = F.grid_sample(
            torch.cat((feat, ones), dim=1),
            grid,
            mode="bilinear",
            padding_mode="zeros",
            align_corners=self.align_corners,
        )
        out, mask = both[:, :-1], both[:, -1:]
        return out * (mask >= self.mask_threshold).to(out.dtype)

    def extra_repr(self) -> str:
        return f"align_corners={self.align_corners}, use_mask={self.use_mask}"
