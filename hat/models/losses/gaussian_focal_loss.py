"""``GaussianFocalLoss``: CornerNet's focal loss on gaussian heatmaps (CenterNet, CenterPoint)."""

from __future__ import annotations

import torch
from torch import nn

from hat.models.losses.weighted_reduce import weighted_reduce
from hat.registry import OBJECT_REGISTRY

__all__ = ["GaussianFocalLoss", "gaussian_focal_loss"]

_EPS = 1e-12


def gaussian_focal_loss(
    pred: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, gamma: float = 4.0
) -> torch.Tensor:
    """Element-wise CornerNet focal loss on probabilities ``pred`` and gaussian ``target``.

    Where ``target == 1`` (object centres): ``-(1 - p) ** alpha * log(p)``; elsewhere
    ``-(1 - y) ** gamma * p ** alpha * log(1 - p)`` (negatives near a centre are down-weighted
    by the gaussian ``y``). ``log`` takes ``x + 1e-12``. Returns the loss in float32.
    """
    p = pred.float()
    y = target.float()
    pos = y.eq(1).float()
    neg_w = (1.0 - y).pow(gamma)
    pos_loss = -(p + _EPS).log() * (1.0 - p).pow(alpha) * pos
    neg_loss = -(1.0 - p + _EPS).log() * p.pow(alpha) * neg_w
    return pos_loss + neg_loss


@OBJECT_REGISTRY.register
class GaussianFocalLoss(nn.Module):
    """CornerNet / CenterPoint heatmap focal loss (mmdet's ``GaussianFocalLoss``).

    Args:
        alpha: exponent of ``(1 - p)`` at positives and of ``p`` at negatives.
        gamma: exponent of the negatives' ``(1 - y)`` weight.
        loss_weight: factor on the result.

    ``forward(pred, target, weight=None, avg_factor=None)``: ``pred`` probabilities (sigmoid of
    the heatmap logits, CenterPoint clamps them to ``[1e-4, 1 - 1e-4]``) and ``target`` gaussian
    heatmaps of the same shape (peaks exactly 1). Returns ``loss_weight * sum(weight * loss) /
    avg_factor``; CenterPoint passes ``avg_factor = max(number of target peaks, 1)``. Without
    ``avg_factor`` the sum is divided by the number of elements (mean).
    """

    def __init__(self, alpha: float = 2.0, gamma: float = 4.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.gamma = float(gamma)
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
                f"GaussianFocalLoss: pred {tuple(pred.shape)} and target {tuple(target.shape)} "
                "differ"
            )
        loss = gaussian_focal_loss(pred, target, self.alpha, self.gamma)
        return self.loss_weight * weighted_reduce(loss, weight, avg_factor)
