"""Integer-input GroupNorm, reproduced bit for bit on ONNX Runtime.

The codes ``d = q - zp`` of each sample are viewed as ``(B, G, n)`` (``n = C / G`` channels
times the spatial size); each group is normalised exactly as
:mod:`hat.quantization.quantized.layer_norm` normalises a row (exact int32 sums ``S1``, ``S2``,
then a fixed sequence of correctly rounded float32 element-wise ops with ``eps / s^2``), then
``y * gamma[c] + beta[c]`` per channel and ``Q(y)``. A named float island (ORT has no integer
GroupNorm); the int32 sums need ``n * R^2 < 2^31`` (``R`` the largest ``|q - zp|``: 8-bit
inputs up to 33 000 elements per group, e.g. 8 channels of 64 x 64).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import (
    expect_int_qtensor,
)
from hat.quantization.quantized.intops import quantize
from hat.quantization.quantized.layer_norm import IntNorm, emit_normalise, normalise_centred

__all__ = ["IntGroupNorm"]


class IntGroupNorm(IntNorm):
    """GroupNorm of integer codes (see module doc)."""

    kind = "GroupNorm"
    statistics = "each group's codes"

    def __init__(
        self, num_groups: int, channels: int, eps: float, weight, bias, input_scale, out
    ) -> None:
        super().__init__(channels, eps, weight, bias, input_scale, out)
        self.num_groups = int(num_groups)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntGroupNorm:
        fq = qat.activation_post_process
        return cls(
            qat.num_groups, qat.num_channels, qat.eps, qat.weight, qat.bias, qat.input_scale,
            (fq.scale, fq.zero_point, fq.qdtype),
        )  # fmt: skip

    def _inv_n(self, x: torch.Tensor) -> tuple[int, torch.Tensor]:
        n = x[0].numel() // self.num_groups
        return n, torch.tensor(np.float32(1.0 / n))

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return torch.nn.functional.group_norm(
                x, self.num_groups, self.gamma, self.beta, self.eps
            )
        x = expect_int_qtensor(x, self)
        if x.dim() < 2 or x.shape[1] != self.channels:
            raise ValueError(
                f"IntGroupNorm: input must be (B, {self.channels}, ...), got {tuple(x.shape)}"
            )
        zp = int(x.q_zero_point)
        span = max(zp - x.q_dtype.qmin, x.q_dtype.qmax - zp)
        n, inv_n = self._inv_n(x)
        if n * span * span >= 2**31:
            raise OverflowError(
                f"IntGroupNorm: {n} elements per group could overflow the int32 sum of squares"
            )
        shape = tuple(x.shape)
        grouped = (shape[0], self.num_groups, n)
        affine = (1, self.channels) + (1,) * (len(shape) - 2)
        d = plain(x).to(torch.int32) - zp
        y = normalise_centred(d.reshape(grouped), inv_n, self.eps_codes).reshape(shape)
        y = y * self.gamma.reshape(affine) + self.beta.reshape(affine)
        out = self._wrap(quantize(y, self.out_scale, self.out_zp, self.out_qdtype))

        def export(rec) -> None:
            i32 = rec.node1("Cast", [self._name(x)], "codes", to=6)
            d_ = rec.node1("Sub", [i32, rec.const(np.array(zp, np.int32), "zp")], "d")
            g = rec.node1("Reshape", [d_, rec.const(np.array(grouped, np.int64), "grouped")])
            y_ = emit_normalise(rec, g, inv_n, self.eps_codes)
            y_ = rec.node1("Reshape", [y_, rec.const(np.array(shape, np.int64), "shape")])
            y_ = rec.node1("Mul", [y_, rec.const(self.gamma.numpy().reshape(affine), "gamma")])
            y_ = rec.node1("Add", [y_, rec.const(self.beta.numpy().reshape(affine), "beta")])
            self._q_out(rec, y_, out)

        self._emit(export)
        return out

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.channels}, eps={self.eps}, " + super().extra_repr()
