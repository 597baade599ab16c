"""ONNX nodes of the tensor ops applied to quantized and traced tensors during export.

While :func:`hat.quantization.export_onnx.export_int_model_to_onnx` runs the integer model,
quantized modules record their own nodes; the plain tensor ops between them (the layout ops a
:class:`~hat.quantization.qtensor.QTensor` allows, ``argmax``, and the float glue code on
:class:`~hat.quantization.qtensor.TracedTensor` inputs) are recorded here, each output tensor
getting the ``trace_name`` of its ONNX value. Unsupported forms raise
:class:`~hat.quantization.qtensor_ops.QTensorOpError` naming the op.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from hat.quantization import tracing
from hat.quantization.qdtypes import QDType
from hat.quantization.qtensor_ops import (
    ALIAS_OPS,
    CONCAT_OPS,
    RESHAPE_OPS,
    QTensorOpError,
    call_arg,
)

__all__ = ["QParams", "emit_layout", "emit_argmax", "emit_float_op"]

# float arithmetic on traced tensors -> ONNX op type
_FLOAT_ARITH = {
    "add": "Add",
    "__add__": "Add",
    "__radd__": "Add",
    "sub": "Sub",
    "__sub__": "Sub",
    "__rsub__": "Sub",
    "mul": "Mul",
    "__mul__": "Mul",
    "__rmul__": "Mul",
    "div": "Div",
    "__truediv__": "Div",
    "__rtruediv__": "Div",
    "neg": "Neg",
    "__neg__": "Neg",
}
# comparisons and logical negation of the glue code (e.g. a 0/1 float mask input -> bool)
_LOGIC_OPS = {
    "gt": "Greater",
    "__gt__": "Greater",
    "lt": "Less",
    "__lt__": "Less",
    "__invert__": "Not",
    "bitwise_not": "Not",
    "logical_not": "Not",
}
_FLOAT_FNS = ("sigmoid", "softmax", "interpolate", "tanh", "exp")


class QParams(Protocol):
    """The quantization parameters of a quantized tensor (a ``QTensor`` has them)."""

    q_scale: torch.Tensor
    q_zero_point: torch.Tensor
    q_dtype: QDType


def _i64(rec: tracing.GraphRecorder, values: Any, hint: str) -> str:
    return rec.const(np.asarray(values, dtype=np.int64).reshape(-1), hint)


def _pair(v: Any) -> list[int]:
    if isinstance(v, int):
        return [v, v]
    return [int(i) for i in v]


def _np_dtype(q: QDType) -> Any:
    return np.dtype(str(q.torch_dtype).replace("torch.", ""))


def _emit_reshape(rec: tracing.GraphRecorder, src: str, shape: torch.Size) -> str:
    return rec.node1("Reshape", [src, _i64(rec, list(shape), "shape")], "reshape")


def _emit_slices(
    rec: tracing.GraphRecorder, src: str, in_shape: list[int], index: Any, out_shape: torch.Size
) -> str:
    if not isinstance(index, tuple):
        index = (index,)
    n_spec = sum(1 for i in index if i is not None and i is not Ellipsis)
    starts, ends, axes, steps = [], [], [], []
    sliced = list(in_shape)
    dim = 0
    for item in index:
        if item is Ellipsis:
            dim += len(in_shape) - n_spec
            continue
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, (int, slice)):
            raise QTensorOpError(
                f"export: indexing with {type(item).__name__} is not supported (use slices/ints)"
            )
        if isinstance(item, int):
            s = item % in_shape[dim]
            starts.append(s)
            ends.append(s + 1)
            axes.append(dim)
            steps.append(1)
            sliced[dim] = 1
        else:
            s, e, st = item.indices(in_shape[dim])
            if st <= 0:
                raise QTensorOpError("export: negative slice steps are not supported")
            if (s, e, st) != (0, in_shape[dim], 1):
                starts.append(s)
                ends.append(e)
                axes.append(dim)
                steps.append(st)
                sliced[dim] = len(range(s, e, st))
        dim += 1
    out = src
    if axes:
        out = rec.node1(
            "Slice",
            [
                src,
                _i64(rec, starts, "starts"),
                _i64(rec, ends, "ends"),
                _i64(rec, axes, "axes"),
                _i64(rec, steps, "steps"),
            ],
            "slice",
        )
    if list(out_shape) != sliced:
        out = _emit_reshape(rec, out, out_shape)
    return out


def emit_layout(
    name: str,
    args: tuple,
    kwargs: dict,
    src_t: torch.Tensor | None,
    out: Any,
    qt: QParams | None,
) -> None:
    """Record the ONNX node(s) of layout op ``name``; sets ``trace_name`` on the outputs.

    ``qt`` holds the qparams of a quantized input (None for a float traced input): a quantized
    ``pad`` pads with the zero point and a quantized ``relu`` runs between DQ and Q nodes.
    """
    rec = tracing.current()
    assert rec is not None
    src = getattr(src_t, "trace_name", None)
    if name in CONCAT_OPS:
        seq = args[0] if args else kwargs["tensors"]
        names = [getattr(t, "trace_name", None) for t in seq]
        if any(n is None for n in names):
            raise QTensorOpError(f"export: an input of {name} is not traced")
        dim = call_arg(args, kwargs, 1, "dim", 0)
        if name == "stack":
            d = dim % (seq[0].dim() + 1)
            names = [rec.node1("Unsqueeze", [n, _i64(rec, [d], "axes")], "unsq") for n in names]
            out.trace_name = rec.node1("Concat", names, "stack", axis=d)
        else:
            out.trace_name = rec.node1("Concat", names, "cat", axis=dim % seq[0].dim())
        return
    if src is None:
        raise QTensorOpError(f"export: input of '{name}' is not a traced tensor")
    in_shape = list(src_t.shape)
    if name in ALIAS_OPS:
        out.trace_name = src
    elif name in RESHAPE_OPS:
        out.trace_name = _emit_reshape(rec, src, out.shape) if list(out.shape) != in_shape else src
    elif name == "expand" or name == "expand_as":
        shp = _i64(rec, list(out.shape), "shape")
        out.trace_name = rec.node1("Expand", [src, shp], "expand")
    elif name == "permute":
        dims = args[1:] if len(args) > 1 else (kwargs["dims"],)
        if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
            dims = tuple(dims[0])
        perm = [d % len(in_shape) for d in dims]
        out.trace_name = rec.node1("Transpose", [src], "transpose", perm=perm)
    elif name == "transpose":
        d0 = call_arg(args, kwargs, 1, "dim0", None) % len(in_shape)
        d1 = call_arg(args, kwargs, 2, "dim1", None) % len(in_shape)
        perm = list(range(len(in_shape)))
        perm[d0], perm[d1] = perm[d1], perm[d0]
        out.trace_name = rec.node1("Transpose", [src], "transpose", perm=perm)
    elif name == "__getitem__":
        out.trace_name = _emit_slices(rec, src, in_shape, args[1], out.shape)
    elif name in ("split", "chunk", "unbind"):
        dim = kwargs.get("dim", args[2] if len(args) > 2 else 0) % len(in_shape)
        offset = 0
        for piece in out:
            size = piece.shape[dim] if name != "unbind" else 1
            idx = tuple([slice(None)] * dim + [slice(offset, offset + size)])
            piece.trace_name = _emit_slices(rec, src, in_shape, idx, piece.shape)
            offset += size
    elif name in ("max_pool2d", "_max_pool2d"):
        k = _pair(call_arg(args, kwargs, 1, "kernel_size", None))
        stride = call_arg(args, kwargs, 2, "stride", None)
        stride = k if stride in (None, [], ()) else _pair(stride)
        pad = _pair(call_arg(args, kwargs, 3, "padding", 0))
        dil = _pair(call_arg(args, kwargs, 4, "dilation", 1))
        ceil = int(bool(call_arg(args, kwargs, 5, "ceil_mode", False)))
        out.trace_name = rec.node1(
            "MaxPool",
            [src],
            "maxpool",
            kernel_shape=k,
            strides=stride,
            pads=[pad[0], pad[1], pad[0], pad[1]],
            dilations=dil,
            ceil_mode=ceil,
        )
    elif name == "pad":
        pads = list(call_arg(args, kwargs, 1, "pad", None))
        mode = call_arg(args, kwargs, 2, "mode", "constant")
        if mode != "constant":
            raise QTensorOpError(f"export: pad mode {mode!r} is not supported")
        n = len(in_shape)
        begin, end = [0] * n, [0] * n
        for i in range(len(pads) // 2):
            begin[n - 1 - i] = pads[2 * i]
            end[n - 1 - i] = pads[2 * i + 1]
        if qt is not None:
            value = np.array(int(qt.q_zero_point), dtype=_np_dtype(qt.q_dtype))
        else:
            value = np.array(call_arg(args, kwargs, 3, "value", 0.0) or 0.0, dtype=np.float32)
        out.trace_name = rec.node1(
            "Pad", [src, _i64(rec, begin + end, "pads"), rec.const(value, "pad_value")], "pad"
        )
    elif name == "relu":
        if qt is None:
            out.trace_name = rec.node1("Relu", [src], "relu")
        elif np.dtype(_np_dtype(qt.q_dtype)).itemsize == 1:
            # relu of the real value is max(code, zero point): an integer Max, no float pass
            zp = np.array(int(qt.q_zero_point), dtype=_np_dtype(qt.q_dtype))
            out.trace_name = rec.node1("Max", [src, rec.const(zp, "relu_floor")], "relu")
        else:  # int16: ORT has no int16 Max kernel
            s, z, npd = float(qt.q_scale), int(qt.q_zero_point), _np_dtype(qt.q_dtype)
            f = rec.dequantize(src, s, z, npd, "relu_in")
            r = rec.node1("Relu", [f], "relu")
            out.trace_name = rec.quantize(r, s, z, npd, "relu_out")
    else:  # pragma: no cover - guarded by LAYOUT_OPS
        raise QTensorOpError(f"export: no ONNX emitter for '{name}'")


def emit_argmax(rec: tracing.GraphRecorder, args: tuple, kwargs: dict, qt: QParams | None) -> str:
    """Record ``ArgMax`` of ``args[0]`` (``qt``: its qparams when it is quantized); returns the
    output's name. ORT has uint8/int8 ArgMax kernels; an int16 input is dequantized first."""
    x = args[0]
    dim = call_arg(args, kwargs, 1, "dim", None)
    if dim is None:
        raise QTensorOpError("export: argmax needs an explicit dim")
    keepdim = bool(call_arg(args, kwargs, 2, "keepdim", False))
    src = getattr(x, "trace_name", None)
    if src is None:
        raise QTensorOpError("export: input of 'argmax' is not traced")
    if qt is not None and qt.q_dtype.name not in ("uint8", "int8"):
        s, z, npd = float(qt.q_scale), int(qt.q_zero_point), _np_dtype(qt.q_dtype)
        src = rec.dequantize(src, s, z, npd, "argmax_in")
    return rec.node1("ArgMax", [src], "argmax", axis=int(dim) % x.dim(), keepdims=int(keepdim))


def _constant(rec: tracing.GraphRecorder, value: Any) -> str:
    if isinstance(value, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            value = value.as_subclass(torch.Tensor)
    return rec.const(np.asarray(value, dtype=np.float32), "c")


def _emit_float_arith(rec: tracing.GraphRecorder, name: str, args: tuple) -> str:
    op = _FLOAT_ARITH[name]
    names = []
    operands = list(args[:2]) if op != "Neg" else [args[0]]
    for a in operands:
        if isinstance(a, torch.Tensor) and getattr(a, "trace_name", None):
            names.append(a.trace_name)
        else:
            names.append(_constant(rec, a))
    if name.startswith("__r"):
        names = names[::-1]
    return rec.node1(op, names, op.lower())


def _emit_logic(rec: tracing.GraphRecorder, name: str, args: tuple) -> str:
    op = _LOGIC_OPS[name]
    if op == "Not":
        if args[0].dtype != torch.bool:
            raise QTensorOpError(f"export: '{name}' is supported on bool tensors only")
        return rec.node1("Not", [args[0].trace_name], "not")
    a, b = args[:2]
    if not (isinstance(a, torch.Tensor) and getattr(a, "trace_name", None)):
        raise QTensorOpError(f"export: '{name}' needs the traced tensor first")
    if isinstance(b, torch.Tensor) and getattr(b, "trace_name", None):
        other = b.trace_name
    else:
        other = rec.const(np.asarray(b, dtype=np.float32 if a.is_floating_point() else None), "c")
    return rec.node1(op, [a.trace_name, other], op.lower())


def _emit_float_fn(
    rec: tracing.GraphRecorder, name: str, args: tuple, kwargs: dict, out: torch.Tensor
) -> str:
    """ONNX for float activations/resizes applied to traced float tensors."""
    src = getattr(args[0], "trace_name", None)
    if src is None:
        raise QTensorOpError(f"export: input of '{name}' is not traced")
    if name == "softmax":
        dim = call_arg(args, kwargs, 1, "dim", None)
        return rec.node1("Softmax", [src], "softmax", axis=int(dim) % args[0].dim())
    if name in ("sigmoid", "tanh", "exp"):
        return rec.node1(name.capitalize(), [src], name)
    mode = call_arg(args, kwargs, 3, "mode", "nearest")
    align = call_arg(args, kwargs, 4, "align_corners", None)
    sizes = rec.const(np.array(list(out.shape), np.int64), "sizes")
    roi = rec.const(np.zeros(0, np.float32), "roi")
    if mode == "nearest":
        attrs = dict(
            mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"
        )
    elif mode == "bilinear":
        ctm = "align_corners" if align else "pytorch_half_pixel"
        attrs = dict(mode="linear", coordinate_transformation_mode=ctm)
    else:
        raise QTensorOpError(f"export: interpolate mode {mode!r} is not supported")
    return rec.node1("Resize", [src, roi, "", sizes], "resize", **attrs)


def emit_float_op(
    rec: tracing.GraphRecorder, name: str, args: tuple, kwargs: dict, out: torch.Tensor
) -> str:
    """Record a float op (arithmetic, activation, resize, ``float()``) of the glue code on
    traced model inputs; returns the name of its output ``out``."""
    if name in _FLOAT_ARITH:
        return _emit_float_arith(rec, name, args)
    if name in _LOGIC_OPS:
        return _emit_logic(rec, name, args)
    if name in _FLOAT_FNS:
        return _emit_float_fn(rec, name, args, kwargs, out)
    if name in ("float",) and out.dtype == torch.float32:
        return args[0].trace_name
    raise QTensorOpError(f"export: float op '{name}' on a traced input is not supported")
