"""QAT Sigmoid and Softmax (integer model: lookup tables)."""

from __future__ import annotations

import torch
from torch import nn

from hat.quantization.qat.base import (
    QATModule,
    all_float,
    expect_qtensor,
    record_input_qparams,
)
from hat.quantization.qconfig import QConfig
from hat.quantization.qdtypes import get_qdtype
from hat.quantization.qtensor import QTensor, plain

__all__ = ["QATSigmoid", "QATSoftmax"]


class _LUTQAT(QATModule):
    def __init__(self, qconfig: QConfig) -> None:
        super().__init__()
        self._init_output(qconfig)
        self.register_buffer("input_scale", torch.zeros(1))
        self.register_buffer("input_zero_point", torch.zeros(1, dtype=torch.int32))
        self.register_buffer("input_qmin", torch.zeros(1, dtype=torch.int32))

    def _record(self, xq: QTensor) -> None:
        record_input_qparams(self, [xq])
        self.input_qmin[0] = xq.q_dtype.qmin


class QATSigmoid(_LUTQAT):
    """``fq(sigmoid(x))``."""

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATSigmoid:
        return cls(qconfig)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return torch.sigmoid(x)
        xq = expect_qtensor(x, self)
        self._record(xq)
        return self._wrap_output(torch.sigmoid(plain(xq)))

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.lut import IntSigmoid

        return IntSigmoid.from_qat(self)


class QATSoftmax(_LUTQAT):
    """``fq(softmax(x, dim))``."""

    def __init__(self, dim: int, qconfig: QConfig, fixed_output_scale: bool = True) -> None:
        if fixed_output_scale and qconfig.activation.fixed_scale is None:
            # outputs lie in [0, 1]: scale 1/2^bits (1/256 for uint8), zero point 0. ORT's fused
            # QLinearSoftmax multiplies by floor(1 / y_scale), exact only for such scales.
            qd = get_qdtype(qconfig.activation.dtype)
            scale = 1.0 / (qd.qmax + 1)
            act = qconfig.activation.replace(fixed_scale=scale, fixed_zero_point=0)
            qconfig = qconfig.replace(activation=act)
        super().__init__(qconfig)
        self.dim = dim

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATSoftmax:
        if mod.dim is None:
            raise ValueError("quantized Softmax needs an explicit dim")
        return cls(mod.dim, qconfig)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return torch.softmax(x, self.dim)
        xq = expect_qtensor(x, self)
        self._record(xq)
        return self._wrap_output(torch.softmax(plain(xq), self.dim))

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.lut import IntSoftmax

        return IntSoftmax.from_qat(self)
