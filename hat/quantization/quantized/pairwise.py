"""What the integer correlation and cost volume share: two quantized maps whose centred codes
``(x_q - z)`` are multiplied and summed in exact int32, then requantized once,
``y_q = saturate(round_half_even(float32(acc) * M) + z_out)`` with
``M = float32(s_a * s_b * gain / (C * s_out))`` (computed in float64, rounded once; ``C`` the
number of channels summed, ``gain`` the float module's output gain).

Sums of integer products are exact in float32 while ``C * A_a * A_b < 2^24``
(``A = max |x_q - z|``); :func:`exact_float_dtype` picks float64 beyond that. The export ends
with ``Cast -> Mul(M) -> QuantizeLinear(1, z_out)``: the same float32 multiply and
round-half-even, bit-exact on ONNX Runtime at every level.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import IntModule, expect_int_qtensor, np_dtype
from hat.quantization.quantized.intops import requantize

__all__ = ["IntPairwiseProduct", "exact_float_dtype", "product_multiplier"]

_F32_EXACT = 2**24


def exact_float_dtype(bound: int) -> torch.dtype:
    """float32 when every partial sum of integers up to ``bound`` is exact in it, else float64."""
    return torch.float32 if bound < _F32_EXACT else torch.float64


def product_multiplier(
    s_a: float, s_b: float, channels: int, s_out: float, gain: float = 1.0
) -> torch.Tensor:
    """``float32(s_a * s_b * gain / (channels * s_out))``, computed in float64, rounded once."""
    m = np.float64(s_a) * np.float64(s_b) * gain / (channels * float(s_out))
    return torch.tensor(np.float32(m), dtype=torch.float32)


class IntPairwiseProduct(IntModule):
    """Base of the integer modules of two quantized inputs (see module doc).

    Subclasses name the operation (``op_name``, for messages) and give the int32 sums
    (:meth:`accumulate`), how many channels each output sums (:meth:`summed_channels`) and the
    ONNX nodes computing the sums (:meth:`export_accumulator`).
    """

    op_name = "PairwiseProduct"

    def __init__(self, qat: nn.Module) -> None:
        super().__init__()
        if float(qat.input_scale.min()) == 0.0:
            raise RuntimeError(f"{self.op_name}: input qparams unknown; calibrate before convert()")
        fq = qat.activation_post_process
        self._init_output(fq.scale, fq.zero_point, fq.qdtype)
        self.float_module = qat.float_module
        self.gain = float(getattr(qat.float_module, "gain", 1.0))
        self.register_buffer("input_scale", qat.input_scale.clone().float())

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntPairwiseProduct:
        return cls(qat)

    def accumulate(self, ca: torch.Tensor, cb: torch.Tensor) -> torch.Tensor:
        """Exact int32 sums of the centred integer codes ``ca``, ``cb`` (``(B, C, H, W)``)."""
        raise NotImplementedError

    def summed_channels(self, channels: int) -> int:
        """How many of the ``channels`` input channels one output element sums."""
        return channels

    def export_accumulator(self, rec, a: QTensor, b: QTensor) -> str:
        """ONNX nodes computing :meth:`accumulate`'s int32 sums; the name of their output."""
        raise NotImplementedError

    def multiplier(self, channels: int) -> torch.Tensor:
        """The requantization multiplier ``M`` for ``channels`` input channels."""
        s_a, s_b = (float(v) for v in self.input_scale)
        c = self.summed_channels(channels)
        return product_multiplier(s_a, s_b, c, float(self.out_scale), self.gain)

    def forward(self, a: QTensor, b: QTensor) -> QTensor:
        if all_float(a, b):
            from hat.quantization.quantized.island import float_passthrough

            return float_passthrough(self, self.float_module, (a, b))
        a, b = expect_int_qtensor(a, self), expect_int_qtensor(b, self)
        if (float(a.q_scale), float(b.q_scale)) != tuple(float(v) for v in self.input_scale):
            raise RuntimeError(f"{self.op_name}: input scales differ from calibration")
        ca = plain(a).to(torch.int32) - int(a.q_zero_point)
        cb = plain(b).to(torch.int32) - int(b.q_zero_point)
        acc = self.accumulate(ca, cb)
        m = self.multiplier(a.shape[1])
        out = self._wrap(requantize(acc, m.to(acc.device), self.out_zp, self.out_qdtype))
        self._emit(lambda rec: self._export(rec, a, b, out, m))
        return out

    def _export(self, rec, a: QTensor, b: QTensor, out: QTensor, m: torch.Tensor) -> None:
        acc = self.export_accumulator(rec, a, b)
        f = rec.node1("Cast", [acc], "acc_f", to=1)
        y = rec.node1("Mul", [f, rec.const(m.numpy(), "multiplier")], "scaled")
        out.trace_name = rec.quantize(y, 1.0, self.out_zp, np_dtype(self.out_qdtype), "out")

    def _centred_int32(self, rec, x: QTensor, hint: str) -> str:
        """ONNX ``Cast(x, int32) - z``: the centred codes of ``x``."""
        i = rec.node1("Cast", [self._name(x)], hint + "_i32", to=6)
        z = rec.const(np.array(int(x.q_zero_point), np.int32), hint + "_zp")
        return rec.node1("Sub", [i, z], hint + "_c")
