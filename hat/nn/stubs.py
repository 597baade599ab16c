"""Quantization boundaries: identity in float, quantize/dequantize once prepared."""

from __future__ import annotations

import torch
from torch import nn


class QuantStub(nn.Module):
    """Marks where a float tensor enters the quantized part of a model.

    ``scale`` fixes the input scale (e.g. ``1/128`` for images normalised to [-1, 1));
    ``None`` lets an observer choose it.
    """

    def __init__(self, scale: float | None = None) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class DeQuantStub(nn.Module):
    """Marks where a quantized tensor leaves the model as float."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
