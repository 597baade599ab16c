"""QAT ``nn.LayerNorm`` over the last dimension: ``fq(layer_norm(x))`` on a quantized input.

The statistics are computed the way the integer model computes them (see
:mod:`hat.quantization.quantized.layer_norm`), from the input codes relative to their zero
point, so the fake-quant model and the integer model normalise identically up to float
rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.qat.base import QATModule, all_float, expect_qtensor, module_device
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor, plain

__all__ = ["QATLayerNorm", "QATNorm"]


class QATNorm(QATModule):
    """Shared part of the quantized normalisations: affine ``weight``/``bias`` under the float
    module's names, the input qparams recorded on every call, a fake-quantized output.
    Subclasses give :meth:`normalise` (the float op)."""

    def __init__(self, norm: nn.Module, qconfig: QConfig) -> None:
        super().__init__()
        self.eps = float(norm.eps)
        self.weight = norm.weight
        self.bias = norm.bias
        self._init_output(qconfig)
        self.register_buffer("input_scale", torch.zeros(()))
        self.register_buffer("input_zero_point", torch.zeros((), dtype=torch.int32))

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATNorm:
        return cls(mod, qconfig).to(module_device(mod)).train(mod.training)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return self.normalise(x)
        xq = expect_qtensor(x, self)
        with torch.no_grad():
            self.input_scale.copy_(xq.q_scale.reshape(()))
            self.input_zero_point.copy_(xq.q_zero_point.reshape(()))
        return self._wrap_output(self.normalise(plain(xq)))


class QATLayerNorm(QATNorm):
    """``nn.LayerNorm(C)`` (last dimension, optional affine) with a fake-quantized output;
    ``weight``/``bias`` keep ``nn.LayerNorm``'s names."""

    def __init__(self, norm: nn.LayerNorm, qconfig: QConfig) -> None:
        if len(norm.normalized_shape) != 1:
            raise NotImplementedError(
                f"quantized LayerNorm normalises the last dimension only, got normalized_shape="
                f"{tuple(norm.normalized_shape)}"
            )
        super().__init__(norm, qconfig)
        self.normalized_shape = tuple(norm.normalized_shape)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.layer_norm import IntLayerNorm

        return IntLayerNorm.from_qat(self)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
