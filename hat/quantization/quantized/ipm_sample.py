"""Integer multi-view IPM sampling (``IpmSample`` of the BEV view transformer), bit-exact on ORT.

Inputs: feature codes ``q`` ``(N, C, Hf, Wf)`` (``N = B * V``, scale ``s``, zero point ``z``,
``R = qmax - qmin``) and float points ``(N, Hb, Wb, 2)`` (feature pixels, centres at integers).

* points: ``p = QuantizeLinear(points, 2^-k, 0)`` int16 (``2^-k``: ``grid_quant_scale``);
* weights have ``m = min(k, floor(log2(2^24 / R) / 2))`` fractional bits (8 for 8-bit
  features, 4 for int16 features): ``P = floor(p / 2^(k - m))``, ``x0 = floor(P / 2^m)``,
  ``fx = P - x0 * 2^m``, ``wx = (2^m - fx, fx)`` (same for y);
* corner ``(x0 + dx, y0 + dy)``: ``w = wy[dy] * wx[dx] * inside`` (0 outside the map: zero
  padding reads the zero point), value ``q[corner] - z``;
* ``acc_v = sum_corners (q - z) * w`` (int32, ``|acc_v| <= R * 2^(2m) <= 2^24``);
* ``acc = max_v acc_v`` (the maximum over the views commutes with the monotone rounding
  below, so it equals the maximum of the per-view codes);
* ``y_q = saturate(round_half_even(float32(acc) * 2^(-2m)) + z)``: every float32 value is an
  integer or a power-of-two multiple of one below 2^24, so the conversion and the product
  are exact, and ``QuantizeLinear(y, 1, z)`` rounds as ``torch.round``.

The output keeps the features' scale and zero point. ONNX: int32 Cast/Add/Div/Mul/Sub/Clip/
compare/Gather/ReduceMax, one float32 Cast/Mul and QuantizeLinear; ORT computes it bit for
bit as :func:`ipm_sample_integer`.
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
from hat.quantization.quantized.intops import quantize, requantize

__all__ = [
    "IntIpmSample",
    "check_grid_fits",
    "default_grid_scale",
    "grid_bits",
    "ipm_sample_integer",
    "ipm_weight_bits",
    "quantize_points",
]

_F32_EXACT_BITS = 24
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


def ipm_weight_bits(k: int, qd: QDType) -> int:
    """Fractional bits ``m`` of the bilinear weights (see module doc)."""
    span = qd.qmax - qd.qmin
    return min(int(k), int(math.floor(math.log2(2**_F32_EXACT_BITS / span) / 2)))


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
    m = ipm_weight_bits(k, qd)
    dev = codes.device
    feat = (codes.to(torch.int64) - int(zero_point)).permute(0, 2, 3, 1).reshape(n * hf * wf, c)
    p = torch.div(point_codes.to(torch.int64), 2 ** (k - m), rounding_mode="floor")
    x0 = torch.div(p[..., 0], 2**m, rounding_mode="floor")
    y0 = torch.div(p[..., 1], 2**m, rounding_mode="floor")
    fx, fy = p[..., 0] - x0 * 2**m, p[..., 1] - y0 * 2**m
    wx, wy = (2**m - fx, fx), (2**m - fy, fy)
    base = (torch.arange(n, device=dev) * (hf * wf)).view(n, 1, 1)
    acc = torch.zeros(n, hb, wb, c, dtype=torch.int64, device=dev)
    for dx, dy in _CORNERS:
        xc, yc = x0 + dx, y0 + dy
        inside = (xc >= 0) & (xc <= wf - 1) & (yc >= 0) & (yc <= hf - 1)
        w = wy[dy] * wx[dx] * inside.to(torch.int64)
        idx = base + yc.clamp(0, hf - 1) * wf + xc.clamp(0, wf - 1)
        acc += feat[idx.reshape(-1)].reshape(n, hb, wb, c) * w.unsqueeze(-1)
    acc = acc.reshape(b, num_views, hb, wb, c)
    if keep is not None:
        acc = acc * keep.to(torch.int64).view(b, num_views, 1, 1, 1)
    best = acc.amax(dim=1).to(torch.int32)
    mult = torch.tensor(2.0 ** (-2 * m), dtype=torch.float32, device=dev)
    out = requantize(best, mult, int(zero_point), qd)
    return out.permute(0, 3, 1, 2).contiguous()


class IntIpmSample(IntModule):
    """Integer ``IpmSample`` (see module doc); the output keeps the features' qparams."""

    deploy_kind = INTEGER
    deploy_note = (
        "int16 points (QuantizeLinear), int32 fixed-point bilinear weights, Gather of the "
        "centred codes and sums, ReduceMax over the views (Cast/Add/Div/Mul/Sub/Clip/Gather/"
        "ReduceMax on int32), then one exact Cast/Mul and QuantizeLinear"
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
        m = ipm_weight_bits(k, qd)
        zp = int(feats.q_zero_point)
        i32 = lambda x, hint: rec.const(np.array(x, np.int32), hint)  # noqa: E731
        i64 = lambda x, hint: rec.const(np.array(x, np.int64), hint)  # noqa: E731
        pts = rec.quantize(self._name(points), float(self.grid_scale), 0, np.int16, "points_q")
        p = rec.node1("Cast", [pts], "p_i32", to=6)
        # floor division of a non-negative int32 (ONNX Div truncates)
        p = rec.node1("Add", [p, i32(2**_OFFSET_BITS, "offset")], "p_pos")
        p = rec.node1("Div", [p, i32(2 ** (k - m), "frac_drop")], "p_m")
        cell = rec.node1("Div", [p, i32(2**m, "one_px")], "cell_pos")
        frac = rec.node1("Sub", [p, rec.node1("Mul", [cell, i32(2**m, "one_px")], "cell_m")])
        cell = rec.node1("Sub", [cell, i32(2 ** (_OFFSET_BITS - k), "cell_offset")], "cell")
        comp = [rec.node1("Gather", [t, i64(i, f"axis_{i}")], f"{nm}_{i}", axis=3)
                for t, nm in ((cell, "c"), (frac, "f")) for i in (0, 1)]  # fmt: skip
        x0, y0, fx, fy = comp
        full = i32(2**m, "w_full")
        wx = (rec.node1("Sub", [full, fx], "wx0"), fx)
        wy = (rec.node1("Sub", [full, fy], "wy0"), fy)
        one, zero = i32(1, "one"), i32(0, "zero")
        xmax, ymax = i32(wf - 1, "xmax"), i32(hf - 1, "ymax")
        xs = (x0, rec.node1("Add", [x0, one], "x1"))
        ys = (y0, rec.node1("Add", [y0, one], "y1"))
        # centred codes (N*Hf*Wf, C) int32
        f = rec.node1("Cast", [self._name(feats)], "feat_i32", to=6)
        f = rec.node1("Sub", [f, i32(zp, "feat_zp")], "feat_c")
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
            cy = rec.node1("Clip", [yc, zero, ymax], "cy")
            cx = rec.node1("Clip", [xc, zero, xmax], "cx")
            idx = rec.node1("Add", [rec.node1("Mul", [cy, width], "row"), cx], "idx_v")
            idx = rec.node1("Cast", [rec.node1("Add", [idx, base], "idx_i32")], "idx", to=7)
            val = rec.node1("Gather", [f, idx], "tap", axis=0)  # (N, Hb, Wb, C)
            term = rec.node1("Mul", [val, w], "term")
            acc = term if acc is None else rec.node1("Add", [acc, term], "acc")
        acc = rec.node1("Reshape", [acc, i64([b, v, hb, wb, c], "view_shape")], "acc_views")
        best = rec.node1("ReduceMax", [acc, i64([1], "view_axis")], "acc_max", keepdims=0)
        y = rec.node1("Cast", [best], "acc_f", to=1)
        y = rec.node1("Mul", [y, rec.const(np.float32(2.0 ** (-2 * m)), "w_scale")], "y")
        yq = rec.quantize(y, 1.0, zp, np_dtype(qd), "y_q")
        out.trace_name = rec.node1("Transpose", [yq], "out", perm=[0, 3, 1, 2])

    def extra_repr(self) -> str:
        return f"num_views={self.num_views}, grid_scale=2^-{self.k}"
