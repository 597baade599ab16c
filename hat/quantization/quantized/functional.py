"""Integer Add / Mul / MulScalar / Concat.

Each is ``quantize(op(dequantize(a), dequantize(b)))`` evaluated in float32 exactly as ONNX
Runtime's reference QDQ graph (``DequantizeLinear -> op -> QuantizeLinear``): the inputs are
rescaled to the output scale through one float32 expression with round-half-even. ORT's fused
QLinearMul/QLinearConcat kernels were measured to give the same integers; 8-bit adds follow the
fused QLinearAdd kernel's own formula (see :class:`IntAdd`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import (
    FLOAT_ISLAND,
    INTEGER,
    Deployment,
    IntModule,
    expect_int_qtensor,
    is_quantized,
)
from hat.quantization.quantized.intops import dequantize, quantize

__all__ = ["IntAdd", "IntMul", "IntMulScalar", "IntConcat"]


def _dq(x: QTensor) -> torch.Tensor:
    return dequantize(plain(x), x.q_scale, int(x.q_zero_point))


def _dtypes(xs) -> set[str]:
    return {x.q_dtype.name for x in xs if is_quantized(x)}


def _qlinear_deployment(kernel: str, names: set[str], extra_float_node: str = "") -> Deployment:
    """``kernel`` (ORT's fused QLinear op) when the inputs and the output (dtype ``names``)
    share one 8-bit type and no float node sits between DQ and Q; else a float island."""
    if extra_float_node:
        return Deployment(
            FLOAT_ISLAND, f"{extra_float_node} between DQ and Q: ORT cannot fuse {kernel}"
        )
    if len(names) == 1 and names <= {"uint8", "int8"}:
        return Deployment(INTEGER, kernel)
    op = kernel.removeprefix("QLinear")
    return Deployment(
        FLOAT_ISLAND,
        f"{'/'.join(sorted(names))} tensors: ORT's {kernel} takes one 8-bit type only; "
        f"DQ -> {op} -> Q in float32",
    )


class _IntBinary(IntModule):
    onnx_op = ""

    def __init__(self, out_scale, out_zero_point, out_qdtype, relu: bool = False) -> None:
        super().__init__()
        self._init_output(out_scale, out_zero_point, out_qdtype)
        self.relu = bool(relu)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> _IntBinary:
        fq = qat.activation_post_process
        return cls(fq.scale, fq.zero_point, fq.qdtype, relu=getattr(qat, "relu", False))

    def _op(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: QTensor, y: QTensor) -> QTensor:
        if all_float(x, y):  # float passthrough (traced float ops record themselves)
            f = self._op(x, y)
            return torch.relu(f) if self.relu else f
        x, y = expect_int_qtensor(x, self), expect_int_qtensor(y, self)
        q = self._fused(x, y)
        if q is None:
            f = self._op(_dq(x), _dq(y))
            q = quantize(f, self.out_scale, self.out_zp, self.out_qdtype)
            if self.relu:  # Q(relu(f)) == max(Q(f), zp): rne(0) = 0 and Q is monotone
                q = torch.clamp_min(q, self.out_zp)
        out = self._wrap(q)

        def export(rec) -> None:
            a, b = self._dq(rec, x, "a"), self._dq(rec, y, "b")
            y_ = rec.node1(self.onnx_op, [a, b], self.onnx_op.lower())
            if self.relu and self.out_zp != self.out_qdtype.qmin:
                # the saturation of Q does not clip at 0 here: an explicit (float) Relu
                y_ = rec.node1("Relu", [y_], "relu")
            self._q_out(rec, y_, out)

        self._emit(export)
        return out

    def deployment(self, inputs, output) -> Deployment:
        if not any(is_quantized(x) for x in inputs):
            return super().deployment(inputs, output)
        relu_node = self.relu and self.out_zp != self.out_qdtype.qmin
        kernel = "QLinear" + self.onnx_op
        names = _dtypes(inputs) | {self.out_qdtype.name}
        return _qlinear_deployment(kernel, names, "a Relu" if relu_node else "")

    def _fused(self, x: QTensor, y: QTensor) -> torch.Tensor | None:
        """Output codes of the deployment runtime's fused kernel when it differs from the
        reference ``Q(op(DQ, DQ))``; None to use the reference."""
        return None

    def extra_repr(self) -> str:
        return ("relu=True, " if self.relu else "") + super().extra_repr()


class IntAdd(_IntBinary):
    """``Q(DQ(x) + DQ(y))``; with ``relu``: ``Q(relu(DQ(x) + DQ(y)))``, exported without a Relu
    node when the zero point is the dtype's minimum (uint8: 0).

    When both inputs and the output are the same 8-bit type (and no Relu node is needed), ORT
    fuses the graph into ``QLinearAdd``, whose x86-64 kernel rounds through fused
    multiply-adds instead of the reference formula (1 LSB apart on a few elements per million,
    which grows through a deep network); the integer model then computes that kernel's
    formula (:func:`~hat.quantization.quantized.ort_qladd.ort_qlinear_add`), so it matches the
    deployed ORT graph (ENABLE_EXTENDED/ALL) bit for bit. ``IntAdd.fused_kernel = False``
    selects the reference formula everywhere (what ORT computes with its optimisations off).
    """

    onnx_op = "Add"
    fused_kernel = True

    def _op(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b

    def _fused(self, x: QTensor, y: QTensor) -> torch.Tensor | None:
        qd = self.out_qdtype
        if not self.fused_kernel or qd.name not in ("uint8", "int8"):
            return None
        if x.q_dtype != qd or y.q_dtype != qd:
            return None
        if self.relu and self.out_zp != qd.qmin:
            return None  # an explicit Relu node sits between Add and Q: no fusion
        from hat.quantization.quantized.ort_qladd import ort_qlinear_add

        return ort_qlinear_add(
            plain(x), float(x.q_scale), int(x.q_zero_point),
            plain(y), float(y.q_scale), int(y.q_zero_point),
            float(self.out_scale), self.out_zp, qd, relu=self.relu,
        )  # fmt: skip


class IntMul(_IntBinary):
    """``Q(DQ(x) * DQ(y))`` (ORT: QLinearMul)."""

    onnx_op = "Mul"

    def _op(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b


class IntMulScalar(IntModule):
    """``Q(DQ(x) * c)``; ``c`` is exported as a quantized constant (uint8 1 or -1 with scale
    ``|c|``, which dequantizes to exactly ``float32(c)``) so that ORT fuses QLinearMul."""

    def __init__(self, scalar: float, out_scale, out_zero_point, out_qdtype) -> None:
        super().__init__()
        self.scalar = float(np.float32(scalar))
        self._init_output(out_scale, out_zero_point, out_qdtype)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntMulScalar:
        fq = qat.activation_post_process
        return cls(qat.scalar, fq.scale, fq.zero_point, fq.qdtype)

    def forward(self, x: QTensor) -> QTensor:
        if all_float(x):
            return x * self.scalar
        x = expect_int_qtensor(x, self)
        c = torch.tensor(self.scalar, dtype=torch.float32)
        out = self._wrap(quantize(_dq(x) * c, self.out_scale, self.out_zp, self.out_qdtype))

        def export(rec) -> None:
            a = self._dq(rec, x, "a")
            qv, zv = (1, 0) if self.scalar > 0 else (0, 1)
            k = rec.const(np.array(qv, np.uint8), "scalar_q")
            kd = rec.dequantize(k, abs(self.scalar), zv, np.uint8, "scalar")
            self._q_out(rec, rec.node1("Mul", [a, kd], "mul"), out)

        self._emit(export)
        return out

    def deployment(self, inputs, output) -> Deployment:
        if not is_quantized(inputs[0]):
            return super().deployment(inputs, output)
        # the scalar is a uint8 constant: QLinearMul needs uint8 on every side
        names = _dtypes(inputs) | {self.out_qdtype.name, "uint8"}
        return _qlinear_deployment("QLinearMul", names)

    def extra_repr(self) -> str:
        return f"scalar={self.scalar}, " + super().extra_repr()


class IntConcat(IntModule):
    """``Q(cat(DQ(x_i)))`` (ORT: QLinearConcat)."""

    def __init__(self, dim: int, out_scale, out_zero_point, out_qdtype) -> None:
        super().__init__()
        self.dim = dim
        self._init_output(out_scale, out_zero_point, out_qdtype)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntConcat:
        fq = qat.activation_post_process
        return cls(qat.dim, fq.scale, fq.zero_point, fq.qdtype)

    def forward(self, *xs: QTensor) -> QTensor:
        if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
            xs = tuple(xs[0])
        if all_float(*xs):
            return torch.cat(xs, dim=self.dim)
        xs = tuple(expect_int_qtensor(x, self) for x in xs)
        f = torch.cat([_dq(x) for x in xs], dim=self.dim)
        out = self._wrap(quantize(f, self.out_scale, self.out_zp, self.out_qdtype))

        def export(rec) -> None:
            ins = [self._dq(rec, x, f"in{i}") for i, x in enumerate(xs)]
            y = rec.node1("Concat", ins, "concat", axis=self.dim % xs[0].dim())
            self._q_out(rec, y, out)

        self._emit(export)
        return out

    def deployment(self, inputs, output) -> Deployment:
        xs = inputs[0] if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) else inputs
        if not any(is_quantized(x) for x in xs):
            return super().deployment(inputs, output)
        return _qlinear_deployment("QLinearConcat", _dtypes(xs) | {self.out_qdtype.name})
