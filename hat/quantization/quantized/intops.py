"""Integer arithmetic of the fixed-point model, with its rounding defined once.

Semantics (chosen to equal ONNX Runtime bit for bit, see hat/quantization/README.md):

* ``quantize(x, s, zp) = saturate(round_half_even(x / s) + zp)``: float32 division, as ONNX
  ``QuantizeLinear`` on ORT (measured: x/s, not x * (1/s)).
* ``dequantize(q, s, zp) = float32(q - zp) * s`` (ORT ``DequantizeLinear``).
* conv: ``acc = sum (x_q - x_zp) * w_q`` computed exactly (int32 semantics), ``acc += b_q``
  (int32 bias, ``b_q = round_half_even(b / float32(s_in * s_w[c]))``), then
  ``y_q = saturate(round_half_even(float32(acc) * M[c]) + y_zp)`` with
  ``M[c] = float32(float32(s_in * s_w[c]) / s_out)``; this is ORT's QLinearConv requantization
  (float32 multiplier, round-half-even conversion), measured bit-exact.

:func:`exact_conv2d` computes the integer accumulator with float convolutions whose every
partial sum is an integer of magnitude below 2^24 (float32) or 2^53 (float64), hence exact
whatever the summation order: with ``A = max |x_q - x_zp|`` and ``L1 = max_c sum |w_q[c]|``
every partial sum is bounded by ``A * L1``. When ``A * L1 >= 2^24`` the input is split as
``x = hi * B + lo`` (``0 <= lo < B``) so that both halves satisfy the bound; otherwise float64
is used. This relies on the float convolution being a plain sum of products (direct/im2col;
PyTorch's CPU default); :func:`fp32_conv_is_exact` refuses reduced-precision modes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hat.quantization.qdtypes import QDType

__all__ = [
    "quantize",
    "dequantize",
    "requantize",
    "exact_conv2d",
    "fp32_conv_is_exact",
    "conv_split_plan",
]

_F32_EXACT = 2**24


def quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: int, qd: QDType) -> torch.Tensor:
    """``saturate(round_half_even(x / scale) + zero_point)`` as ``qd.torch_dtype``."""
    q = torch.div(x.to(torch.float32), scale.to(torch.float32))
    q = q.round_().add_(float(zero_point))
    return q.clamp_(qd.qmin, qd.qmax).to(qd.torch_dtype)


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: int) -> torch.Tensor:
    """``float32(q - zero_point) * scale``."""
    return (q.to(torch.int32) - int(zero_point)).to(torch.float32) * scale.to(torch.float32)


def requantize(
    acc: torch.Tensor,
    multiplier: torch.Tensor,
    zero_point: int,
    qd: QDType,
    lower: int | None = None,
) -> torch.Tensor:
    """``saturate(round_half_even(float32(acc) * multiplier) + zero_point)``.

    ``multiplier`` broadcasts against ``acc`` (per channel: shape ``(1, C, 1, 1)``); ``lower``
    raises the saturation floor (fused ReLU: ``lower = zero_point``).
    """
    q = acc.to(torch.float32) * multiplier
    q = q.round_().add_(float(zero_point))
    lo = qd.qmin if lower is None else max(qd.qmin, lower)
    return q.clamp_(lo, qd.qmax).to(qd.torch_dtype)


def fp32_conv_is_exact() -> bool:
    """False when a global setting lets float32 convs use TF32/BF16 arithmetic."""
    prec = getattr(torch.backends.mkldnn, "fp32_precision", "none")
    return prec in ("none", "ieee") and torch.get_float32_matmul_precision() == "highest"


def conv_split_plan(amax: int, l1: int) -> tuple[str, int]:
    """How to compute a conv exactly: ``("f32", 0)``, ``("split", B)`` or ``("f64", 0)``."""
    if amax * l1 < _F32_EXACT and fp32_conv_is_exact():
        return "f32", 0
    if fp32_conv_is_exact():
        for b in range(1, 16):
            base = 1 << b
            hi = math.ceil((amax + 1) / base)
            if hi * l1 < _F32_EXACT and (base - 1) * l1 < _F32_EXACT:
                return "split", base
    if amax * l1 >= 2**53:
        raise OverflowError("integer conv accumulator bound exceeds 2^53")
    return "f64", 0


def exact_conv2d(
    xc: torch.Tensor,
    weight_f32: torch.Tensor,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    plan: tuple[str, int],
) -> torch.Tensor:
    """Exact integer conv of centred integer input ``xc`` (float32 holding integers) with
    integer weights (float32 holding int8 values); returns the int32 accumulator."""
    kind, base = plan
    if xc.is_cuda and (torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32):
        kind = "f64"  # TF32 convolutions are not exact
    if kind == "f32":
        return F.conv2d(xc, weight_f32, None, stride, padding, dilation, groups).to(torch.int32)
    if kind == "split":
        hi = torch.floor(xc / base)
        lo = xc - hi * base
        acc_hi = F.conv2d(hi, weight_f32, None, stride, padding, dilation, groups)
        acc_lo = F.conv2d(lo, weight_f32, None, stride, padding, dilation, groups)
        return acc_hi.to(torch.int64).mul_(base).add_(acc_lo.to(torch.int64)).to(torch.int32)
    acc = F.conv2d(
        xc.to(torch.float64), weight_f32.to(torch.float64), None, stride, padding, dilation, groups
    )
    return acc.to(torch.int32)
