"""Integer QuantStub (float -> integer) and DeQuantStub (integer -> float)."""

from __future__ import annotations

import torch
from torch import nn

from hat.quantization import tracing
from hat.quantization.qtensor import QTensor, make_traced, plain
from hat.quantization.quantized.base import DATA_MOVEMENT, Deployment, IntModule, is_quantized
from hat.quantization.quantized.intops import dequantize, quantize

__all__ = ["IntQuantStub", "IntDeQuantStub"]


class IntQuantStub(IntModule):
    """``q = saturate(round_half_even(x / scale) + zero_point)`` (ONNX QuantizeLinear).

    A float input that does not derive from the model inputs (a constant of the graph, e.g. a
    positional embedding computed from parameters and shapes) is exported as its integer
    codes, an initializer."""

    def deployment(self, inputs, output) -> Deployment:
        return Deployment(
            DATA_MOVEMENT,
            "QuantizeLinear: a float model input enters here (a graph constant: its codes)",
        )

    def __init__(self, out_scale, out_zero_point, out_qdtype) -> None:
        super().__init__()
        self._init_output(out_scale, out_zero_point, out_qdtype)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntQuantStub:
        fq = qat.activation_post_process
        if not fq.has_qparams:
            raise RuntimeError("QuantStub has no scale yet: calibrate before convert()")
        return cls(fq.scale, fq.zero_point, fq.qdtype)

    def forward(self, x: torch.Tensor) -> QTensor:
        if isinstance(x, QTensor):
            return x
        name = getattr(x, "trace_name", None)
        out = self._wrap(quantize(plain(x), self.out_scale, self.out_zp, self.out_qdtype))
        if tracing.is_tracing():
            if name is None:
                # not derived from a traced model input (those propagate their tracing): a
                # constant of the graph, stored as its codes
                codes = plain(out).detach().cpu().numpy()
                self._emit(lambda rec: setattr(out, "trace_name", rec.const(codes, "const_q")))
            else:
                self._emit(lambda rec: self._q_out(rec, name, out))
        return out


class IntDeQuantStub(IntModule):
    """``x = float32(q - zero_point) * scale`` (ONNX DequantizeLinear); float inputs pass."""

    def deployment(self, inputs, output) -> Deployment:
        if not is_quantized(inputs[0]):
            return Deployment(DATA_MOVEMENT, "no-op (the input is already float)")
        return Deployment(DATA_MOVEMENT, "DequantizeLinear: a float model output leaves here")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, QTensor):
            return x
        y = dequantize(plain(x), x.q_scale, int(x.q_zero_point))
        if tracing.is_tracing():
            y = make_traced(y)

            def export(rec) -> None:
                y.trace_name = self._dq(rec, x, "dequant")

            self._emit(export)
        return y
