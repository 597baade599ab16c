"""QAT ``nn.Linear``: fake-quantized weight (per output feature), int32 bias and output.

The integer model runs the layer as a 1x1 convolution over the flattened leading dimensions
(``(..., C) -> (M, C, 1, 1)``): the same integer arithmetic as every other conv
(:class:`~hat.quantization.quantized.conv.IntConv2d`) and the same ONNX Runtime kernel
(``QLinearConv``), with ``Reshape`` around it. Parameters keep ``nn.Linear``'s names and shapes
(``weight`` ``(out, in)``, ``bias``), so float checkpoints load unchanged.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.qat.base import expect_qtensor, module_device
from hat.quantization.qat.conv import _ConvFQMixin
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor

__all__ = ["QATLinear"]

_POINTWISE = SimpleNamespace(stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1)


class QATLinear(_ConvFQMixin, nn.Module):
    """``nn.Linear`` on a quantized input of shape ``(..., in_features)``."""

    relu = False

    def __init__(self, linear: nn.Linear, qconfig: QConfig) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self._init_quant(qconfig, linear.out_features)

    @classmethod
    def from_float(cls, mod: nn.Linear, qconfig: QConfig) -> QATLinear:
        return cls(mod, qconfig).to(module_device(mod)).train(mod.training)

    def _conv_module(self) -> SimpleNamespace:
        return _POINTWISE

    def folded_weight_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight[:, :, None, None], self.bias

    def _conv(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return F.linear(x.flatten(1), w.flatten(1), b)[:, :, None, None]

    def forward(self, x: QTensor) -> torch.Tensor | QTensor:
        xq = expect_qtensor(x, self)
        if xq.shape[-1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__}: input has {xq.shape[-1]} features, expected "
                f"{self.in_features}"
            )
        lead = tuple(xq.shape[:-1])
        y = self._fq_forward(xq.reshape(-1, self.in_features, 1, 1))
        return y.reshape(*lead, self.out_features)

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.linear import IntLinear

        return IntLinear.from_qat(self)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"
