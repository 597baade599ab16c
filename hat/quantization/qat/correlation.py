"""QAT cost volume (``hat.nn.Correlation``) and generic float islands (``hat.nn.Warp``)."""

from __future__ import annotations

import torch
from torch import nn

from hat.quantization.qat.base import (
    QATModule,
    all_float,
    expect_qtensor,
    record_input_qparams,
)
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor, plain

__all__ = ["QATCorrelation", "QATFloatIsland"]


class QATCorrelation(QATModule):
    """``fq(corr(x1, x2))`` where ``corr`` is the wrapped float module's forward.

    The integer counterpart assumes the float module computes, for displacements
    ``(dy, dx)`` in ``[-d, d]^2`` (``d = max_displacement``; ``dy`` outer, ``dx`` inner loop),
    ``out[:, k, y, x] = mean_c x1[:, c, y, x] * x2[:, c, y + dy, x + dx]`` with zero padding.
    The tests check this against the float module.
    """

    def __init__(self, float_module: nn.Module, qconfig: QConfig) -> None:
        super().__init__()
        self.float_module = float_module
        self.max_displacement = int(float_module.max_displacement)
        self._init_output(qconfig)
        self.register_buffer("input_scale", torch.zeros(2))
        self.register_buffer("input_zero_point", torch.zeros(2, dtype=torch.int32))

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATCorrelation:
        return cls(mod, qconfig)

    def forward(self, x1: QTensor, x2: QTensor) -> QTensor:
        if all_float(x1, x2):
            return self.float_module(x1, x2)
        a, b = expect_qtensor(x1, self), expect_qtensor(x2, self)
        record_input_qparams(self, [a, b])
        return self._wrap_output(self.float_module(plain(a), plain(b)))

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.correlation import IntCorrelation

        return IntCorrelation.from_qat(self)


class QATFloatIsland(QATModule):
    """Runs a float module on the (fake-quantized) float values of its quantized inputs and
    fake-quantizes its single output.

    The integer model keeps this as a *named float island*: dequantize -> the same float module
    -> quantize (exported as DequantizeLinear -> torch's ONNX export of the module ->
    QuantizeLinear). Used for ``hat.nn.Warp`` (grid_sample has no integer kernel in ORT).
    """

    def __init__(self, float_module: nn.Module, qconfig: QConfig) -> None:
        super().__init__()
        self.float_module = float_module
        self._init_output(qconfig)

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATFloatIsland:
        return cls(mod, qconfig)

    def forward(self, *xs: QTensor) -> QTensor:
        if all_float(*xs):
            return self.float_module(*xs)
        ins = [plain(expect_qtensor(x, self)) for x in xs]
        if not self.training and _is_warp(self.float_module):
            # evaluation computes what the integer model computes (quantized/warp.py)
            from hat.quantization.quantized.warp import explicit_bilinear_warp

            m = self.float_module
            y = explicit_bilinear_warp(*ins, m.use_mask, m.mask_threshold)
        else:
            y = self.float_module(*ins)
        if not isinstance(y, torch.Tensor):
            raise TypeError(
                f"float island {type(self.float_module).__name__} must return one tensor"
            )
        return self._wrap_output(y)

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.island import IntFloatIsland
        from hat.quantization.quantized.warp import IntWarp

        if _is_warp(self.float_module):
            return IntWarp.from_qat(self)
        return IntFloatIsland.from_qat(self)


def _is_warp(module: nn.Module) -> bool:
    from hat.nn.warp import Warp

    return isinstance(module, Warp)
