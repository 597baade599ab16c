"""The weighting and reduction shared by the element-wise losses (mmdet's ``weight_reduce_loss``
with ``reduction="mean"``)."""

from __future__ import annotations

import torch

__all__ = ["weighted_reduce"]


def weighted_reduce(
    loss: torch.Tensor,
    weight: torch.Tensor | None = None,
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """``sum(loss * weight) / avg_factor``, or the mean of ``loss * weight`` without
    ``avg_factor``; ``weight`` broadcasts to ``loss``."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return loss.mean()
    return loss.sum() / avg_factor
