"""``FCNDecoder``: class-id maps from segmentation logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["FCNDecoder"]


@OBJECT_REGISTRY.register
class FCNDecoder(nn.Module):
    """Logits ``(B, C, H, W)`` -> int64 class ids ``(B, H * s, W * s)``.

    Args:
        upsample_output_scale: bilinear upsampling factor ``s`` of the logits before the
            decision (``align_corners=False``); ``None`` or 1: none.
        use_bce: ``False``: ``argmax`` over the classes. ``True`` (logits of per-class
            sigmoids): the class of the largest sigmoid where it reaches ``bg_threshold``,
            else ``bg_cls``.
        bg_cls: the id given to pixels where no sigmoid reaches ``bg_threshold`` (HAT's recipe:
            -1, i.e. no class).
        bg_threshold: the sigmoid probability a class needs.
    """

    def __init__(
        self,
        upsample_output_scale: float | None = 8,
        use_bce: bool = False,
        bg_cls: int = 0,
        bg_threshold: float = 0.5,
    ) -> None:
        super().__init__()
        if upsample_output_scale is not None and float(upsample_output_scale) <= 0:
            raise ValueError(
                f"FCNDecoder: upsample_output_scale must be > 0 or None, got "
                f"{upsample_output_scale}"
            )
        if not 0.0 < float(bg_threshold) < 1.0:
            raise ValueError(f"FCNDecoder: bg_threshold must be in (0, 1), got {bg_threshold}")
        self.upsample_output_scale = upsample_output_scale
        self.use_bce = bool(use_bce)
        self.bg_cls = int(bg_cls)
        self.bg_threshold = float(bg_threshold)

    def forward(self, pred: torch.Tensor) -> torch.Tensor:
        if pred.dim() != 4:
            raise ValueError(
                f"FCNDecoder: pred must be (B, C, H, W) logits, got {tuple(pred.shape)}"
            )
        pred = pred.float()
        scale = self.upsample_output_scale
        if scale is not None and float(scale) != 1.0:
            pred = F.interpolate(
                pred, scale_factor=float(scale), mode="bilinear", align_corners=False
            )
        if not self.use_bce:
            return pred.argmax(dim=1)
        prob, cls = torch.sigmoid(pred).max(dim=1)
        return torch.where(prob >= self.bg_threshold, cls, torch.full_like(cls, self.bg_cls))
