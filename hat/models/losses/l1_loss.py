"""``L1Loss`` with element weights and an averaging factor (CenterPoint's box regression loss)."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.losses.weighted_reduce import weighted_reduce
from hat.registry import OBJECT_REGISTRY

__all__ = ["L1Loss"]


@OBJECT_REGISTRY.register
class L1Loss(nn.Module):
    """``loss_weight * sum(weight * |pred - target|) / avg_factor`` (mmdet's ``L1Loss``).

    Args:
        loss_weight: factor on the result (CenterPoint's recipe: 0.25).

    ``forward(pred, target, weight=None, avg_factor=None)``: ``weight`` broadcasts to ``pred``
    (CenterPoint: the box mask times the per-code weights); without ``avg_factor`` the weighted
    sum is divided by the number of elements (mean). CenterPoint divides by the number of boxes
    (``masks.sum() + 1e-4``), so each box's coded errors add up.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
    ) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"L1Loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        loss = (pred.float() - target.float()).abs()
        return self.loss_weight * weighted_reduce(loss, weight, avg_factor)
