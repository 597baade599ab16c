"""Integer bilinear upsampling by integer factors (``align_corners=False``), bit-exact on ORT.

For an integer factor ``s`` along an axis of length ``n``, output pixel ``i`` samples the
source coordinate ``(i + 0.5) / s - 0.5`` clamped to ``[0, n - 1]`` (torch's and ONNX's
``pytorch_half_pixel``). Times ``2 s`` it is the integer ``C = clip(2 i + 1 - s, 0,
2 s (n - 1))``: the taps are ``i0 = C // (2 s)``, ``i1 = min(i0 + 1, n - 1)`` with the integer
weights ``(2 s - f, f)``, ``f = C - 2 s i0`` (they sum to ``2 s``). With ``D = (2 s_h)(2 s_w)``
and the input codes ``q`` (zero point ``z``):

* ``acc = sum_taps wy * wx * (q - z)`` (separable: rows first, then columns; exact in int32,
  ``|acc| <= R D`` with ``R = qmax - qmin``);
* ``y = z + floor((acc + D / 2) / D)`` (round half up). The weights are convex, so ``y`` lies
  between the smallest and the largest input code: no saturation, and the output keeps the
  input's scale, zero point and dtype.

The result is within half an LSB of the exact bilinear value of the input codes (the float
bilinear of the dequantized input, up to float rounding). ONNX (:func:`export_upsample_integer`):
``Cast`` to int32, ``Sub`` of ``qmin``, ``Pad`` (mode ``edge``: the clamping), then per output
phase (:func:`phase_taps`: output ``s k + p`` is a fixed 2-tap sum of the padded input at
``k + a_p`` and ``k + a_p + 1``) ``Slice``/``Mul``/``Add`` by constant int32 weights on the
non-negative ``q - qmin``, the rounding offset added to the rows, ``Div`` (which truncates, so
it floors there), ``Add`` and ``Cast`` back per phase plane, and the planes interleaved by
``Concat``/``Transpose``/``Reshape``: integer ops only, the same value as
:func:`upsample_integer` (``z + floor((acc + D/2) / D) = qmin + floor((sum w (q - qmin) +
D/2) / D)``).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch

from hat.quantization.qdtypes import QDType

__all__ = [
    "integer_upsample_factors",
    "axis_taps",
    "upsample_integer",
    "export_upsample_integer",
    "phase_taps",
    "fits_int32",
]

_INT32_MAX = 2**31 - 1
_INT16_SPAN = 65535  # the widest code range (int16)


def fits_int32(sh: int, sw: int, span: int = _INT16_SPAN) -> bool:
    """Whether the offset accumulator ``2 R D + D / 2`` of factors ``(sh, sw)`` fits int32."""
    d = 4 * int(sh) * int(sw)
    return 2 * int(span) * d + d // 2 <= _INT32_MAX


def _as_int_factor(v: object) -> int | None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    f = float(v)
    return int(f) if f.is_integer() and f >= 1 else None


def integer_upsample_factors(
    scale_factor: float | Sequence[float] | None,
    size: Sequence[int] | None,
    mode: str,
    align_corners: bool | None,
) -> tuple[int, int] | None:
    """``(s_h, s_w)`` when an ``Interpolate`` of these arguments is a bilinear upsampling by
    integer factors (``align_corners`` False, ``scale_factor`` given, every factor an integer
    >= 1, at least one >= 2, the accumulator within int32 for int16 codes), else None."""
    if mode != "bilinear" or align_corners or size is not None or scale_factor is None:
        return None
    sf = scale_factor
    pair = tuple(sf) if isinstance(sf, (tuple, list)) else (sf, sf)
    if len(pair) != 2:
        return None
    sh, sw = (_as_int_factor(v) for v in pair)
    if sh is None or sw is None or max(sh, sw) < 2 or not fits_int32(sh, sw):
        return None
    return sh, sw


def axis_taps(n: int, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tap indexes ``i0, i1`` (int64) and integer weights ``w0, w1`` (int32, sum ``2 s``) of
    the ``n * s`` outputs along one axis (module doc)."""
    if n < 1 or s < 1:
        raise ValueError(f"axis_taps: need n >= 1 and s >= 1, got n={n}, s={s}")
    two_s = 2 * s
    c = np.clip(2 * np.arange(n * s, dtype=np.int64) + 1 - s, 0, two_s * (n - 1))
    i0 = c // two_s
    f = c - two_s * i0
    i1 = np.minimum(i0 + 1, n - 1)
    return i0, i1, (two_s - f).astype(np.int32), f.astype(np.int32)


def upsample_integer(codes: torch.Tensor, zero_point: int, sh: int, sw: int) -> torch.Tensor:
    """Output codes (the input's dtype) of the module doc's formula for NCHW integer
    ``codes``."""
    h, w = codes.shape[-2:]
    dev = codes.device
    t = lambda a: torch.from_numpy(a).to(dev)  # noqa: E731
    y0, y1, wy0, wy1 = (t(a) for a in axis_taps(h, sh))
    x0, x1, wx0, wx1 = (t(a) for a in axis_taps(w, sw))
    x = codes.to(torch.int32) - int(zero_point)
    rows = x.index_select(-2, y0) * wy0[:, None] + x.index_select(-2, y1) * wy1[:, None]
    acc = rows.index_select(-1, x0) * wx0 + rows.index_select(-1, x1) * wx1
    d = 4 * sh * sw
    out = torch.div(acc + d // 2, d, rounding_mode="floor") + int(zero_point)
    return out.to(codes.dtype)


def phase_taps(s: int) -> list[tuple[int, int, int]]:
    """Output phase ``p`` of factor ``s`` (outputs ``i = s k + p``) as ``(a, w0, w1)``: the sum
    ``w0 xp[k + a] + w1 xp[k + a + 1]`` of the input ``xp`` edge-padded by one (``s > 1``; no
    padding for ``s == 1``), ``w0 + w1 = 2 s`` (the weights of :func:`axis_taps`)."""
    if s < 1:
        raise ValueError(f"phase_taps: need s >= 1, got s={s}")
    if s == 1:
        return [(0, 2, 0)]
    out = []
    for p in range(s):
        off = 2 * p + 1 - s  # 2 s times the source coordinate's offset from k
        out.append((0, -off, 2 * s + off) if off < 0 else (1, 2 * s - off, off))
    return out


def export_upsample_integer(
    rec, src: str, in_shape: Sequence[int], qd: QDType, sh: int, sw: int
) -> str:
    """Record the integer ONNX ops of :func:`upsample_integer` reading the NCHW integer tensor
    ``src`` (codes of ``qd``, shape ``in_shape``; the zero point cancels out, see below);
    returns the output tensor's name (dtype of ``qd``).

    Per output phase (:func:`phase_taps`): the phase planes are 2-tap sums of ``Slice``s of
    the edge-padded input (``Pad`` mode ``edge`` reproduces the clamping), the weighted copies
    made once per distinct weight; each of the ``s_h s_w`` planes is divided and cast back, and
    the planes are interleaved on the output dtype: the columns by ``Concat`` and a 2-D
    ``Transpose``, the rows by ``Concat`` of whole rows."""
    from onnx import helper

    from hat.quantization.quantized.base import np_dtype

    n, c, h, w = (int(v) for v in in_shape)
    i32 = lambda x, hint: rec.const(np.asarray(x, np.int32), hint)  # noqa: E731
    i64 = lambda x, hint: rec.const(np.asarray(x, np.int64), hint)  # noqa: E731
    # the same value as upsample_integer with non-negative operands (Div truncates): codes
    # q - qmin >= 0, the rounding offset D/2 = 2 s_w * s_h added to the rows (on the tap whose
    # weight exceeds s_h: exactly one per row phase), then
    # y = floor((sum w (q - qmin) + D/2) / D) + qmin = z + floor((acc + D/2) / D)
    qmin = int(qd.qmin)
    x = rec.node1("Cast", [src], "x_i32", to=6)
    if qmin != 0:
        x = rec.node1("Sub", [x, i32(qmin, "qmin")], "x_pos")
    ph, pw = int(sh > 1), int(sw > 1)
    if ph or pw:
        pads = i64([0, 0, ph, pw, 0, 0, ph, pw], "pads")
        x = rec.node1("Pad", [x, pads], "x_pad", mode="edge")

    def sliced(t: str, axis: int, start: int, size: int, hint: str) -> str:
        bounds = [i64([start], "start"), i64([start + size], "end"), i64([axis], "axis")]
        return rec.node1("Slice", [t, *bounds], hint)

    def weighted(t: str, s: int, offset: int, tag: str) -> dict[int, str]:
        """``t * wt (+ offset where wt > s)`` for every weight ``wt`` of the phases."""
        out = {}
        for wt in sorted({v for _, w0, w1 in phase_taps(s) for v in (w0, w1) if v}):
            v = t if wt == 1 else rec.node1("Mul", [t, i32(wt, f"w{tag}")], f"{tag}_x{wt}")
            if offset and wt > s:
                v = rec.node1("Add", [v, i32(offset, "round_offset")], f"{tag}_x{wt}_round")
            out[wt] = v
        return out

    def phases(t: str, axis: int, s: int, size: int, offset: int, tag: str) -> list[str]:
        terms = weighted(t, s, offset, tag)
        out = []
        for p, (a, w0, w1) in enumerate(phase_taps(s)):
            parts = [
                sliced(terms[wt], axis, a + j, size, f"{tag}{p}_tap{j}")
                for j, wt in enumerate((w0, w1))
                if wt
            ]
            out.append(parts[0] if len(parts) == 1 else rec.node1("Add", parts, f"{tag}{p}"))
        return out

    to = int(helper.np_dtype_to_tensor_dtype(np.dtype(np_dtype(qd))))
    d = i32(4 * sh * sw, "w_sum")
    rows_out = []
    for r, rows in enumerate(phases(x, 2, sh, h, sh, "y")):
        planes = []
        for col in phases(rows, 3, sw, w, 0, f"x{r}_"):
            y = rec.node1("Div", [col, d], "y_pos")
            if qmin != 0:
                y = rec.node1("Add", [y, i32(qmin, "y_qmin")], "y_int")
            planes.append(rec.node1("Cast", [y], "y_plane", to=to))
        # interleave the columns: (s_w, n c h w) -> (n c h w, s_w), one row per (n, c, h)
        y = planes[0]
        if sw > 1:
            y = rec.node1("Concat", planes, "y_cols", axis=0)
            y = rec.node1("Reshape", [y, i64([sw, n * c * h * w], "col_phases")], "y_pc")
            y = rec.node1("Transpose", [y], "y_cw", perm=[1, 0])
        rows_out.append(rec.node1("Reshape", [y, i64([n * c * h, 1, w * sw], "row")], "y_row"))
    # interleave the rows: Concat of row blocks (a Concat, which ORT's transpose optimizer
    # does not merge with the column Transpose into one slow element-wise permutation)
    y = rows_out[0] if sh == 1 else rec.node1("Concat", rows_out, "y_rows", axis=1)
    return rec.node1("Reshape", [y, i64([n, c, h * sh, w * sw], "out_shape")], "y_q")
