"""Soft-argmin (disparity regression): the softmax-weighted mean of the candidate values."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SoftArgmin", "soft_argmin"]


def soft_argmin(scores: torch.Tensor, value_scale: float = 1.0) -> torch.Tensor:
    """``value_scale * sum_d softmax(scores, dim=1)[:, d] * d``, ``(B, D, H, W) -> (B, 1, H,
    W)``."""
    if scores.dim() != 4:
        raise ValueError(f"soft_argmin expects (B, D, H, W) scores, got {tuple(scores.shape)}")
    d = scores.shape[1]
    values = torch.arange(d, dtype=scores.dtype, device=scores.device).view(1, d, 1, 1)
    return (torch.softmax(scores, dim=1) * values).sum(1, keepdim=True) * value_scale


class SoftArgmin(nn.Module):
    """Expected candidate index under a softmax over channels, times ``value_scale``.

    ``(B, D, H, W)`` matching scores (higher = better; StereoNet's "soft argmin" of a cost is
    this with the sign learned into the scores) ``-> (B, 1, H, W)``
    ``= value_scale * sum_d softmax(scores)[d] * d``. With ``value_scale = 1 / D`` the output is
    the disparity as a fraction of the searched range.

    Quantized (see :mod:`hat.quantization.quantized.soft_argmin`): the softmax is an integer
    exponential lookup table over ``q - max(q)`` and the weighted mean is a ratio of two exact
    integer sums, divided once in float32 and requantized: one module, one output scale, no
    rounding of the probabilities in between.
    """

    def __init__(self, num_candidates: int, value_scale: float = 1.0) -> None:
        super().__init__()
        if num_candidates < 1:
            raise ValueError(f"SoftArgmin: num_candidates must be >= 1, got {num_candidates}")
        self.num_candidates = int(num_candidates)
        self.value_scale = float(value_scale)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        if scores.dim() != 4 or scores.shape[1] != self.num_candidates:
            raise ValueError(
                f"SoftArgmin expects (B, {self.num_candidates}, H, W) scores, got "
                f"{tuple(scores.shape)}"
            )
        return soft_argmin(scores, self.value_scale)

    def extra_repr(self) -> str:
        return f"num_candidates={self.num_candidates}, value_scale={self.value_scale:.6g}"
