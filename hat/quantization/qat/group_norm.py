"""QAT ``nn.GroupNorm``: ``fq(group_norm(x))`` on a quantized ``(B, C, *)`` input.

The integer model normalises each group from the exact int32 sums of its codes (see
:mod:`hat.quantization.quantized.group_norm`); the statistics are scale-free, so the
fake-quant and integer models agree up to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.qat.base import QATModule, all_float, expect_qtensor, module_device
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor, plain

__all__ = ["QATGroupNorm"]


class QATGroupNorm(QATModule):
    """``nn.GroupNorm`` with a fake-quantized output; ``weight``/``bias`` keep its names."""

    def __init__(self, norm: nn.GroupNorm, qconfig: QConfig) -> None:
        super().__init__()
        self.num_groups = int(norm.num_groups)
        self.num_channels = int(norm.num_channels)
        self.eps = float(norm.eps)
        self.weight = norm.weight
        self.bias = norm.bias
        self._init_output(qconfig)
        self.register_buffer("input_scale", torch.zeros(()))
        self.register_buffer("input_zero_point", torch.zeros((), dtype=torch.int32))

    @classmethod
    def from_float(cls, mod: nn.GroupNorm, qconfig: QConfig) -> QATGroupNorm:
        return cls(mod, qconfig).to(module_device(mod)).train(mod.training)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        xq = expect_qtensor(x, self)
        with torch.no_grad():
            self.input_scale.copy_(xq.q_scale.reshape(()))
            self.input_zero_point.copy_(xq.q_zero_point.reshape(()))
        y = F.group_norm(plain(xq), self.num_groups, self.weight, self.bias, self.eps)
        return self._wrap_output(y)

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.group_norm import IntGroupNorm

        return IntGroupNorm.from_qat(self)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"
