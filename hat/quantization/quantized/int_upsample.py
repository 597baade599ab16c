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
bilinear of the dequantized input, up to float rounding). ONNX: ``Cast`` to int32, ``Sub``,
``Gather`` (constant tap indexes), ``Mul``/``Add`` by constant int32 weights on the
non-negative ``q - qmin``, the rounding offset added to the rows, ``Div`` (which truncates, so
it floors there), ``Add`` and ``Cast`` back: integer ops only, the same value as
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


def export_upsample_integer(
    rec, src: str, in_hw: tuple[int, int], qd: QDType, sh: int, sw: int
) -> str:
    """Record the integer ONNX ops of :func:`upsample_integer` reading the integer tensor
    ``src`` (codes of ``qd``; the zero point cancels out, see below); returns the output
    tensor's name (dtype of ``qd``)."""
    from onnx import helper

    from hat.quantization.quantized.base import np_dtype

    h, w = in_hw
    i32 = lambda x, hint: rec.const(np.asarray(x, np.int32), hint)  # noqa: E731
    i64 = lambda x, hint: rec.const(np.asarray(x, np.int64), hint)  # noqa: E731
    y0, y1, wy0, wy1 = axis_taps(h, sh)
    x0, x1, wx0, wx1 = axis_taps(w, sw)
    # the same value as upsample_integer with non-negative operands (Div truncates): codes
    # q - qmin >= 0, the rounding offset D/2 = 2 s_w * s_h added to the rows, then
    # y = floor((sum w (q - qmin) + D/2) / D) + qmin = z + floor((acc + D/2) / D)
    qmin = int(qd.qmin)
    x = rec.node1("Cast", [src], "x_i32", to=6)
    if qmin != 0:
        x = rec.node1("Sub", [x, i32(qmin, "qmin")], "x_pos")

    def taps(t: str, axis: int, i0, i1, w0, w1, shape, tag: str) -> str:
        a = rec.node1("Gather", [t, i64(i0, f"{tag}0")], f"{tag}_tap0", axis=axis)
        b = rec.node1("Gather", [t, i64(i1, f"{tag}1")], f"{tag}_tap1", axis=axis)
        a = rec.node1("Mul", [a, i32(w0.reshape(shape), f"w{tag}0")], f"{tag}_term0")
        b = rec.node1("Mul", [b, i32(w1.reshape(shape), f"w{tag}1")], f"{tag}_term1")
        return rec.node1("Add", [a, b], f"{tag}_sum")

    rows = taps(x, 2, y0, y1, wy0, wy1, (-1, 1), "y")
    rows = rec.node1("Add", [rows, i32(sh, "round_offset")], "y_round")
    acc = taps(rows, 3, x0, x1, wx0, wx1, (-1,), "x")
    y = rec.node1("Div", [acc, i32(4 * sh * sw, "w_sum")], "y_pos")
    if qmin != 0:
        y = rec.node1("Add", [y, i32(qmin, "y_qmin")], "y_int")
    to = int(helper.np_dtype_to_tensor_dtype(np.dtype(np_dtype(qd))))
    return rec.node1("Cast", [y], "y_q", to=to)
