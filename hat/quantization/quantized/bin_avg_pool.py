"""Integer average pooling into bins: exact int32 window sums, one requantization.

``acc = sum_window (x_q - x_zp)`` (exact: float32 sums of integers below 2^24),
``y_q = saturate(round_half_even(float32(acc) * M) + y_zp)`` with
``M = float32(s_x / (kh * kw * s_y))`` (computed in float64, rounded once). Exported as
``ConvInteger`` with an all-ones depthwise int8 kernel (the window sums, int32) followed by
``Cast -> Mul(M) -> QuantizeLinear(1, y_zp)``: integer kernels on ONNX Runtime, bit-exact.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import (
    INTEGER,
    IntModule,
    eight_bit,
    expect_int_qtensor,
    np_dtype,
)
from hat.quantization.quantized.intops import requantize

__all__ = ["IntBinAvgPool"]


class IntBinAvgPool(IntModule):
    """Integer average pooling with the float module's window geometry (see module doc)."""

    deploy_kind = INTEGER
    deploy_note = "ConvInteger (all-ones depthwise kernel: int32 window sums) + requantization"

    def __init__(self, qat: nn.Module) -> None:
        super().__init__()
        if float(qat.input_scale[0]) == 0.0:
            raise RuntimeError("BinAvgPool: input qparams unknown; calibrate before convert()")
        fq = qat.activation_post_process
        self._init_output(fq.scale, fq.zero_point, fq.qdtype)
        self.float_module = qat.float_module
        self.register_buffer("input_scale", qat.input_scale.clone().float().reshape(()))

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntBinAvgPool:
        return cls(qat)

    def multiplier(self, window: int) -> torch.Tensor:
        """``float32(s_x / (window * s_y))``, computed in float64 and rounded once."""
        m = np.float64(float(self.input_scale)) / (window * np.float64(float(self.out_scale)))
        return torch.tensor(np.float32(m), dtype=torch.float32)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            from hat.quantization.quantized.island import float_passthrough

            return float_passthrough(self, self.float_module, (x,))
        x = expect_int_qtensor(x, self)
        if not eight_bit(x):
            raise NotImplementedError(
                f"BinAvgPool: integer pooling of {x.q_dtype.name} inputs is not supported "
                "(ORT's ConvInteger takes 8-bit inputs)"
            )
        if float(x.q_scale) != float(self.input_scale):
            raise RuntimeError("BinAvgPool: input scale differs from calibration")
        kernel, stride = self.float_module.geometry(*x.shape[-2:])
        centred = plain(x).to(torch.float32) - float(x.q_zero_point)
        acc = F.avg_pool2d(centred, kernel, stride, divisor_override=1).to(torch.int32)
        m = self.multiplier(kernel[0] * kernel[1])
        out = self._wrap(requantize(acc, m, self.out_zp, self.out_qdtype))
        self._emit(lambda rec: self._export(rec, x, out, kernel, stride, m))
        return out

    def _export(self, rec, x: QTensor, out: QTensor, kernel, stride, m: torch.Tensor) -> None:
        c = x.shape[1]
        w = rec.const(np.ones((c, 1, *kernel), np.int8), "ones")
        xz = rec.const(np.array(int(x.q_zero_point), np_dtype(x.q_dtype)), "x_zp")
        wz = rec.const(np.array(0, np.int8), "w_zp")
        acc = rec.node1(
            "ConvInteger", [self._name(x), w, xz, wz], "window_sums",
            kernel_shape=list(kernel), strides=list(stride), pads=[0, 0, 0, 0], group=c,
        )  # fmt: skip
        f = rec.node1("Cast", [acc], "sums_f", to=1)
        y = rec.node1("Mul", [f, rec.const(m.numpy(), "multiplier")], "scaled")
        out.trace_name = rec.quantize(y, 1.0, self.out_zp, np_dtype(self.out_qdtype), "out")

    def extra_repr(self) -> str:
        return f"bins={self.float_module.bins}, " + super().extra_repr()
