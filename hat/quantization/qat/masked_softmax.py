"""QAT ``hnn.MaskedSoftmax``: softmax over the kept entries of a quantized input, output on the
fixed grid ``1 / 2^bits`` (zero point 0: masked entries are exactly 0)."""

from __future__ import annotations

import torch
from torch import nn

from hat.quantization.qat.activations import _LUTQAT
from hat.quantization.qat.base import all_float, expect_qtensor
from hat.quantization.qconfig import QConfig
from hat.quantization.qdtypes import get_qdtype
from hat.quantization.qtensor import QTensor, plain

__all__ = ["QATMaskedSoftmax"]


class QATMaskedSoftmax(_LUTQAT):
    """``fq(masked_softmax(x, keep))`` (see :class:`hat.nn.MaskedSoftmax`)."""

    def __init__(self, qconfig: QConfig) -> None:
        qd = get_qdtype(qconfig.activation.dtype)
        act = qconfig.activation.replace(fixed_scale=1.0 / (qd.qmax + 1), fixed_zero_point=0)
        super().__init__(qconfig.replace(activation=act))

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATMaskedSoftmax:
        return cls(qconfig)

    def forward(self, x: QTensor, keep: torch.Tensor) -> QTensor:
        keep = keep.to(torch.bool)
        if all_float(x):
            x = x.masked_fill(~keep, torch.finfo(x.dtype).min)
            return torch.softmax(x, -1) * keep.to(x.dtype)
        xq = expect_qtensor(x, self)
        self._record(xq)
        f = plain(xq).masked_fill(~keep, torch.finfo(torch.float32).min)
        return self._wrap_output(torch.softmax(f, -1) * keep.to(f.dtype))

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.masked_softmax import IntMaskedSoftmax

        return IntMaskedSoftmax(self)
