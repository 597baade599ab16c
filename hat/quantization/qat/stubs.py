"""QAT QuantStub / DeQuantStub."""

from __future__ import annotations

import torch
from torch import nn

from hat.quantization.qat.base import QATModule
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor, TracedTensor, plain

__all__ = ["QATQuantStub", "QATDeQuantStub"]


class QATQuantStub(QATModule):
    """Fake-quantizes a float input; ``scale`` (HAT's ``QuantStub(scale)``) fixes the scale
    (zero point 0 for signed types, 128 for uint8: the symmetric grid)."""

    def __init__(self, qconfig: QConfig, scale: float | None = None) -> None:
        super().__init__()
        if scale is not None:
            qconfig = qconfig.replace(activation=qconfig.activation.replace(fixed_scale=scale))
        self.scale = scale
        self._init_output(qconfig)

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATQuantStub:
        return cls(qconfig, getattr(mod, "scale", None))

    def forward(self, x: torch.Tensor) -> QTensor:
        if isinstance(x, QTensor):
            return x
        if isinstance(x, TracedTensor):
            x = plain(x)
        return self._wrap_output(x)

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.stubs import IntQuantStub

        return IntQuantStub.from_qat(self)


class QATDeQuantStub(nn.Module):
    """Returns the (fake-quantized) float values as a plain tensor."""

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATDeQuantStub:
        return cls()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, QTensor):
            return plain(x)
        return x

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.stubs import IntDeQuantStub

        return IntDeQuantStub()
