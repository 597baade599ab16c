"""QAT soft-argmin (``hat.nn.SoftArgmin``; integer model: exp table + integer sums)."""

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
from hat.quantization.qdtypes import QDType
from hat.quantization.qtensor import QTensor, plain

__all__ = ["QATSoftArgmin"]


class QATSoftArgmin(QATModule):
    """``fq(soft_argmin(x))``.

    With fake quant enabled and qparams known, the forward value is the integer module's
    result (exp table, exact integer sums, one float32 division) and the gradient the float
    soft-argmin's (straight-through), so a VALIDATION-state QAT model and its integer model
    agree bit for bit.
    """

    def __init__(self, float_module: nn.Module, qconfig: QConfig) -> None:
        super().__init__()
        self.float_module = float_module
        self.num_candidates = int(float_module.num_candidates)
        self.value_scale = float(float_module.value_scale)
        self._init_output(qconfig)
        self.register_buffer("input_scale", torch.zeros(1))
        self.register_buffer("input_zero_point", torch.zeros(1, dtype=torch.int32))
        self.register_buffer("input_qmin", torch.zeros(1, dtype=torch.int32))

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATSoftArgmin:
        return cls(mod, qconfig)

    def input_qdtype(self) -> QDType:
        from hat.quantization.quantized.base import qdtype_from_qmin

        return qdtype_from_qmin(int(self.input_qmin[0]))

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return self.float_module(x)
        xq = expect_qtensor(x, self)
        record_input_qparams(self, [xq])
        self.input_qmin[0] = xq.q_dtype.qmin
        y = self.float_module(plain(xq))
        fq = self.activation_post_process
        if fq.fake_quant_enabled and fq.has_qparams:
            y = y + (self._integer_value(xq) - y).detach()
        return self._wrap_output(y)

    @torch.no_grad()
    def _integer_value(self, x: QTensor) -> torch.Tensor:
        """The integer module's output, dequantized (current qparams)."""
        import numpy as np

        from hat.quantization.quantized.soft_argmin import (
            exp_table_bits,
            soft_argmin_exp_table,
            soft_argmin_integer,
        )

        fq = self.activation_post_process
        s_in = float(x.q_scale)
        codes = torch.round(plain(x) / x.q_scale).to(torch.int32) + int(x.q_zero_point)
        table = soft_argmin_exp_table(s_in, x.q_dtype, exp_table_bits(self.num_candidates))
        m = torch.tensor(np.float32(np.float64(self.value_scale) / float(fq.scale)))
        q = soft_argmin_integer(codes, table, m, int(fq.zero_point), fq.qdtype)
        return (q.to(torch.float32) - float(fq.zero_point)) * fq.scale

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.soft_argmin import IntSoftArgmin

        return IntSoftArgmin.from_qat(self)
