"""Integer cost volume (correlation).

``acc[k] = sum_c (x1_q - z1)[c, y, x] * (x2_q - z2)[c, y + dy, x + dx]`` (int32, zero outside
the image; ``k`` runs over ``(dy, dx)`` in ``[-d, d]^2``, ``dy`` outer), then
``y_q = saturate(round_half_even(float32(acc) * M) + z_out)`` with
``M = float32(s1 * s2 * gain / (C * s_out))`` (computed in float64, rounded once; ``gain`` is
the float module's output gain, 1 unless a model rescales its cost volume).

The accumulator is exact: float32 products and sums are exact while ``C * A1 * A2 < 2^24``
(``A = max |x_q - z|``), float64 otherwise. Export: 8-bit inputs as one batched
``MatMulInteger`` of every pixel's stacked shifted windows of ``x2`` with ``x1`` (integer
kernel); other integer dtypes with int32 element-wise ops (Cast, Sub, Pad, Slice, Mul,
ReduceSum, Concat); then ``Cast -> Mul(M) -> QuantizeLinear(1, z_out)``, the same float32
multiply and round-half-even: bit-exact on ORT at every level.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.qtensor import QTensor
from hat.quantization.quantized.base import (
    INTEGER,
    Deployment,
    eight_bit,
    is_quantized,
    np_dtype,
)
from hat.quantization.quantized.pairwise import IntPairwiseProduct, exact_float_dtype

__all__ = ["IntCorrelation"]


class IntCorrelation(IntPairwiseProduct):
    """Integer correlation (see module doc)."""

    op_name = "Correlation"

    def __init__(self, qat: nn.Module) -> None:
        super().__init__(qat)
        self.max_displacement = qat.max_displacement

    def deployment(self, inputs, output) -> Deployment:
        if not all(is_quantized(x) for x in inputs):
            return super().deployment(inputs, output)
        if eight_bit(*inputs):
            acc = "MatMulInteger over each pixel's shifted windows (int32)"
        else:
            acc = "int32 element-wise ONNX ops (Cast, Sub, Pad, Slice, Mul, ReduceSum)"
        return Deployment(INTEGER, acc + ", then float32 requantization (Cast, Mul, Q)")

    def macs(self, inputs, output) -> int:
        """``B * (2d+1)^2 * H * W * C``: one multiply-accumulate per channel and offset."""
        return int(output.numel()) * int(inputs[0].shape[1])

    def accumulate(self, ca: torch.Tensor, cb: torch.Tensor) -> torch.Tensor:
        d = self.max_displacement
        ft = exact_float_dtype(int(ca.abs().max()) * int(cb.abs().max()) * ca.shape[1])
        a, b = ca.to(ft), F.pad(cb.to(ft), (d, d, d, d))
        h, w = a.shape[-2:]
        outs = []
        for dy in range(2 * d + 1):
            for dx in range(2 * d + 1):
                outs.append((a * b[:, :, dy : dy + h, dx : dx + w]).sum(1, keepdim=True))
        return torch.cat(outs, 1).to(torch.int32)

    def export_accumulator(self, rec, x1: QTensor, x2: QTensor) -> str:
        eight_bit_dtypes = ("uint8", "int8")
        if x1.q_dtype.name in eight_bit_dtypes and x2.q_dtype.name in eight_bit_dtypes:
            return self._export_matmul_integer(rec, x1, x2)
        return self._export_int32(rec, x1, x2)

    def _export_matmul_integer(self, rec, x1: QTensor, x2: QTensor) -> str:
        """8-bit inputs: ``x2`` padded with its zero point goes to NHWC, its ``(2d+1)^2``
        shifted windows are concatenated on channels to ``(B, H, W, K, C)`` and every pixel's
        ``(K, C) x (C, 1)`` product runs in one batched ``MatMulInteger`` (integer kernel,
        exact int32)."""
        d = self.max_displacement
        b, c, h, w = x1.shape
        k = (2 * d + 1) ** 2
        za = rec.const(np.array(int(x1.q_zero_point), np_dtype(x1.q_dtype)), "x1_zp")
        zb = rec.const(np.array(int(x2.q_zero_point), np_dtype(x2.q_dtype)), "x2_zp")
        pads = rec.const(np.array([0, 0, d, d, 0, 0, d, d], np.int64), "pads")
        padded = rec.node1("Pad", [self._name(x2), pads, zb], "x2_pad")
        padded = rec.node1("Transpose", [padded], "x2_nhwc", perm=[0, 2, 3, 1])
        axes = rec.const(np.array([1, 2], np.int64), "axes")
        shifts = []
        for dy in range(2 * d + 1):
            for dx in range(2 * d + 1):
                st = rec.const(np.array([dy, dx], np.int64), "st")
                en = rec.const(np.array([dy + h, dx + w], np.int64), "en")
                shifts.append(rec.node1("Slice", [padded, st, en, axes], "shift"))
        stack = rec.node1("Concat", shifts, "shifts", axis=3)  # (B, H, W, K*C), k-major
        shape5 = rec.const(np.array([b, h, w, k, c], np.int64), "shape5")
        lhs = rec.node1("Reshape", [stack, shape5], "windows")  # (B, H, W, K, C)
        rhs = rec.node1("Transpose", [self._name(x1)], "x1_nhwc", perm=[0, 2, 3, 1])
        rhs = rec.node1("Unsqueeze", [rhs, rec.const(np.array([4], np.int64), "ax4")], "x1_col")
        acc = rec.node1("MatMulInteger", [lhs, rhs, zb, za], "acc5")  # (B, H, W, K, 1)
        shape4 = rec.const(np.array([b, h, w, k], np.int64), "shape4")
        acc = rec.node1("Reshape", [acc, shape4], "acc4")
        return rec.node1("Transpose", [acc], "acc", perm=[0, 3, 1, 2])

    def _export_int32(self, rec, x1: QTensor, x2: QTensor) -> str:
        """Any integer inputs: int32 element-wise ops per displacement."""
        d = self.max_displacement
        h, w = x1.shape[-2:]

        a = self._centred_int32(rec, x1, "x1")
        b = self._centred_int32(rec, x2, "x2")
        pads = rec.const(np.array([0, 0, d, d, 0, 0, d, d], np.int64), "pads")
        b = rec.node1("Pad", [b, pads], "x2_pad")
        axes = rec.const(np.array([2, 3], np.int64), "axes")
        red = rec.const(np.array([1], np.int64), "red_axis")
        parts = []
        for dy in range(2 * d + 1):
            for dx in range(2 * d + 1):
                st = rec.const(np.array([dy, dx], np.int64), "st")
                en = rec.const(np.array([dy + h, dx + w], np.int64), "en")
                sl = rec.node1("Slice", [b, st, en, axes], "shift")
                p = rec.node1("Mul", [a, sl], "prod")
                parts.append(rec.node1("ReduceSum", [p, red], "dot", keepdims=1))
        return rec.node1("Concat", parts, "acc", axis=1)

    def extra_repr(self) -> str:
        return f"max_displacement={self.max_displacement}, " + super().extra_repr()
