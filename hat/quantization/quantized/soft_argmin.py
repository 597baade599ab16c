"""Integer soft-argmin: exponential lookup table + exact integer sums + one float32 division.

For input codes ``q`` (``(B, D, H, W)``, scale ``s``) and ``k = max_d(q) - q`` (an integer in
``[0, qmax - qmin]``):

* ``e = table[k]`` with ``table[k] = round_half_even(2^E * exp(-k * s))`` (int32, computed once
  in float64; ``table[0] = 2^E``);
* ``num = sum_d e_d * d`` and ``den = sum_d e_d`` (exact int32; ``E`` is the largest exponent
  <= 16 with ``D * max(D - 1, 1) * 2^E < 2^24``, so both convert to float32 exactly);
* ``y_q = saturate(round_half_even(float32(float32(num) / float32(den)) * M) + z_out)`` with
  ``M = float32(value_scale / s_out)``.

Every step is either integer or a single IEEE float32 operation, so the export (Cast, ReduceMax,
Sub, Gather, Mul, ReduceSum on int32, then Cast, Div, Mul, QuantizeLinear) is bit-exact on ONNX
Runtime. Entries below ``0.5 * 2^-E`` of the maximum round to zero (relative weight < 1e-5 at
``E = 16``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hat.quantization.qat.base import all_float
from hat.quantization.qdtypes import QDType
from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import INTEGER, IntModule, expect_int_qtensor, np_dtype
from hat.quantization.quantized.intops import requantize

__all__ = ["IntSoftArgmin", "exp_table_bits", "soft_argmin_exp_table", "soft_argmin_integer"]

_F32_EXACT = 2**24


def exp_table_bits(num_candidates: int) -> int:
    """``E``: the largest exponent <= 16 keeping ``D * max(D - 1, 1) * 2^E < 2^24``."""
    d = int(num_candidates)
    span = d * max(d - 1, 1)
    bits = min(16, int(math.floor(math.log2((_F32_EXACT - 1) / span))))
    if bits < 4:
        raise ValueError(
            f"SoftArgmin: {d} candidates are too many for an exact float32 ratio (at most 1024)"
        )
    return bits


def soft_argmin_exp_table(scale: float, qd: QDType, bits: int) -> torch.Tensor:
    """``round_half_even(2^bits * exp(-k * scale))`` for ``k = 0 .. qmax - qmin`` (int32)."""
    k = np.arange(qd.qmax - qd.qmin + 1, dtype=np.float64)
    s = float(np.float32(scale))
    return torch.from_numpy(np.rint(np.exp(-k * s) * 2.0**bits).astype(np.int32))


def soft_argmin_integer(
    codes: torch.Tensor, table: torch.Tensor, multiplier: torch.Tensor, zero_point: int, qd: QDType
) -> torch.Tensor:
    """Output codes for integer input ``codes`` ``(B, D, H, W)`` (see module doc)."""
    q = codes.to(torch.int64)
    k = q.amax(dim=1, keepdim=True) - q
    e = table.to(codes.device)[k]
    d = torch.arange(q.shape[1], dtype=torch.int32, device=codes.device).view(1, -1, 1, 1)
    num = (e * d).sum(1, keepdim=True, dtype=torch.int32)
    den = e.sum(1, keepdim=True, dtype=torch.int32)
    ratio = num.to(torch.float32) / den.to(torch.float32)
    return requantize(ratio, multiplier.to(codes.device), zero_point, qd)


class IntSoftArgmin(IntModule):
    """Integer soft-argmin (see module doc)."""

    deploy_kind = INTEGER
    deploy_note = (
        "int32 exp lookup table and sums (Cast, ReduceMax, Sub, Gather, Mul, ReduceSum), then "
        "one float32 division and requantization per pixel (Cast, Div, Mul, QuantizeLinear)"
    )

    def macs(self, inputs, output) -> int:
        """One multiply-accumulate per candidate (the weighted sum ``sum_d e_d * d``)."""
        return int(inputs[0].numel())

    def __init__(self, qat: nn.Module) -> None:
        super().__init__()
        if float(qat.input_scale[0]) == 0.0:
            raise RuntimeError("SoftArgmin: input qparams unknown; calibrate before convert()")
        fq = qat.activation_post_process
        self._init_output(fq.scale, fq.zero_point, fq.qdtype)
        self.num_candidates = qat.num_candidates
        self.value_scale = qat.value_scale
        self.float_module = qat.float_module
        self.in_qdtype = qat.input_qdtype()
        self.bits = exp_table_bits(self.num_candidates)
        self.register_buffer("input_scale", qat.input_scale[0].clone().float())
        self.register_buffer(
            "table", soft_argmin_exp_table(float(self.input_scale), self.in_qdtype, self.bits)
        )
        m = np.float32(np.float64(self.value_scale) / float(self.out_scale))
        self.register_buffer("multiplier", torch.tensor(m, dtype=torch.float32))

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntSoftArgmin:
        return cls(qat)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return self.float_module(x)
        x = expect_int_qtensor(x, self)
        if float(x.q_scale) != float(self.input_scale) or x.q_dtype != self.in_qdtype:
            raise RuntimeError("SoftArgmin: input qparams differ from calibration")
        q = soft_argmin_integer(plain(x), self.table, self.multiplier, self.out_zp, self.out_qdtype)
        out = self._wrap(q)
        self._emit(lambda rec: self._export(rec, x, out))
        return out

    def _export(self, rec, x: QTensor, out: QTensor) -> None:
        ax = rec.const(np.array([1], np.int64), "cand_axis")
        xi = rec.node1("Cast", [self._name(x)], "x_i32", to=6)
        mx = rec.node1("ReduceMax", [xi, ax], "max", keepdims=1)
        k = rec.node1("Sub", [mx, xi], "k")
        e = rec.node1("Gather", [rec.const(self.table.numpy(), "exp_table"), k], "exp", axis=0)
        d = np.arange(self.num_candidates, dtype=np.int32).reshape(1, -1, 1, 1)
        we = rec.node1("Mul", [e, rec.const(d, "values")], "weighted")
        num = rec.node1("ReduceSum", [we, ax], "num", keepdims=1)
        den = rec.node1("ReduceSum", [e, ax], "den", keepdims=1)
        nf = rec.node1("Cast", [num], "num_f", to=1)
        df = rec.node1("Cast", [den], "den_f", to=1)
        ratio = rec.node1("Div", [nf, df], "ratio")
        y = rec.node1("Mul", [ratio, rec.const(self.multiplier.numpy(), "multiplier")], "scaled")
        out.trace_name = rec.quantize(y, 1.0, self.out_zp, np_dtype(self.out_qdtype), "out")

    def extra_repr(self) -> str:
        return (
            f"num_candidates={self.num_candidates}, value_scale={self.value_scale:.6g}, "
            f"table_bits={self.bits}, " + super().extra_repr()
        )
