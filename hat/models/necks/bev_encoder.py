"""``BevEncoder``: a backbone and a neck run on the bird's-eye-view feature map (HAT's BEV
model: EfficientNet-B0 on 64 channels + BiFPN)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["BevEncoder"]


@OBJECT_REGISTRY.register
class BevEncoder(nn.Module):
    """Encode the BEV feature map: ``neck(backbone(bev_feat))``.

    Args:
        backbone: ``(B, C, Hb, Wb) -> features`` finest first (e.g. ``efficientnet`` with
            ``in_channels=64``, ``include_top=False``: strides 2..32 of the BEV map).
        neck: ``features -> features`` finest first (e.g. ``BiFPN`` with
            ``in_strides = out_strides = [2, 4, 8, 16, 32]``).

    ``forward(bev_feat)``: the neck's outputs as a list, finest first. For the recipe's
    ``(B, 64, 256, 256)`` map (the 128 x 128 BEV grid upsampled x2) and 48 BiFPN channels:
    ``[(B, 48, 128, 128), (B, 48, 64, 64), ..., (B, 48, 8, 8)]``; the first one is on the BEV grid
    (the heads' ``out_size_factor=1``).
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, bev_feat: torch.Tensor) -> list[torch.Tensor]:
        if not isinstance(bev_feat, torch.Tensor) or bev_feat.dim() != 4:
            shape = tuple(bev_feat.shape) if isinstance(bev_feat, torch.Tensor) else bev_feat
            raise ValueError(f"BevEncoder expects a (B, C, Hb, Wb) BEV feature map, got {shape}")
        feats = self.neck(self.backbone(bev_feat))
        if isinstance(feats, torch.Tensor):
            return [feats]
        if not isinstance(feats, Sequence):
            raise TypeError(f"BevEncoder: the neck returned {type(feats).__name__}, not a list")
        return list(feats)

    def fuse_model(self) -> None:
        """Delegates to the parts (the quantizer does the Conv-BN(-ReLU) fusion)."""
        for m in (self.backbone, self.neck):
            if hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self) -> None:
        """The parts' own qconfig overrides (the model's default comes from its owner)."""
        for m in (self.backbone, self.neck):
            if hasattr(m, "set_qconfig"):
                m.set_qconfig()
