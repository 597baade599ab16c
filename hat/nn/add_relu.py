"""``AddReLU``: ``relu(x + y)`` as one module, so that quantization gives it one output scale."""

from __future__ import annotations

import torch

from hat.nn.functional_modules import Add


class AddReLU(Add):
    """``relu(x + y)`` (a residual merge followed by ReLU, as in a U-Net fusion block).

    Quantized, the ReLU is fused into the add's output quantization: the observer sees the
    rectified values, so an asymmetric ``uint8`` output gets zero point 0 and the saturation of
    the requantization *is* the ReLU (ORT: one QLinearAdd, no separate Relu).
    """

    relu = True

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + y)
