"""Per-pixel Ln-norm loss (PWC-Net's multi-level EPE loss)."""

from __future__ import annotations

import torch
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["LnNormLoss"]

_REDUCTIONS = ("mean", "sum", "none")


@OBJECT_REGISTRY.register
class LnNormLoss(nn.Module):
    """``reduce(||pred - target||_n ** power)`` with the norm taken over the channel dim (1).

    With ``norm_order=2, power=1`` and ``"mean"`` this is the mean end-point error. ``"sum"``
    sums over pixels and batch; ``"none"`` returns the ``(B, H, W)`` map.
    """

    def __init__(self, norm_order: float = 2, power: float = 1, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"LnNormLoss: reduction must be one of {_REDUCTIONS}, got {reduction!r}"
            )
        if norm_order <= 0:
            raise ValueError(f"LnNormLoss: norm_order must be > 0, got {norm_order}")
        self.norm_order = norm_order
        self.power = power
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"LnNormLoss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        diff = pred - target
        # vector_norm's gradient is 0 (not NaN) where pred == target
        dist = torch.linalg.vector_norm(diff, ord=self.norm_order, dim=1)
        if self.power != 1:
            dist = dist.pow(self.power)
        if self.reduction == "mean":
            return dist.mean()
        if self.reduction == "sum":
            return dist.sum()
        return dist
