"""ONNX Runtime's fused ``QLinearAdd`` on x86-64 (MLAS AVX2 kernel), reproduced bit for bit.

ORT at ENABLE_EXTENDED/ALL fuses ``DQ(a), DQ(b) -> Add -> Q`` on 8-bit tensors into
``QLinearAdd``, whose AVX2 kernel does not evaluate the reference ``Q(DQ(a) + DQ(b))``
(what :class:`~hat.quantization.quantized.functional.IntAdd` computes) but, in float32 with
fused multiply-adds::

    R_a = float32(s_a / s_c), R_b = float32(s_b / s_c)
    F = float32(z_c) - fma(R_a, z_a, float32(R_b * z_b))
    y = saturate(round_half_even(fma(a, R_a, fma(b, R_b, F))))

``a``/``b`` are the raw codes (zero points folded into ``F``). The two differ by one LSB on a
few elements per million, and in a deep network such flips spread: on the demo StereoNet (11
uint8 residual adds) 7 % of the output elements differed between ORT and the reference integer
model, and none with this formula (20 test pairs). An integer model meant to match ORT's fused
kernels on x86-64 computes 8-bit adds with :func:`ort_qlinear_add`; other MLAS builds (SSE2
only, ARM NEON's fixed-point path) round differently.
"""

from __future__ import annotations

import numpy as np
import torch

from hat.quantization.qdtypes import QDType

__all__ = ["ort_qlinear_add"]


def _fma32(x: np.ndarray, y: np.float32, z: np.ndarray | np.float32) -> np.ndarray:
    """float32 ``x * y + z`` rounded once: exact in float64 for 8-bit ``x`` (24 + 9 bits)."""
    return (x.astype(np.float64) * np.float64(y) + np.asarray(z, np.float64)).astype(np.float32)


def ort_qlinear_add(
    a: torch.Tensor,
    scale_a: float,
    zp_a: int,
    b: torch.Tensor,
    scale_b: float,
    zp_b: int,
    scale_c: float,
    zp_c: int,
    qd: QDType,
    relu: bool = False,
) -> torch.Tensor:
    """Output codes of ORT's x86-64 ``QLinearAdd(a, b)`` (see module doc); ``relu`` raises the
    floor to ``zp_c`` (the fused AddReLU). Inputs are 8-bit code tensors (broadcastable)."""
    f32 = np.float32
    r_a = f32(f32(scale_a) / f32(scale_c))
    r_b = f32(f32(scale_b) / f32(scale_c))
    fixed = f32(f32(zp_c) - _fma32(np.asarray(zp_a, f32), r_a, f32(r_b * f32(zp_b))))
    av = a.detach().cpu().numpy().astype(f32)
    bv = b.detach().cpu().numpy().astype(f32)
    y = np.rint(_fma32(av, r_a, _fma32(bv, r_b, fixed)))
    lo = max(qd.qmin, zp_c) if relu else qd.qmin
    y = np.clip(y, lo, qd.qmax)
    return torch.from_numpy(y.astype(np.int64)).to(qd.torch_dtype).to(a.device)
