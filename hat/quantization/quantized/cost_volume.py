"""Integer group-wise correlation cost volume.

``acc[g * D + d] = sum_{c in g} (l_q - z_l)[c, y, x] * (r_q - z_r)[c, y, x - d]`` (int32, zero
where ``x < d``), then ``y_q = saturate(round_half_even(float32(acc) * M) + z_out)`` with
``M = float32(s_l * s_r / (Cg * s_out))`` (computed in float64, rounded once; ``Cg`` channels
per group). Positions without a partner (``x < d``) give ``acc = 0``, i.e. the zero point.

The accumulator is exact: float32 products and sums of integers are exact while
``Cg * A_l * A_r < 2^24`` (``A = max |x_q - z|``), float64 is used otherwise. Export uses ONNX
integer ops only (Cast to int32, Sub, Slice, Mul, Reshape, ReduceSum, Pad, Unsqueeze, Concat),
then ``Cast -> Mul(M) -> QuantizeLinear(1, z_out)``: the same float32 multiply and
round-half-even, bit-exact on ONNX Runtime at every optimisation level.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hat.quantization.qtensor import QTensor
from hat.quantization.quantized.base import INTEGER
from hat.quantization.quantized.pairwise import (
    IntPairwiseProduct,
    exact_float_dtype,
    product_multiplier,
)

__all__ = ["IntCostVolume", "gwc_accumulate", "gwc_multiplier"]

gwc_multiplier = product_multiplier  # (s_left, s_right, channels per group, s_out)


def gwc_accumulate(cl: torch.Tensor, cr: torch.Tensor, max_disp: int, groups: int) -> torch.Tensor:
    """Exact int32 group sums of centred integer codes ``cl``, ``cr`` (``(B, C, H, W)``)."""
    b, c, h, w = cl.shape
    cg = c // groups
    ft = exact_float_dtype(int(cl.abs().max()) * int(cr.abs().max()) * cg)
    lf = cl.to(ft).view(b, groups, cg, h, w)
    rf = cr.to(ft).view(b, groups, cg, h, w)
    acc = torch.zeros(b, groups, max_disp, h, w, dtype=ft, device=cl.device)
    for d in range(min(max_disp, w)):
        acc[:, :, d, :, d:] = (lf[..., d:] * rf[..., : w - d]).sum(2)
    return acc.view(b, groups * max_disp, h, w).to(torch.int32)


class IntCostVolume(IntPairwiseProduct):
    """Integer cost volume (see module doc)."""

    op_name = "CostVolume"
    deploy_kind = INTEGER
    deploy_note = (
        "int32 ONNX ops (Cast, Sub, Slice, Mul, ReduceSum, Pad, Concat), then float32 "
        "requantization (Cast, Mul, QuantizeLinear)"
    )

    def __init__(self, qat: nn.Module) -> None:
        super().__init__(qat)
        self.max_disp = qat.max_disp
        self.groups = qat.groups

    def macs(self, inputs, output) -> int:
        """``B * C * H * sum_{d < min(D, W)} (W - d)``: the products with a partner pixel."""
        b, c, h, w = inputs[0].shape
        return int(b * c * h * sum(w - d for d in range(min(self.max_disp, w))))

    def summed_channels(self, channels: int) -> int:
        return channels // self.groups

    def accumulate(self, ca: torch.Tensor, cb: torch.Tensor) -> torch.Tensor:
        return gwc_accumulate(ca, cb, self.max_disp, self.groups)

    def export_accumulator(self, rec, left: QTensor, right: QTensor) -> str:
        b, c, h, w = left.shape
        g, cg = self.groups, c // self.groups

        lc = self._centred_int32(rec, left, "left")
        rc = self._centred_int32(rec, right, "right")
        axis_w = rec.const(np.array([3], np.int64), "axis_w")
        red = rec.const(np.array([2], np.int64), "group_axis")
        unsq = rec.const(np.array([2], np.int64), "disp_axis")
        planes = []
        for d in range(self.max_disp):
            if d >= w:
                zeros = np.zeros((b, g, 1, h, w), np.int32)
                planes.append(rec.const(zeros, "empty_plane"))
                continue
            ls = rec.node1("Slice", [lc, *self._window(rec, d, w), axis_w], "left_shift")
            rs = rec.node1("Slice", [rc, *self._window(rec, 0, w - d), axis_w], "right_shift")
            p = rec.node1("Mul", [ls, rs], "prod")
            shape = rec.const(np.array([b, g, cg, h, w - d], np.int64), "group_shape")
            p = rec.node1("Reshape", [p, shape], "grouped")
            s = rec.node1("ReduceSum", [p, red], "group_sum", keepdims=0)  # (B, G, H, W - d)
            if d:
                pads = rec.const(np.array([0, 0, 0, d, 0, 0, 0, 0], np.int64), "pads")
                s = rec.node1("Pad", [s, pads], "pad")
            planes.append(rec.node1("Unsqueeze", [s, unsq], "plane"))
        acc = rec.node1("Concat", planes, "acc5d", axis=2)  # (B, G, D, H, W)
        shape = rec.const(np.array([b, g * self.max_disp, h, w], np.int64), "out_shape")
        return rec.node1("Reshape", [acc, shape], "acc")

    @staticmethod
    def _window(rec, start: int, end: int) -> list[str]:
        return [
            rec.const(np.array([start], np.int64), "st"),
            rec.const(np.array([end], np.int64), "en"),
        ]

    def extra_repr(self) -> str:
        return f"max_disp={self.max_disp}, groups={self.groups}, " + super().extra_repr()
