"""Which torch ops a :class:`~hat.quantization.qtensor.QTensor` lets through, and the error for
the others.

The allowed ops are quantization-neutral layout ops: they move, copy or select values without
changing them, so the result keeps the input's quantization parameters. Shared by the tensor type
(:mod:`hat.quantization.qtensor`) and the ONNX nodes it records during export
(:mod:`hat.quantization.onnx_tensor_ops`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "QTensorOpError",
    "RESHAPE_OPS",
    "ALIAS_OPS",
    "CONCAT_OPS",
    "LAYOUT_OPS",
    "call_arg",
]


class QTensorOpError(RuntimeError):
    """An op that would silently break quantization semantics was applied to a QTensor."""


# Ops that only change the shape (exported as Reshape when the shape changes).
RESHAPE_OPS = frozenset(
    {"reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as"}
)
# Ops whose result holds the same values in the same shape (nothing to export).
ALIAS_OPS = frozenset({"contiguous", "clone", "detach", "to", "cpu", "requires_grad_", "data"})
# Ops that join a sequence of tensors (all inputs must share their qparams).
CONCAT_OPS = frozenset({"cat", "concat", "concatenate", "stack"})
# Everything a QTensor allows.
LAYOUT_OPS = (
    RESHAPE_OPS
    | ALIAS_OPS
    | CONCAT_OPS
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
        "expand",
        "expand_as",
    }
)


def call_arg(args: tuple, kwargs: dict, pos: int, key: str, default: Any) -> Any:
    """Argument ``key`` of a torch function call, given at position ``pos`` or by keyword."""
    if len(args) > pos:
        return args[pos]
    return kwargs.get(key, default)
