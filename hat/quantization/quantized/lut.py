"""Lookup-table activations: Sigmoid (one table) and Softmax (exp table + float32 sum).

Sigmoid: ``table[q - qmin] = Q_out(sigmoid(DQ_in(q)))`` for every input code (256 entries for
8-bit inputs, 65536 for int16), computed once at convert in float32; the integer model is a
gather. 8-bit: exported as DQ -> Sigmoid -> Q, which ORT fuses into ``QLinearSigmoid`` (itself
a 256-entry table). Other input types (int16) are exported as the table itself: ``Gather(table,
Cast(q, int32) - qmin)``, an integer lookup ORT computes bit for bit (its float Sigmoid is an
approximation that differs from torch's in the last bits).

Softmax: with ``d = q - max(q)`` along ``dim`` (an integer in ``[-(qmax-qmin), 0]``), ``e =
exp_table[d]`` where ``exp_table[d] = float32(exp(d * s_in))``; ``y = Q_out(e / sum(e))`` with
a float32 sum. ORT fuses DQ -> Softmax -> Q into ``QLinearSoftmax`` (a table plus float sums),
so results can differ by 1 LSB where float32 rounding of the sum lands on a tie.
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
    eight_bit,
    expect_int_qtensor,
    is_quantized,
    qdtype_from_qmin,
)
from hat.quantization.quantized.intops import dequantize, quantize

__all__ = ["IntSigmoid", "IntSoftmax"]


class _IntLUT(IntModule):
    def __init__(self, qat: nn.Module) -> None:
        super().__init__()
        if float(qat.input_scale[0]) == 0.0:
            raise RuntimeError(
                f"{type(qat).__name__}: input qparams unknown; calibrate before convert()"
            )
        fq = qat.activation_post_process
        self._init_output(fq.scale, fq.zero_point, fq.qdtype)
        self.in_qdtype = qdtype_from_qmin(int(qat.input_qmin[0]))
        self.register_buffer("input_scale", qat.input_scale[0].clone().float())
        self.register_buffer("input_zero_point", qat.input_zero_point[0].clone().int())

    def _check_input(self, x: QTensor) -> None:
        if (
            float(x.q_scale) != float(self.input_scale)
            or int(x.q_zero_point) != int(self.input_zero_point)
            or x.q_dtype != self.in_qdtype
        ):
            raise RuntimeError(f"{type(self).__name__}: input qparams differ from calibration")

    kernel = ""
    table_export = False  # non-8-bit inputs exported as a Gather on the module's table

    def deployment(self, inputs, output) -> Deployment:
        if not is_quantized(inputs[0]):
            return super().deployment(inputs, output)
        if eight_bit(inputs[0], output):
            return Deployment(INTEGER, self.kernel)
        if self.table_export:
            return Deployment(
                INTEGER, f"{self.in_qdtype.name} -> {self.out_qdtype.name}: Gather on the table"
            )
        op = self.kernel.removeprefix("QLinear")
        return Deployment(
            FLOAT_ISLAND,
            f"{self.in_qdtype.name} -> {self.out_qdtype.name}: ORT's {self.kernel} takes 8-bit "
            f"tensors only; DQ -> {op} -> Q in float32",
        )

    def _codes(self) -> torch.Tensor:
        q = self.in_qdtype
        return torch.arange(q.qmin, q.qmax + 1, dtype=torch.int32)


class IntSigmoid(_IntLUT):
    """Sigmoid as a lookup table over all input codes."""

    kernel = "QLinearSigmoid"
    table_export = True

    def __init__(self, qat: nn.Module) -> None:
        super().__init__(qat)
        f = dequantize(self._codes(), self.input_scale, int(self.input_zero_point))
        table = quantize(torch.sigmoid(f), self.out_scale, self.out_zp, self.out_qdtype)
        self.register_buffer("table", table)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntSigmoid:
        return cls(qat)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return torch.sigmoid(x)
        x = expect_int_qtensor(x, self)
        self._check_input(x)
        idx = plain(x).to(torch.int64) - self.in_qdtype.qmin
        out = self._wrap(self.table[idx])

        def export(rec) -> None:
            if eight_bit(x, out):
                y = rec.node1("Sigmoid", [self._dq(rec, x, "x")], "sigmoid")
                self._q_out(rec, y, out)
                return
            i32 = rec.node1("Cast", [self._name(x)], "codes", to=6)
            qmin = rec.const(np.array(self.in_qdtype.qmin, np.int32), "qmin")
            idx = rec.node1("Sub", [i32, qmin], "index")
            table = rec.const(self.table.numpy(), "sigmoid_table")
            out.trace_name = rec.node1("Gather", [table, idx], "sigmoid_q", axis=0)

        self._emit(export)
        return out


class IntSoftmax(_IntLUT):
    """Softmax with an exp lookup table and a float32 normaliser."""

    kernel = "QLinearSoftmax"

    def __init__(self, qat: nn.Module) -> None:
        super().__init__(qat)
        self.dim = qat.dim
        q = self.in_qdtype
        d = np.arange(-(q.qmax - q.qmin), 1, dtype=np.float64)
        s = float(np.float32(self.input_scale))
        self.register_buffer("exp_table", torch.from_numpy(np.exp(d * s).astype(np.float32)))

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntSoftmax:
        return cls(qat)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return torch.softmax(x, self.dim)
        x = expect_int_qtensor(x, self)
        self._check_input(x)
        q = plain(x).to(torch.int64)
        d = q - q.amax(dim=self.dim, keepdim=True)
        e = self.exp_table[d + (self.exp_table.numel() - 1)]
        y = e / e.sum(dim=self.dim, keepdim=True)
        out = self._wrap(quantize(y, self.out_scale, self.out_zp, self.out_qdtype))

        def export(rec) -> None:
            y = rec.node1("Softmax", [self._dq(rec, x, "x")], "softmax", axis=self.dim)
            self._q_out(rec, y, out)

        self._emit(export)
        return out
