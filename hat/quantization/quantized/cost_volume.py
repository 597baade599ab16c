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

from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import INTEGER, IntModule, expect_int_qtensor, np_dtype
from hat.quantization.quantized.intops import requantize

__all__ = ["IntCostVolume", "gwc_accumulate", "gwc_multiplier"]

_F32_EXACT = 2**24


def gwc_multiplier(
    s_left: float, s_right: float, group_channels: int, s_out: float
) -> torch.Tensor:
    """``float32(s_l * s_r / (Cg * s_out))``, computed in float64 and rounded once."""
    m = np.float32(np.float64(s_left) * np.float64(s_right) / (group_channels * float(s_out)))
    return torch.tensor(m, dtype=torch.float32)


def gwc_accumulate(cl: torch.Tensor, cr: torch.Tensor, max_disp: int, groups: int) -> torch.Tensor:
    """Exact int32 group sums of centred integer codes ``cl``, ``cr`` (``(B, C, H, W)``)."""
    b, c, h, w = cl.shape
    cg = c // groups
    bound = int(cl.abs().max()) * int(cr.abs().max()) * cg
    ft = torch.float32 if bound < _F32_EXACT else torch.float64
    lf = cl.to(ft).view(b, groups, cg, h, w)
    rf = cr.to(ft).view(b, groups, cg, h, w)
    acc = torch.zeros(b, groups, max_disp, h, w, dtype=ft, device=cl.device)
    for d in range(min(max_disp, w)):
        acc[:, :, d, :, d:] = (lf[..., d:] * rf[..., : w - d]).sum(2)
    return acc.view(b, groups * max_disp, h, w).to(torch.int32)


class IntCostVolume(IntModule):
    """Integer cost volume (see module doc)."""

    deploy_kind = INTEGER
    deploy_note = (
        "int32 ONNX ops (Cast, Sub, Slice, Mul, ReduceSum, Pad, Concat), then float32 "
        "requantization (Cast, Mul, QuantizeLinear)"
    )

    def macs(self, inputs, output) -> int:
        """``B * C * H * sum_{d < min(D, W)} (W - d)``: the products with a partner pixel."""
        b, c, h, w = inputs[0].shape
        return int(b * c * h * sum(w - d for d in range(min(self.max_disp, w))))

    def __init__(self, qat: nn.Module) -> None:
        super().__init__()
        if float(qat.input_scale.min()) == 0.0:
            raise RuntimeError("CostVolume: input qparams unknown; calibrate before convert()")
        fq = qat.activation_post_process
        self._init_output(fq.scale, fq.zero_point, fq.qdtype)
        self.max_disp = qat.max_disp
        self.groups = qat.groups
        self.float_module = qat.float_module
        self.register_buffer("input_scale", qat.input_scale.clone().float())

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntCostVolume:
        return cls(qat)

    def forward(self, left: QTensor, right: QTensor) -> QTensor:
        if all_float(left, right):
            from hat.quantization.quantized.island import float_passthrough

            return float_passthrough(self, self.float_module, (left, right))
        left, right = expect_int_qtensor(left, self), expect_int_qtensor(right, self)
        if (float(left.q_scale), float(right.q_scale)) != tuple(float(v) for v in self.input_scale):
            raise RuntimeError("CostVolume: input scales differ from calibration")
        cl = plain(left).to(torch.int32) - int(left.q_zero_point)
        cr = plain(right).to(torch.int32) - int(right.q_zero_point)
        acc = gwc_accumulate(cl, cr, self.max_disp, self.groups)
        cg = left.shape[1] // self.groups
        m = gwc_multiplier(float(left.q_scale), float(right.q_scale), cg, float(self.out_scale))
        out = self._wrap(requantize(acc, m.to(acc.device), self.out_zp, self.out_qdtype))
        self._emit(lambda rec: self._export(rec, left, right, out, m))
        return out

    def _export(self, rec, left: QTensor, right: QTensor, out: QTensor, m: torch.Tensor) -> None:
        b, c, h, w = left.shape
        g, cg = self.groups, c // self.groups

        def centred(x: QTensor, hint: str) -> str:
            i = rec.node1("Cast", [self._name(x)], hint + "_i32", to=6)
            z = rec.const(np.array(int(x.q_zero_point), np.int32), hint + "_zp")
            return rec.node1("Sub", [i, z], hint + "_c")

        lc, rc = centred(left, "left"), centred(right, "right")
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
        acc = rec.node1("Reshape", [acc, shape], "acc")
        f = rec.node1("Cast", [acc], "acc_f", to=1)
        y = rec.node1("Mul", [f, rec.const(m.numpy(), "multiplier")], "scaled")
        out.trace_name = rec.quantize(y, 1.0, self.out_zp, np_dtype(self.out_qdtype), "out")

    @staticmethod
    def _window(rec, start: int, end: int) -> list[str]:
        return [
            rec.const(np.array([start], np.int64), "st"),
            rec.const(np.array([end], np.int64), "en"),
        ]

    def extra_repr(self) -> str:
        return f"max_disp={self.max_disp}, groups={self.groups}, " + super().extra_repr()
