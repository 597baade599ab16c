"""``FCNTarget``: the loss inputs of a segmentation head (prediction at the label's size)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["FCNTarget"]


@OBJECT_REGISTRY.register
class FCNTarget(nn.Module):
    """Pairs logits with their label map for :class:`~hat.models.losses.CrossEntropyLossV2`.

    Args:
        num_classes: kept for HAT configs; unused.

    ``forward(label, pred)``: ``label`` ``(B, H, W)`` or ``(B, 1, H, W)`` class ids, ``pred``
    ``(B, C, h, w)`` logits. Returns ``{"pred": pred, "target": label (B, H, W)}`` with ``pred``
    resized bilinearly (``align_corners=False``) to ``(H, W)`` when its size differs.
    """

    def __init__(self, num_classes: int | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, label: torch.Tensor, pred: torch.Tensor) -> dict[str, torch.Tensor]:
        if pred.dim() != 4:
            raise ValueError(
                f"FCNTarget: pred must be (B, C, H, W) logits, got {tuple(pred.shape)}"
            )
        if label.dim() == 4 and label.shape[1] == 1:
            label = label[:, 0]
        if label.dim() != 3 or label.shape[0] != pred.shape[0]:
            raise ValueError(
                f"FCNTarget: label must be ({pred.shape[0]}, H, W) class ids, got "
                f"{tuple(label.shape)}"
            )
        if tuple(label.shape[-2:]) != tuple(pred.shape[-2:]):
            pred = F.interpolate(pred, size=label.shape[-2:], mode="bilinear", align_corners=False)
        return {"pred": pred, "target": label}
