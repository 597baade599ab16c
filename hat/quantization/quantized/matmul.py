"""Integer matrix product of two activations (ONNX Runtime: ``QLinearMatMul``).

``y_q = saturate(rne(float32(acc) * M) + y_zp)`` with the exact integer accumulator
``acc = (a_q - a_zp) @ (b_q - b_zp)`` and ``M = float32(float32(s_a * s_b) / s_y)``: what
ORT's fused kernel computes (an integer GEMM into int32, then its requantization by the float
multiplier with round-half-even). The accumulator is computed in float64 (every partial sum an
integer far below 2^53), so it is exact for any inner size that fits int32.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import (
    FLOAT_ISLAND,
    INTEGER,
    Deployment,
    IntModule,
    expect_int_qtensor,
    is_quantized,
)
from hat.quantization.quantized.intops import requantize

__all__ = ["IntMatMul"]


class IntMatMul(IntModule):
    """``Q(DQ(x) @ DQ(y))`` with the integer arithmetic of ORT's ``QLinearMatMul``."""

    def __init__(self, out_scale, out_zero_point, out_qdtype) -> None:
        super().__init__()
        self._init_output(out_scale, out_zero_point, out_qdtype)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntMatMul:
        fq = qat.activation_post_process
        return cls(fq.scale, fq.zero_point, fq.qdtype)

    def forward(self, x: QTensor, y: QTensor) -> QTensor:
        if all_float(x, y):
            return torch.matmul(x, y)
        x, y = expect_int_qtensor(x, self), expect_int_qtensor(y, self)
        a = plain(x).to(torch.float64) - int(x.q_zero_point)
        b = plain(y).to(torch.float64) - int(y.q_zero_point)
        acc = torch.matmul(a, b)
        if acc.numel() and float(acc.abs().max()) > 2**31 - 1:
            raise OverflowError(f"{type(self).__name__}: the int32 accumulator overflows")
        ab = torch.tensor(np.float32(float(x.q_scale)) * np.float32(float(y.q_scale)))
        multiplier = (ab / self.out_scale.float()).float()
        out = self._wrap(requantize(acc.to(torch.int64), multiplier, self.out_zp, self.out_qdtype))

        def export(rec) -> None:
            a_, b_ = self._dq(rec, x, "a"), self._dq(rec, y, "b")
            self._q_out(rec, rec.node1("MatMul", [a_, b_], "matmul"), out)

        self._emit(export)
        return out

    def deployment(self, inputs, output) -> Deployment:
        if not any(is_quantized(x) for x in inputs):
            return super().deployment(inputs, output)
        names = {x.q_dtype.name for x in inputs if is_quantized(x)} | {self.out_qdtype.name}
        if names <= {"uint8", "int8"} and inputs[0].q_dtype.name == "uint8":
            return Deployment(INTEGER, "QLinearMatMul")
        return Deployment(
            FLOAT_ISLAND, f"{'/'.join(sorted(names))}: no QLinearMatMul kernel; DQ -> MatMul -> Q"
        )

    def macs(self, inputs, output) -> int:
        """``output elements * inner size``."""
        return int(output.numel()) * int(inputs[0].shape[-1])
