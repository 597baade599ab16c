"""Smooth L1 (Huber) loss, registered for configs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["SmoothL1Loss"]

_REDUCTIONS = ("mean", "sum", "none")


@OBJECT_REGISTRY.register
class SmoothL1Loss(nn.Module):
    """``0.5 x^2 / beta`` for ``|x| < beta``, else ``|x| - 0.5 beta`` with ``x = pred - target``,
    reduced by ``reduction``; ``loss_weight`` multiplies the result. An empty input gives 0
    (connected to ``pred``'s graph) with ``"mean"``, where torch would give NaN."""

    def __init__(
        self, beta: float = 1.0, reduction: str = "mean", loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"SmoothL1Loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}"
            )
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta}")
        self.beta = float(beta)
        self.reduction = reduction
        self.loss_weight = float(loss_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"SmoothL1Loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        if pred.numel() == 0 and self.reduction == "mean":
            return pred.sum() * 0.0
        loss = F.smooth_l1_loss(pred, target, reduction=self.reduction, beta=self.beta)
        return loss * self.loss_weight
