"""QAT group-wise correlation cost volume (``hat.nn.CostVolume``)."""

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

__all__ = ["QATCostVolume"]


class QATCostVolume(QATModule):
    """``fq(volume(left, right))``.

    With fake quant enabled and frozen qparams (VALIDATION), the output codes are those of the
    integer module exactly: the forward value is the integer model's
    ``rne(float32(acc) * M) + zp`` (``acc`` the exact integer group sums of the input codes)
    while the gradient is the float volume's (straight-through), so evaluating a QAT checkpoint
    and running its integer model give the same numbers.
    """

    def __init__(self, float_module: nn.Module, qconfig: QConfig) -> None:
        super().__init__()
        self.float_module = float_module
        self.max_disp = int(float_module.max_disp)
        self.groups = int(float_module.groups)
        self._init_output(qconfig)
        self.register_buffer("input_scale", torch.zeros(2))
        self.register_buffer("input_zero_point", torch.zeros(2, dtype=torch.int32))

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATCostVolume:
        return cls(mod, qconfig)

    def forward(self, left: QTensor, right: QTensor) -> QTensor:
        if all_float(left, right):
            return self.float_module(left, right)
        a, b = expect_qtensor(left, self), expect_qtensor(right, self)
        record_input_qparams(self, [a, b])
        y = self.float_module(plain(a), plain(b))
        fq = self.activation_post_process
        if fq.fake_quant_enabled and fq.has_qparams:
            y = y + (self._integer_value(a, b) - y).detach()
        return self._wrap_output(y)

    @torch.no_grad()
    def _integer_value(self, a: QTensor, b: QTensor) -> torch.Tensor:
        """The integer module's output, dequantized (current output qparams)."""
        from hat.quantization.quantized.cost_volume import gwc_accumulate, gwc_multiplier
        from hat.quantization.quantized.intops import requantize

        fq = self.activation_post_process
        ca = _codes(a) - int(a.q_zero_point)
        cb = _codes(b) - int(b.q_zero_point)
        acc = gwc_accumulate(ca, cb, self.max_disp, self.groups)
        m = gwc_multiplier(
            float(a.q_scale), float(b.q_scale), a.shape[1] // self.groups, float(fq.scale)
        )
        q = requantize(acc, m.to(acc.device), int(fq.zero_point), fq.qdtype)
        return (q.to(torch.float32) - float(fq.zero_point)) * fq.scale

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.cost_volume import IntCostVolume

        return IntCostVolume.from_qat(self)


def _codes(x: QTensor) -> torch.Tensor:
    """Integer codes (int32) of a fake-quantized tensor."""
    return torch.round(plain(x) / x.q_scale).to(torch.int32) + int(x.q_zero_point)
