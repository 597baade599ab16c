"""QAT versions of the ``hat.nn`` tensor-op modules (each with its own output scale)."""

from __future__ import annotations

import torch
from torch import nn

from hat.quantization.qat.base import QATModule, all_float, expect_qtensor
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor, plain

__all__ = ["QATAdd", "QATMatMul", "QATMul", "QATMulScalar", "QATConcat", "QATReLU"]


class QATAdd(QATModule):
    """``fq(x + y)``; ``relu`` (from ``hat.nn.AddReLU``): ``fq(relu(x + y))``, the observer
    sees the rectified sum (uint8 zero point 0: the requantization's saturation is the ReLU)."""

    def __init__(self, qconfig: QConfig, relu: bool = False) -> None:
        super().__init__()
        self.relu = bool(relu)
        self._init_output(qconfig)

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATAdd:
        return cls(qconfig, relu=getattr(mod, "relu", False))

    def forward(self, x: QTensor, y: QTensor) -> QTensor:
        if all_float(x, y):
            return torch.relu(x + y) if self.relu else x + y
        a, b = expect_qtensor(x, self), expect_qtensor(y, self)
        s = plain(a) + plain(b)
        return self._wrap_output(torch.relu(s) if self.relu else s)

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.functional import IntAdd

        return IntAdd.from_qat(self)


class QATMul(QATModule):
    """``fq(x * y)`` (element-wise, broadcasting)."""

    def __init__(self, qconfig: QConfig) -> None:
        super().__init__()
        self._init_output(qconfig)

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATMul:
        return cls(qconfig)

    def forward(self, x: QTensor, y: QTensor) -> QTensor:
        if all_float(x, y):
            return x * y
        a, b = expect_qtensor(x, self), expect_qtensor(y, self)
        return self._wrap_output(plain(a) * plain(b))

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.functional import IntMul

        return IntMul.from_qat(self)


class QATMatMul(QATModule):
    """``fq(x @ y)`` of two quantized activations."""

    def __init__(self, qconfig: QConfig) -> None:
        super().__init__()
        self._init_output(qconfig)

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATMatMul:
        return cls(qconfig)

    def forward(self, x: QTensor, y: QTensor) -> QTensor:
        if all_float(x, y):
            return torch.matmul(x, y)
        a, b = expect_qtensor(x, self), expect_qtensor(y, self)
        return self._wrap_output(torch.matmul(plain(a), plain(b)))

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.matmul import IntMatMul

        return IntMatMul.from_qat(self)


class QATMulScalar(QATModule):
    """``fq(x * scalar)``."""

    def __init__(self, scalar: float, qconfig: QConfig) -> None:
        super().__init__()
        self.scalar = float(scalar)
        if self.scalar == 0.0:
            raise ValueError("MulScalar(0) cannot be quantized (use a constant instead)")
        self._init_output(qconfig)

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATMulScalar:
        return cls(mod.scalar, qconfig)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return x * self.scalar
        a = expect_qtensor(x, self)
        return self._wrap_output(plain(a) * self.scalar)

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.functional import IntMulScalar

        return IntMulScalar.from_qat(self)


class QATConcat(QATModule):
    """``fq(cat(xs, dim))``: inputs with different scales are requantized to one scale."""

    def __init__(self, dim: int, qconfig: QConfig) -> None:
        super().__init__()
        self.dim = dim
        self._init_output(qconfig)

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATConcat:
        return cls(mod.dim, qconfig)

    def forward(self, *xs: QTensor) -> QTensor:
        if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
            xs = tuple(xs[0])
        if all_float(*xs):
            return torch.cat(xs, dim=self.dim)
        qs = [plain(expect_qtensor(x, self)) for x in xs]
        return self._wrap_output(torch.cat(qs, dim=self.dim))

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.functional import IntConcat

        return IntConcat.from_qat(self)


class QATReLU(nn.Module):
    """Stand-alone ReLU on a quantized tensor: keeps the input's qparams (0 is on the grid)."""

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATReLU:
        return cls()

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return torch.relu(x)
        return torch.relu(expect_qtensor(x, self))

    def to_int(self) -> nn.Module:
        return self
