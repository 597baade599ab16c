"""QAT ``nn.GroupNorm``: ``fq(group_norm(x))`` on a quantized ``(B, C, *)`` input.

The integer model normalises each group from the exact int32 sums of its codes (see
:mod:`hat.quantization.quantized.group_norm`); the statistics are scale-free, so the
fake-quant and integer models agree up to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.qat.layer_norm import QATNorm
from hat.quantization.qconfig import QConfig

__all__ = ["QATGroupNorm"]


class QATGroupNorm(QATNorm):
    """``nn.GroupNorm`` with a fake-quantized output; ``weight``/``bias`` keep its names."""

    def __init__(self, norm: nn.GroupNorm, qconfig: QConfig) -> None:
        super().__init__(norm, qconfig)
        self.num_groups = int(norm.num_groups)
        self.num_channels = int(norm.num_channels)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.group_norm import IntGroupNorm

        return IntGroupNorm.from_qat(self)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"
