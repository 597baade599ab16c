"""Integer multi-view IPM sampling (``IpmSample`` of the BEV view transformer), bit-exact on ORT.

Inputs: feature codes ``q`` ``(N, C, Hf, Wf)`` (``N = B * V``, zero point ``z``,
``R = qmax - qmin``) and float points ``(N, Hb, Wb, 2)`` (feature pixels, centres at integers).
Only integer arithmetic follows the points' quantization:

* ``p = QuantizeLinear(points, 2^-k, 0)`` int16 (``2^-k``: ``grid_quant_scale``);
* ``x0 = floor(p_x / 2^k)``, ``fx = p_x - x0 * 2^k``, ``wx = (2^k - fx, fx)`` (same for y):
  the bilinear weights carry all ``k`` fractional bits of the coordinates;
* corner ``(x0 + dx, y0 + dy)``: ``w = wy[dy] * wx[dx] * inside`` (0 outside the map: zero
  padding reads the zero point), value ``q[corner] - z``;
* ``acc_v = sum_corners (q - z) * w`` (``|acc_v| <= R * 2^(2k)``, exact);
* ``acc = max_v acc_v`` (the maximum over the views commutes with the monotone rounding
  below, so it equals the maximum of the per-view output codes);
* ``y_q = z + floor((acc + 2^(2k - 1)) / 2^(2k))`` (round half up; no saturation needed:
  the weights are convex and the zero point is a code).

The output keeps the features' scale and zero point. The accumulator is int32 when
``2 R 2^(2k) + 2^(2k-1) < 2^31`` (8-bit features up to ``k = 11``, a 32x60 map has ``k = 9``),
else int64 (int16 features; the export then rounds each view before the maximum, on int32:
ONNX Runtime 1.31's int64 ReduceMax and Max returned wrong maxima for some elements once the
values passed 2^31, measured on a (2, 3, 12, 16, 6) tensor). ONNX: Cast/Add/Div/Mul/Sub/Clip/
compare/Gather/ReduceMax on integers only (floor divisions of non-negative values after an
offset, as ONNX ``Div`` truncates), so ORT computes it bit for bit as
:func:`ipm_sample_integer`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hat.quantization.qat.base import all_float
from hat.quantization.qdtypes import QDType, get_qdtype
from hat.quantization.qtensor import QTensor, make_qtensor, plain
from hat.quantization.quantized.base import INTEGER, IntModule, expect_int_qtensor, np_dtype
from hat.quantization.quantized.intops import quantize

__all__ = [
    "IntIpmSample",
    "check_grid_fits",
    "default_grid_scale",
    "grid_bits",
    "ipm_sample_integer",
    "accumulator_dtype",
    "quantize_points",
]

_INT16_MAX = 32767
_MAX_GRID_BITS = 14
_CORNERS = ((0, 0), (1, 0), (0, 1), (1, 1))  # (dx, dy)
_OFFSET_BITS = 15  # int16 codes + 2^15 >= 0


def default_grid_scale(hf: int, wf: int) -> float:
    """The default int16 scale of the points for an ``Hf x Wf`` feature map: ``2^-k`` with the
    largest ``k <= 14`` such that ``M * 2^k <= 32767``, ``M = max(Hf, Wf, 2)``. ``M`` bounds
    every coordinate that matters: kept points lie in ``[-1, Wf] x [-1, Hf]`` and OUTSIDE is
    ``-2``. Example: ``32 x 60`` -> ``2^-9`` (60 * 512 = 30720)."""
    if min(int(hf), int(wf)) <= 0:
        raise ValueError(f"feature size must be Hf, Wf > 0, got {hf}x{wf}")
    k = int(math.floor(math.log2(_INT16_MAX / max(int(hf), int(wf), 2))))
    if k < 0:
        raise ValueError(f"feature size {hf}x{wf}: pixel coordinates do not fit int16")
    return 2.0 ** -min(k, _MAX_GRID_BITS)


def grid_bits(scale: float) -> int:
    """``k`` of a ``2^-k`` grid scale (ValueError unless a power of two, ``0 <= k <= 14``)."""
    s = float(scale)
    k = -round(math.log2(s)) if s > 0 and math.isfinite(s) else -1
    if k < 0 or k > _MAX_GRID_BITS or 2.0**-k != s:
        raise ValueError(
            f"grid_quant_scale must be a power of two 2^-k, 0 <= k <= 14, got {scale!r}"
        )
    return k


def check_grid_fits(scale: float, hf: int, wf: int) -> None:
    """ValueError unless int16 codes of ``scale`` hold every coordinate of an ``Hf x Wf`` map."""
    if max(int(hf), int(wf), 2) / float(scale) > _INT16_MAX:
        raise ValueError(
            f"IpmSample: grid_quant_scale {scale!r} cannot hold the coordinates of a "
            f"{hf}x{wf} feature map in int16 (needs max(Hf, Wf, 2) / scale <= 32767)"
        )


def accumulator_dtype(k: int, qd: QDType) -> torch.dtype:
    """int32 when the offset accumulator ``2 R 2^(2k) + 2^(2k-1)`` fits, else int64."""
    n = 2 * int(k)
    bound = 2 * (qd.qmax - qd.qmin) * 2**n + 2 ** max(n - 1, 0)
    return torch.int32 if bound < 2**31 else torch.int64


def quantize_points(points: torch.Tensor, scale: float) -> torch.Tensor:
    """int16 codes ``saturate(round_half_even(points / scale))`` (ONNX QuantizeLinear)."""
    s = torch.tensor(float(scale), dtype=torch.float32, device=points.device)
    return quantize(plain(points).float(), s, 0, get_qdtype("int16"))


def ipm_sample_integer(
    codes: torch.Tensor,
    zero_point: int,
    qd: QDType,
    point_codes: torch.Tensor,
    k: int,
    num_views: int,
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """Output codes ``(B, C, Hb, Wb)`` of the module doc's formula.

    ``codes`` ``(B*V, C, Hf, Wf)`` integer feature codes, ``point_codes`` ``(B*V, Hb, Wb, 2)``
    int16 codes of scale ``2^-k``; ``keep`` ``(B, V)`` 0/1 zeroes dropped views (training).
    """
    n, c, hf, wf = codes.shape
    hb, wb = point_codes.shape[1:3]
    b = n // num_views
    dev = codes.device
    one = 2**k
    acc_t = accumulator_dtype(k, qd)  # exact: the bound of the module doc holds
    feat = (codes.to(acc_t) - int(zero_point)).permute(0, 2, 3, 1).reshape(n * hf * wf, c)
    p = point_codes.to(torch.int32)
    x0 = torch.div(p[..., 0], one, rounding_mode="floor")
    y0 = torch.div(p[..., 1], one, rounding_mode="floor")
    fx, fy = p[..., 0] - x0 * one, p[..., 1] - y0 * one
    wx, wy = (one - fx, fx), (one - fy, fy)
    base = (torch.arange(n, device=dev, dtype=torch.int32) * (hf * wf)).view(n, 1, 1)
    acc = torch.zeros(n * hb * wb, c, dtype=acc_t, device=dev)
    for dx, dy in _CORNERS:
        xc, yc = x0 + dx, y0 + dy
        inside = (xc >= 0) & (xc <= wf - 1) & (yc >= 0) & (yc <= hf - 1)
        w = (wy[dy] * wx[dx] * inside).to(acc_t).reshape(-1, 1)
        idx = (base + yc.clamp(0, hf - 1) * wf + xc.clamp(0, wf - 1)).reshape(-1)
        acc.addcmul_(feat.index_select(0, idx), w)
    acc = acc.reshape(b, num_views, hb, wb, c)
    if keep is not None:
        acc = acc * keep.to(acc_t).view(b, num_views, 1, 1, 1)
    best = acc.amax(dim=1).to(torch.int64)
    out = torch.div(best + one * one // 2, one * one, rounding_mode="floor") + int(zero_point)
    return out.to(qd.torch_dtype).permute(0, 3, 1, 2).contiguous()


class IntIpmSample(IntModule):
    """Integer ``IpmSample`` (see module doc); the output keeps the features' qparams."""

    deploy_kind = INTEGER
    deploy_note = (
        "int16 points (QuantizeLinear), fixed-point bilinear weights, Gather of the centred "
        "codes, integer sums, ReduceMax over the views and rounding division "
        "(Cast/Add/Div/Mul/Sub/Clip/Gather/ReduceMax on int32, int64 for int16 features)"
    )

    def __init__(self, qat: nn.Module) -> None:
        super().__init__()
        if float(qat.grid_scale) <= 0:
            raise RuntimeError("IpmSample: grid scale unknown; calibrate before convert()")
        self.float_module = qat.float_module
        self.num_views = int(qat.num_views)
        self.register_buffer("grid_scale", qat.grid_scale.detach().clone().float())
        self.k = grid_bits(float(self.grid_scale))

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntIpmSample:
        return cls(qat)

    def macs(self, inputs, output) -> int:
        """4 multiply-accumulates per sampled element of every view."""
        return 4 * self.num_views * int(output.numel()) if isinstance(output, torch.Tensor) else 0

    def forward(self, feats: QTensor, points: torch.Tensor) -> QTensor:
        if all_float(feats):
            return self.float_module(feats, plain(points))
        feats = expect_int_qtensor(feats, self)
        if isinstance(points, QTensor):
            raise TypeError("IpmSample: points must be float (the module quantizes them)")
        self.float_module.check_inputs(feats, points)
        hf, wf = feats.shape[-2:]
        check_grid_fits(float(self.grid_scale), hf, wf)
        pc = quantize_points(points, float(self.grid_scale))
        zp = int(feats.q_zero_point)
        q = ipm_sample_integer(plain(feats), zp, feats.q_dtype, pc, self.k, self.num_views)
        out = make_qtensor(q, feats.q_scale, feats.q_zero_point, feats.q_dtype)
        self._emit(lambda rec: self._export(rec, feats, points, out))
        return out

    def _export(self, rec, feats: QTensor, points: torch.Tensor, out: QTensor) -> None:
        n, c, hf, wf = feats.shape
        hb, wb = points.shape[1:3]
        v = self.num_views
        b = n // v
        k, qd = self.k, feats.q_dtype
        one_px = 2**k
        zp = int(feats.q_zero_point)
        acc_t = accumulator_dtype(k, qd)
        acc_np, acc_onnx = (np.int32, 6) if acc_t == torch.int32 else (np.int64, 7)
        i32 = lambda x, hint: rec.const(np.array(x, np.int32), hint)  # noqa: E731
        i64 = lambda x, hint: rec.const(np.array(x, np.int64), hint)  # noqa: E731
        acc_c = lambda x, hint: rec.const(np.array(x, acc_np), hint)  # noqa: E731
        pts = rec.quantize(self._name(points), float(self.grid_scale), 0, np.int16, "points_q")
        p = rec.node1("Cast", [pts], "p_i32", to=6)
        # floor division of a non-negative int32 (ONNX Div truncates toward zero)
        p = rec.node1("Add", [p, i32(2**_OFFSET_BITS, "offset")], "p_pos")
        cell = rec.node1("Div", [p, i32(one_px, "one_px")], "cell_pos")
        frac = rec.node1("Sub", [p, rec.node1("Mul", [cell, i32(one_px, "one_px")], "cell_fx")])
        cell = rec.node1("Sub", [cell, i32(2 ** (_OFFSET_BITS - k), "cell_offset")], "cell")
        comp = [rec.node1("Gather", [t, i64(i, f"axis_{i}")], f"{nm}_{i}", axis=3)
                for t, nm in ((cell, "c"), (frac, "f")) for i in (0, 1)]  # fmt: skip
        x0, y0, fx, fy = comp
        full = i32(one_px, "w_full")
        wx = (rec.node1("Sub", [full, fx], "wx0"), fx)
        wy = (rec.node1("Sub", [full, fy], "wy0"), fy)
        one, zero = i32(1, "one"), i32(0, "zero")
        xmax, ymax = i32(wf - 1, "xmax"), i32(hf - 1, "ymax")
        xs = (x0, rec.node1("Add", [x0, one], "x1"))
        ys = (y0, rec.node1("Add", [y0, one], "y1"))
        # centred codes (N*Hf*Wf, C) in the accumulator dtype
        f = rec.node1("Cast", [self._name(feats)], "feat_int", to=acc_onnx)
        f = rec.node1("Sub", [f, acc_c(zp, "feat_zp")], "feat_c")
        f = rec.node1("Transpose", [f], "feat_t", perm=[0, 2, 3, 1])
        f = rec.node1("Reshape", [f, i64([n * hf * wf, c], "flat_shape")], "feat_flat")
        base = i32(np.arange(n, dtype=np.int32).reshape(n, 1, 1) * (hf * wf), "view_base")
        width = i32(wf, "width")
        w_shape = i64([n, hb, wb, 1], "w_shape")
        acc = None
        for dx, dy in _CORNERS:
            xc, yc = xs[dx], ys[dy]
            ins = [
                rec.node1("GreaterOrEqual", [xc, zero], "x_ge0"),
                rec.node1("LessOrEqual", [xc, xmax], "x_le"),
                rec.node1("GreaterOrEqual", [yc, zero], "y_ge0"),
                rec.node1("LessOrEqual", [yc, ymax], "y_le"),
            ]
            ok = rec.node1("And", [rec.node1("And", ins[:2], "x_in"), rec.node1("And", ins[2:])])
            okc = rec.node1("Cast", [ok], "inside", to=6)
            w = rec.node1("Mul", [rec.node1("Mul", [wy[dy], wx[dx]], "w"), okc], "w_in")
            w = rec.node1("Reshape", [w, w_shape], "w_r")
            if acc_onnx != 6:
                w = rec.node1("Cast", [w], "w_acc", to=acc_onnx)
            cy = rec.node1("Clip", [yc, zero, ymax], "cy")
            cx = rec.node1("Clip", [xc, zero, xmax], "cx")
            idx = rec.node1("Add", [rec.node1("Mul", [cy, width], "row"), cx], "idx_v")
            idx = rec.node1("Cast", [rec.node1("Add", [idx, base], "idx_i32")], "idx", to=7)
            val = rec.node1("Gather", [f, idx], "tap", axis=0)  # (N, Hb, Wb, C)
            term = rec.node1("Mul", [val, w], "term")
            acc = term if acc is None else rec.node1("Add", [acc, term], "acc")
        # z + floor((acc + 2^(2k-1)) / 2^(2k)), the floor taken on acc + R 2^(2k) >= 0; max over
        # the views first on int32 (it commutes with the rounding), after the rounding on int64
        # (ORT 1.31's int64 ReduceMax/Max return wrong maxima for values beyond 2^32)
        span = qd.qmax - qd.qmin
        denom = one_px * one_px
        view_shape = i64([b, v, hb, wb, c], "view_shape")
        view_axis = i64([1], "view_axis")

        def rounded(t: str) -> str:
            t = rec.node1("Add", [t, acc_c(span * denom + denom // 2, "round_offset")])
            return rec.node1("Div", [t, acc_c(denom, "w_sum")], "y_pos")

        if acc_onnx == 6:
            acc = rec.node1("Reshape", [acc, view_shape], "acc_views")
            y = rounded(rec.node1("ReduceMax", [acc, view_axis], "acc_max", keepdims=0))
        else:
            y = rec.node1("Cast", [rounded(acc)], "y_pos_i32", to=6)
            y = rec.node1("Reshape", [y, view_shape], "y_views")
            y = rec.node1("ReduceMax", [y, view_axis], "y_max", keepdims=0)
        y = rec.node1("Add", [y, i32(zp - span, "y_zp")], "y_int")
        yq = rec.node1("Cast", [y], "y_q", to=_onnx_dtype(np_dtype(qd)))
        out.trace_name = rec.node1("Transpose", [yq], "out", perm=[0, 3, 1, 2])

    def extra_repr(self) -> str:
        return f"num_views={self.num_views}, grid_scale=2^-{self.k}"


def _onnx_dtype(dt: np.dtype) -> int:
    from onnx import helper

    return int(helper.np_dtype_to_tensor_dtype(np.dtype(dt)))
