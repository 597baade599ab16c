"""Integer-input LayerNorm over the last dimension, reproduced bit for bit on ONNX Runtime.

With ``d = q - zp`` (the input codes relative to their zero point, ``x = s d``), LayerNorm is
scale-free except for its epsilon: ``(x - mean) / sqrt(var + eps) = (d - m) / sqrt(v + eps /
s^2)`` with ``m``, ``v`` the mean and variance of ``d``. The two sums ``S1 = sum d`` and
``S2 = sum d^2`` are integers, computed exactly (int32 ``ReduceSum`` on ORT: no reduction order
to agree on); everything after them is a fixed sequence of element-wise float32 operations,
each correctly rounded in both PyTorch and ORT:

    m = f32(S1) * (1/C);  v = max(f32(S2) * (1/C) - m * m, 0)
    y = (f32(d) - m) / sqrt(v + eps / s^2);  y = y * gamma + beta;  y_q = Q(y)

A named float island (ORT has no integer LayerNorm kernel) whose outputs the integer model
matches exactly. The sums need ``C * R^2 < 2^31`` (``R`` the code range: 8-bit inputs up to
C = 33 000 channels).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import (
    FLOAT_ISLAND,
    Deployment,
    IntModule,
    expect_int_qtensor,
    is_quantized,
)
from hat.quantization.quantized.intops import quantize

__all__ = ["IntLayerNorm", "IntNorm", "emit_normalise", "normalise_centred"]


def normalise_centred(
    d: torch.Tensor, inv_n: torch.Tensor, eps_codes: torch.Tensor
) -> torch.Tensor:
    """Float32 ``(d - m) / sqrt(v + eps_codes)`` over the last dimension of the int32 codes
    ``d`` (relative to their zero point), with ``m``, ``v`` from the exact int32 sums (the
    module doc's sequence; ``inv_n`` is ``float32(1 / n)``)."""
    s1 = d.sum(-1, keepdim=True, dtype=torch.int32)
    s2 = (d * d).sum(-1, keepdim=True, dtype=torch.int32)
    m = s1.float() * inv_n
    v = s2.float() * inv_n - m * m
    v = torch.clamp_min(v, 0.0)
    return (d.float() - m) / torch.sqrt(v + eps_codes)


def emit_normalise(rec, d: str, inv_n: torch.Tensor, eps_codes: torch.Tensor) -> str:
    """ONNX nodes of :func:`normalise_centred` on the int32 tensor named ``d``; returns the
    name of the float32 result."""
    axes = rec.const(np.array([-1], np.int64), "axes")
    s1 = rec.node1("ReduceSum", [d, axes], "s1", keepdims=1)
    sq = rec.node1("Mul", [d, d], "d2")
    s2 = rec.node1("ReduceSum", [sq, axes], "s2", keepdims=1)
    inv = rec.const(inv_n.numpy(), "inv_n", np.float32)
    m = rec.node1("Mul", [rec.node1("Cast", [s1], "s1_f", to=1), inv], "mean")
    e2 = rec.node1("Mul", [rec.node1("Cast", [s2], "s2_f", to=1), inv], "mean_sq")
    v = rec.node1("Sub", [e2, rec.node1("Mul", [m, m], "mean2")], "var_raw")
    v = rec.node1("Max", [v, rec.const(np.float32(0.0), "zero", np.float32)], "var")
    den = rec.node1("Sqrt", [rec.node1("Add", [v, rec.const(eps_codes.numpy(), "eps")], "v_eps")])
    df = rec.node1("Cast", [d], "d_f", to=1)
    return rec.node1("Div", [rec.node1("Sub", [df, m], "centred"), den], "normed")


class IntNorm(IntModule):
    """Shared part of the integer-input normalisations: the affine ``gamma``/``beta``
    (float32), the input scale and ``eps`` in code units (one float32 constant shared with the
    exported graph), the output qparams; a named float island on ORT."""

    kind = "LayerNorm"
    statistics = "the codes"

    def __init__(self, channels: int, eps: float, weight, bias, input_scale, out) -> None:
        super().__init__()
        self.channels = int(channels)
        self.eps = float(eps)
        w = torch.ones(channels) if weight is None else weight.detach().float().clone()
        b = torch.zeros(channels) if bias is None else bias.detach().float().clone()
        self.register_buffer("gamma", w)
        self.register_buffer("beta", b)
        s = float(input_scale)
        if s <= 0.0:
            raise RuntimeError(
                f"{type(self).__name__}: input scale unknown; calibrate the model before convert()"
            )
        self.register_buffer("input_scale", torch.tensor(s))
        self.register_buffer("eps_codes", torch.tensor(np.float32(self.eps / (s * s))))
        self._init_output(*out)

    def deployment(self, inputs, output) -> Deployment:
        if not is_quantized(inputs[0]):
            return super().deployment(inputs, output)
        return Deployment(
            FLOAT_ISLAND,
            f"{self.kind}: ORT has no integer kernel; exact int32 sums of {self.statistics}, "
            "then element-wise float32 ops the integer model reproduces bit for bit",
        )


class IntLayerNorm(IntNorm):
    """LayerNorm of integer codes (see module doc)."""

    def __init__(self, channels: int, eps: float, weight, bias, input_scale, out) -> None:
        super().__init__(channels, eps, weight, bias, input_scale, out)
        self.register_buffer("inv_channels", torch.tensor(np.float32(1.0 / channels)))

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntLayerNorm:
        fq = qat.activation_post_process
        return cls(
            qat.normalized_shape[0], qat.eps, qat.weight, qat.bias, qat.input_scale,
            (fq.scale, fq.zero_point, fq.qdtype),
        )  # fmt: skip

    def _normalise(self, d: torch.Tensor) -> torch.Tensor:
        """Float32 ``y`` from the int32 differences ``d`` (the module doc's sequence)."""
        y = normalise_centred(d, self.inv_channels, self.eps_codes)
        return y * self.gamma + self.beta

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return torch.nn.functional.layer_norm(
                x, (self.channels,), self.gamma, self.beta, self.eps
            )
        x = expect_int_qtensor(x, self)
        if x.shape[-1] != self.channels:
            raise ValueError(
                f"IntLayerNorm: input has {x.shape[-1]} channels, expected {self.channels}"
            )
        zp = int(x.q_zero_point)
        span = max(zp - x.q_dtype.qmin, x.q_dtype.qmax - zp)
        if self.channels * span * span >= 2**31:
            raise OverflowError("IntLayerNorm: the int32 sum of squares could overflow")
        d = plain(x).to(torch.int32) - zp
        out = self._wrap(quantize(self._normalise(d), self.out_scale, self.out_zp, self.out_qdtype))

        def export(rec) -> None:
            i32 = rec.node1("Cast", [self._name(x)], "codes", to=6)
            d_ = rec.node1("Sub", [i32, rec.const(np.array(zp, np.int32), "zp")], "d")
            y = emit_normalise(rec, d_, self.inv_channels, self.eps_codes)
            y = rec.node1("Mul", [y, rec.const(self.gamma.numpy(), "gamma")], "scaled")
            y = rec.node1("Add", [y, rec.const(self.beta.numpy(), "beta")], "shifted")
            self._q_out(rec, y, out)

        self._emit(export)
        return out

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}, " + super().extra_repr()
