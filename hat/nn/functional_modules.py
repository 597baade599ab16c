"""Tensor ops as modules, so each can carry its own quantization output scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Add(nn.Module):
    """``x + y``."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class Mul(nn.Module):
    """``x * y`` (element-wise, broadcasting)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x * y


class MatMul(nn.Module):
    """``torch.matmul(x, y)`` of two activations (attention scores ``q @ k^T``, ``attn @ v``)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, y)


class MaskedSoftmax(nn.Module):
    """Softmax along the last dimension over the entries where ``keep`` is true.

    ``forward(x (..., L), keep (..., L) broadcastable, bool)``: masked entries get exactly 0 and
    a row with nothing kept is all zeros (the attention over padded keys of MOTR's fixed track
    slots)."""

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        keep = keep.to(torch.bool)
        x = x.masked_fill(~keep, torch.finfo(x.dtype).min)
        return torch.softmax(x, -1) * keep.to(x.dtype)


class MulScalar(nn.Module):
    """``x * scalar`` for a constant scalar (e.g. PwcNet's flow rescaling)."""

    def __init__(self, scalar: float) -> None:
        super().__init__()
        self.scalar = float(scalar)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scalar


class Concat(nn.Module):
    """``torch.cat(xs, dim)``."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
            xs = tuple(xs[0])
        return torch.cat(xs, dim=self.dim)


class Interpolate(nn.Module):
    """Resize by ``scale_factor`` or to ``size`` (nearest or bilinear)."""

    def __init__(
        self,
        scale_factor: float | None = None,
        size: tuple[int, int] | None = None,
        mode: str = "bilinear",
        align_corners: bool | None = False,
    ) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.size = size
        self.mode = mode
        self.align_corners = None if mode == "nearest" else align_corners

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        size = size or self.size
        return F.interpolate(
            x,
            size=size,
            scale_factor=None if size else self.scale_factor,
            mode=self.mode,
            align_corners=self.align_corners,
        )
