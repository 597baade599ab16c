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

During ONNX export (:mod:`hat.quantization.tracing`) every such op also records its ONNX node,
and model inputs travel as :class:`TracedTensor` (float) so that float glue code in front of the
``QuantStub`` (e.g. slicing a 6-channel image pair) is recorded too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hat.quantization import tracing
from hat.quantization.qdtypes import QDType, get_qdtype

__all__ = [
    "QTensor",
    "TracedTensor",
    "QTensorOpError",
    "make_qtensor",
    "plain",
    "is_qtensor",
    "make_traced",
]


class QTensorOpError(RuntimeError):
    """An op that would silently break quantization semantics was applied to a QTensor."""


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


# --------------------------------------------------------------------------------------------
# op classification
# --------------------------------------------------------------------------------------------
_RESHAPES = {
    "reshape",
    "view",
    "flatten",
    "unflatten",
    "squeeze",
    "unsqueeze",
    "view_as",
    "reshape_as",
}
_ALIASES = {"contiguous", "clone", "detach", "to", "cpu", "requires_grad_", "data"}
_LAYOUT = (
    _RESHAPES
    | _ALIASES
    | {
        "permute",
        "transpose",
        "__getitem__",
        "split",
        "chunk",
        "unbind",
        "max_pool2d",
        "_max_pool2d",
        "pad",
        "relu",
        "cat",
        "concat",
        "concatenate",
        "stack",
        "expand",
        "expand_as",
    }
)
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
# ONNX emission of layout ops
# --------------------------------------------------------------------------------------------
def _i64(rec: tracing.GraphRecorder, values: Any, hint: str) -> str:
    return rec.const(np.asarray(values, dtype=np.int64).reshape(-1), hint)


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


def _dim_arg(args: tuple, kwargs: dict, pos: int, key: str, default: Any) -> Any:
    if len(args) > pos:
        return args[pos]
    return kwargs.get(key, default)


def _emit_layout(
    name: str,
    args: tuple,
    kwargs: dict,
    src_t: torch.Tensor,
    out: Any,
    qt: QTensor | None,
) -> None:
    """Record the ONNX node(s) of a layout op; sets ``trace_name`` on the outputs."""
    rec = tracing.current()
    assert rec is not None
    src = getattr(src_t, "trace_name", None)
    if name in ("cat", "concat", "concatenate", "stack"):
        seq = args[0] if args else kwargs["tensors"]
        names = [getattr(t, "trace_name", None) for t in seq]
        if any(n is None for n in names):
            raise QTensorOpError(f"export: an input of {name} is not traced")
        dim = _dim_arg(args, kwargs, 1, "dim", 0)
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
    if name in _ALIASES:
        out.trace_name = src
    elif name in _RESHAPES:
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
        d0 = _dim_arg(args, kwargs, 1, "dim0", None) % len(in_shape)
        d1 = _dim_arg(args, kwargs, 2, "dim1", None) % len(in_shape)
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
        k = _pair(_dim_arg(args, kwargs, 1, "kernel_size", None))
        stride = _dim_arg(args, kwargs, 2, "stride", None)
        stride = k if stride in (None, [], ()) else _pair(stride)
        pad = _pair(_dim_arg(args, kwargs, 3, "padding", 0))
        dil = _pair(_dim_arg(args, kwargs, 4, "dilation", 1))
        ceil = int(bool(_dim_arg(args, kwargs, 5, "ceil_mode", False)))
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
        pads = list(_dim_arg(args, kwargs, 1, "pad", None))
        mode = _dim_arg(args, kwargs, 2, "mode", "constant")
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
            value = np.array(_dim_arg(args, kwargs, 3, "value", 0.0) or 0.0, dtype=np.float32)
        out.trace_name = rec.node1(
            "Pad", [src, _i64(rec, begin + end, "pads"), rec.const(value, "pad_value")], "pad"
        )
    elif name == "relu":
        if qt is None:
            out.trace_name = rec.node1("Relu", [src], "relu")
        else:
            s, z, npd = float(qt.q_scale), int(qt.q_zero_point), _np_dtype(qt.q_dtype)
            f = rec.dequantize(src, s, z, npd, "relu_in")
            r = rec.node1("Relu", [f], "relu")
            out.trace_name = rec.quantize(r, s, z, npd, "relu_out")
    else:  # pragma: no cover - guarded by _LAYOUT
        raise QTensorOpError(f"export: no ONNX emitter for '{name}'")


def _pair(v: Any) -> list[int]:
    if isinstance(v, int):
        return [v, v]
    return [int(i) for i in v]


def _np_dtype(q: QDType) -> Any:
    return np.dtype(str(q.torch_dtype).replace("torch.", ""))


def _emit_float_fn(
    rec: tracing.GraphRecorder, name: str, args: tuple, kwargs: dict, out: torch.Tensor
) -> str:
    """ONNX for float activations/resizes applied to traced float tensors."""
    src = getattr(args[0], "trace_name", None)
    if src is None:
        raise QTensorOpError(f"export: input of '{name}' is not traced")
    if name == "softmax":
        dim = _dim_arg(args, kwargs, 1, "dim", None)
        return rec.node1("Softmax", [src], "softmax", axis=int(dim) % args[0].dim())
    if name in ("sigmoid", "tanh", "exp"):
        return rec.node1(name.capitalize(), [src], name)
    mode = _dim_arg(args, kwargs, 3, "mode", "nearest")
    align = _dim_arg(args, kwargs, 4, "align_corners", None)
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


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------
def _run_plain(func: Callable, args: tuple, kwargs: dict) -> Any:
    with torch._C.DisableTorchFunctionSubclass():
        return func(*_unwrap(args), **_unwrap(kwargs))


def _q_layout(name: str, func: Callable, args: tuple, kwargs: dict, qts: list[QTensor]) -> Any:
    q0 = qts[0]
    if name in ("cat", "concat", "concatenate", "stack"):
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
        value = _dim_arg(args, kwargs, 3, "value", 0.0) or 0.0
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
        _emit_layout(name, args, kwargs, args[0] if args else q0, result, q0)
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
    dim = _dim_arg(args, kwargs, 1, "dim", None)
    if dim is None:
        raise QTensorOpError("export: argmax needs an explicit dim")
    keepdim = bool(_dim_arg(args, kwargs, 2, "keepdim", False))
    src = getattr(x, "trace_name", None)
    if src is None:
        raise QTensorOpError("export: input of 'argmax' is not traced")
    if isinstance(x, QTensor) and x.q_dtype.name not in ("uint8", "int8"):
        s, z, npd = float(x.q_scale), int(x.q_zero_point), _np_dtype(x.q_dtype)
        src = rec.dequantize(src, s, z, npd, "argmax_in")
    result = make_traced(out, None)
    result.trace_name = rec.node1(
        "ArgMax", [src], "argmax", axis=int(dim) % x.dim(), keepdims=int(keepdim)
    )
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
        if name in _LAYOUT:
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
        if name in _LAYOUT:
            _emit_layout(name, args, kwargs, args[0] if args else None, result, None)
            return result
        if name in _FLOAT_ARITH:
            op = _FLOAT_ARITH[name]
            names = []
            operands = list(args[:2]) if op != "Neg" else [args[0]]
            for a in operands:
                if isinstance(a, torch.Tensor) and getattr(a, "trace_name", None):
                    names.append(a.trace_name)
                else:
                    names.append(rec.const(np.asarray(_unwrap(a), dtype=np.float32), "c"))
            if name.startswith("__r"):
                names = names[::-1]
            result.trace_name = rec.node1(op, names, op.lower())
            return result
        if name == "argmax":
            return _argmax(func, args, kwargs)
        if name in ("sigmoid", "softmax", "interpolate", "tanh", "exp"):
            result.trace_name = _emit_float_fn(rec, name, args, kwargs, result)
            return result
        if name in ("float",) and out.dtype == torch.float32:
            result.trace_name = args[0].trace_name
            return result
        raise QTensorOpError(f"export: float op '{name}' on a traced input is not supported")
