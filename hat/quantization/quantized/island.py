"""Named float islands: ``Q(float_module(DQ(x_1), ..., DQ(x_n)))``.

For ops with no integer kernel on the target (``hat.nn.Warp``: grid_sample). The integer model
runs the same float module in float32 on the dequantized inputs and quantizes its output; the
export splices torch's ONNX export of the module between DequantizeLinear and QuantizeLinear
nodes. Float islands match ORT to within 1 LSB only (different float kernels), and each one is
listed by :func:`hat.quantization.export_onnx.export_int_model_to_onnx` in its report.
"""

from __future__ import annotations

import torch
from torch import nn

from hat.quantization import tracing
from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, make_traced, plain
from hat.quantization.quantized.base import FLOAT_ISLAND, IntModule, expect_int_qtensor
from hat.quantization.quantized.intops import dequantize, quantize

__all__ = ["IntFloatIsland"]


class IntFloatIsland(IntModule):
    """Dequantize -> float module -> quantize (see module doc)."""

    is_float_island = True
    deploy_kind = FLOAT_ISLAND

    def __init__(self, float_module: nn.Module, out_scale, out_zero_point, out_qdtype) -> None:
        super().__init__()
        self.float_module = float_module
        self._init_output(out_scale, out_zero_point, out_qdtype)
        self.deploy_note = (
            f"{type(float_module).__name__} has no integer ORT kernel: DQ -> torch's ONNX "
            "export of the float module -> Q"
        )

    def macs(self, inputs, output) -> int:
        """The float module's multiply-accumulates (torch's flop counter) on float inputs."""
        from hat.utils.op_count import count_call_macs

        fs = [dequantize(plain(x), x.q_scale, int(x.q_zero_point)) for x in inputs]
        return count_call_macs(self.float_module, *fs)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntFloatIsland:
        fq = qat.activation_post_process
        return cls(qat.float_module, fq.scale, fq.zero_point, fq.qdtype)

    def forward(self, *xs: QTensor) -> QTensor:
        if all_float(*xs):
            return float_passthrough(self, self.float_module, xs)
        xs = tuple(expect_int_qtensor(x, self) for x in xs)
        fs = [dequantize(plain(x), x.q_scale, int(x.q_zero_point)) for x in xs]
        with torch.no_grad():
            y = self.float_module(*fs)
        out = self._wrap(quantize(y, self.out_scale, self.out_zp, self.out_qdtype))
        self._emit(lambda rec: self._export(rec, xs, fs, out))
        return out

    def _export(self, rec, xs, fs, out: QTensor) -> None:
        from hat.quantization.export_onnx import splice_float_module

        ins = [self._dq(rec, x, f"in{i}") for i, x in enumerate(xs)]
        y = splice_float_module(rec, self.float_module, fs, ins)
        self._q_out(rec, y, out)

    def extra_repr(self) -> str:
        return f"float_island={type(self.float_module).__name__}, " + super().extra_repr()


def float_passthrough(owner: IntModule, module: nn.Module, xs: tuple) -> torch.Tensor:
    """Run ``module`` on float inputs; during export splice its ONNX graph."""
    with torch.no_grad():
        y = module(*[plain(x) for x in xs])
    if not tracing.is_tracing():
        return y
    from hat.quantization.export_onnx import splice_float_module

    y = make_traced(y)

    def export(rec) -> None:
        names = [owner._name(x) for x in xs]
        y.trace_name = splice_float_module(rec, module, [plain(x) for x in xs], names)

    owner._emit(export)
    return y
