"""Integer ``nn.Linear``: a 1x1 :class:`~hat.quantization.quantized.conv.IntConv2d` over the
flattened leading dimensions (``Reshape -> QLinearConv -> Reshape`` on ONNX Runtime)."""

from __future__ import annotations

from torch import nn

from hat.quantization.qtensor import QTensor
from hat.quantization.quantized.conv import IntConv2d

__all__ = ["IntLinear"]


class IntLinear(nn.Module):
    """``(..., in_features)`` integer codes -> ``(..., out_features)``; the arithmetic (and the
    model checker's row) is its ``conv``'s."""

    def __init__(self, conv: IntConv2d, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = conv
        self.in_features = in_features
        self.out_features = out_features

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntLinear:
        return cls(IntConv2d.from_qat(qat), qat.in_features, qat.out_features)

    def forward(self, x: QTensor):
        lead = tuple(x.shape[:-1])
        y = self.conv(x.reshape(-1, self.in_features, 1, 1))
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"
