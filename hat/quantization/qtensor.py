"""``QTensor``: a tensor that carries its quantization parameters between quantized modules.

In a prepared (calibration/QAT) model its data is float (fake-quantized in QAT/VALIDATION);
in a converted integer model its data is the integer tensor (``uint8``/``int8``/``int16``).
Either way ``q_scale`` (0-d float32), ``q_zero_point`` (0-d int32) and ``q_dtype`` say how to
read it: ``real = (q - q_zero_point) * q_scale``.

Only quantization-neutral ops are allowed on a QTensor (reshape/view/flatten/(un)squeeze,
permute/transpose, slicing, split/chunk/unbind, contiguous/clone/detach, max_pool2d, constant
pad, relu, and cat/stack of tensors with equal qparams); they keep the qparams. ``argmax``
returns plain int64 indices (the same for the integers as for the real values). Any other op that
returns a tensor raises :class:`QTensorOpError`, naming the op: wrap it in a ``hat.nn`` module
(Add, Mul, Concat, ...) or leave the quantized region with ``DeQuantStub`` first.

During ONNX export (:mod:`hat.quantization.tracing`) every such op also records its ONNX node
(:mod:`hat.quantization.onnx_tensor_ops`), and model inputs travel as :class:`TracedTensor`
(float) so that float glue code in front of the ``QuantStub`` (e.g. slicing a 6-channel image
pair) is recorded too. The allowed ops are listed in :mod:`hat.quantization.qtensor_ops`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from hat.quantization import tracing
from hat.quantization.onnx_tensor_ops import emit_argmax, emit_float_op, emit_layout
from hat.quantization.qdtypes import QDType, get_qdtype
from hat.quantization.qtensor_ops import CONCAT_OPS, LAYOUT_OPS, QTensorOpError, call_arg

__all__ = [
    "QTensor",
    "TracedTensor",
    "QTensorOpError",
    "make_qtensor",
    "plain",
    "is_qtensor",
    "make_traced",
]


def plain(t: torch.Tensor) -> torch.Tensor:
    """The same data as a plain ``torch.Tensor`` (keeps autograd history)."""
    if type(t) is torch.Tensor:
        return t
    with torch._C.DisableTorchFunctionSubclass():
        return t.as_subclass(torch.Tensor)


def is_qtensor(x: Any) -> bool:
    return isinstance(x, QTensor)


def make_qtensor(
    data: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor,
    qdtype: QDType | str,
    trace_name: str | None = None,
) -> QTensor:
    """Wrap ``data`` (float for fake quant, integer for the int model) with its qparams."""
    with torch._C.DisableTorchFunctionSubclass():
        t = data.as_subclass(QTensor)
    t.q_scale = scale
    t.q_zero_point = zero_point
    t.q_dtype = get_qdtype(qdtype)
    t.trace_name = trace_name
    return t


def make_traced(data: torch.Tensor, name: str | None = None) -> TracedTensor:
    """``data`` as a :class:`TracedTensor` named ``name`` in the export graph."""
    with torch._C.DisableTorchFunctionSubclass():
        t = data.as_subclass(TracedTensor)
    t.trace_name = name
    return t


def _func_name(func: Callable) -> str:
    name = getattr(func, "__name__", "")
    if name in ("__get__", "__set__"):
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", name)
    return name


def _flatten_tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        out: list[torch.Tensor] = []
        for o in obj:
            out.extend(_flatten_tensors(o))
        return out
    if isinstance(obj, dict):
        out = []
        for o in obj.values():
            out.extend(_flatten_tensors(o))
        return out
    return []


def _unwrap(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return plain(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _unwrap(v) for k, v in obj.items()}
    return obj


def _map_tensors(obj: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_tensors(o, fn) for o in obj)
    return obj


def _same_qparams(ts: list[QTensor]) -> bool:
    a = ts[0]
    return all(
        t.q_dtype == a.q_dtype
        and float(t.q_scale) == float(a.q_scale)
        and int(t.q_zero_point) == int(a.q_zero_point)
        for t in ts[1:]
    )


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------
def _run_plain(func: Callable, args: tuple, kwargs: dict) -> Any:
    with torch._C.DisableTorchFunctionSubclass():
        return func(*_unwrap(args), **_unwrap(kwargs))


def _q_layout(name: str, func: Callable, args: tuple, kwargs: dict, qts: list[QTensor]) -> Any:
    q0 = qts[0]
    if name in CONCAT_OPS:
        seq = args[0] if args else kwargs["tensors"]
        if not all(isinstance(t, QTensor) for t in seq) or not _same_qparams(list(seq)):
            raise QTensorOpError(
                f"torch.{name} on QTensors with different quantization parameters (or mixed "
                "with float tensors): use hat.nn.Concat, which requantizes to one output scale"
            )
    is_int = not q0.dtype.is_floating_point
    if name == "relu":
        x = plain(args[0])
        if is_int:
            zp = q0.q_zero_point.to(x.dtype)
            out = torch.maximum(x, zp)
        else:
            out = torch.relu(x)
    elif name == "to":
        out = _run_plain(func, args, kwargs)
        if out.dtype != q0.dtype:
            raise QTensorOpError(
                "QTensor.to(dtype) would reinterpret quantized values: use DeQuantStub"
            )
    elif name in ("max_pool2d", "_max_pool2d") and is_int and q0.dtype != torch.uint8:
        f = _run_plain(func, (plain(args[0]).float(),) + tuple(args[1:]), kwargs)
        out = _map_tensors(f, lambda t: t.to(q0.dtype))
    elif name == "pad" and is_int:
        value = call_arg(args, kwargs, 3, "value", 0.0) or 0.0
        if value != 0.0:
            raise QTensorOpError("pad of a QTensor supports value=0 only (pads with zero point)")
        a = list(args) + [None] * (4 - len(args))
        pad = a[1] if a[1] is not None else kwargs["pad"]
        mode = a[2] or kwargs.get("mode", "constant")
        out = torch.nn.functional.pad(plain(args[0]), pad, mode=mode, value=int(q0.q_zero_point))
    else:
        out = _run_plain(func, args, kwargs)

    def wrap(t: torch.Tensor) -> QTensor:
        return make_qtensor(t, q0.q_scale, q0.q_zero_point, q0.q_dtype)

    result = _map_tensors(out, wrap)
    if tracing.is_tracing():
        emit_layout(name, args, kwargs, args[0] if args else q0, result, q0)
    return result


def _argmax(func: Callable, args: tuple, kwargs: dict) -> torch.Tensor:
    """``argmax`` of a quantized (or traced float) tensor: int64 indices, a plain tensor.

    Quantization-neutral: dequantization is increasing (``scale > 0``), so the index of the
    largest integer is the index of the largest real value, ties included (first index, as
    ONNX ``ArgMax`` with ``select_last_index=0``). Exported as ``ArgMax`` on the integer tensor
    (ORT has uint8/int8 kernels; int16 is dequantized first).
    """
    out = _run_plain(func, args, kwargs)
    rec = tracing.current()
    if rec is None:
        return out
    x = args[0]
    result = make_traced(out, None)
    result.trace_name = emit_argmax(rec, args, kwargs, x if isinstance(x, QTensor) else None)
    return result


class QTensor(torch.Tensor):
    """A tensor plus ``q_scale``, ``q_zero_point``, ``q_dtype`` (see module docstring)."""

    q_scale: torch.Tensor
    q_zero_point: torch.Tensor
    q_dtype: QDType
    trace_name: str | None

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        name = _func_name(func)
        if name == "argmax":
            return _argmax(func, args, kwargs)
        if name in LAYOUT_OPS:
            qts = [
                t
                for t in _flatten_tensors(args) + _flatten_tensors(kwargs)
                if isinstance(t, QTensor)
            ]
            return _q_layout(name, func, args, kwargs, qts)
        out = _run_plain(func, args, kwargs)
        if not _flatten_tensors(out):
            return out
        if name in ("grad", "_base", "grad_fn", "real", "imag"):
            return out
        raise QTensorOpError(
            f"'{name}' is not supported on a quantized tensor (QTensor). Use a hat.nn module "
            "(Add, Mul, MulScalar, Concat, Interpolate, ...) so that the op gets its own "
            "quantization, or leave the quantized region with DeQuantStub first."
        )

    def dequantize(self) -> torch.Tensor:
        """Float value (``(q - zero_point) * scale`` for int data; the data itself otherwise)."""
        data = plain(self)
        if data.dtype.is_floating_point:
            return data
        return (data.to(torch.int32) - self.q_zero_point.to(torch.int32)).to(
            torch.float32
        ) * self.q_scale.to(torch.float32)

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # noqa: D105
        return (
            f"QTensor({plain(self)!r}, scale={float(self.q_scale):.6g}, "
            f"zero_point={int(self.q_zero_point)}, dtype={self.q_dtype.name})"
        )


class TracedTensor(torch.Tensor):
    """A float tensor recorded by the ONNX exporter (model inputs and float glue code)."""

    trace_name: str | None

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        name = _func_name(func)
        if any(isinstance(t, QTensor) for t in _flatten_tensors(args)):
            # mixed float/quantized: let QTensor's handler decide (it rejects arithmetic)
            return QTensor.__torch_function__(func, types, args, kwargs)
        out = _run_plain(func, args, kwargs)
        if not _flatten_tensors(out):
            return out
        if name in ("grad", "_base", "grad_fn"):
            return out
        rec = tracing.current()
        result = _map_tensors(out, lambda t: make_traced(t, None))
        if rec is None:
            return result
        if name in LAYOUT_OPS:
            emit_layout(name, args, kwargs, args[0] if args else None, result, None)
            return result
        if name == "argmax":
            return _argmax(func, args, kwargs)
        result.trace_name = emit_float_op(rec, name, args, kwargs, result)
        return result
