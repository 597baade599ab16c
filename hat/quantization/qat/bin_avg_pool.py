"""QAT average pooling into bins (the pyramid pooling of ``FastSCNNNeck``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.qat.base import (
    QATModule,
    all_float,
    expect_qtensor,
    record_input_qparams,
)
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor, plain

__all__ = ["QATBinAvgPool"]


class QATBinAvgPool(QATModule):
    """``fq(avg_pool(x))`` with the float module's window geometry (``float_module.geometry``:
    kernel and stride from the input size); the output has its own scale."""

    def __init__(self, float_module: nn.Module, qconfig: QConfig) -> None:
        super().__init__()
        self.float_module = float_module
        self._init_output(qconfig)
        self.register_buffer("input_scale", torch.zeros(1))
        self.register_buffer("input_zero_point", torch.zeros(1, dtype=torch.int32))

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATBinAvgPool:
        return cls(mod, qconfig)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return self.float_module(x)
        xq = expect_qtensor(x, self)
        record_input_qparams(self, [xq])
        kernel, stride = self.float_module.geometry(*xq.shape[-2:])
        return self._wrap_output(F.avg_pool2d(plain(xq), kernel, stride))

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.bin_avg_pool import IntBinAvgPool

        return IntBinAvgPool.from_qat(self)
