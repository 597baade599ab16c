"""Graph recording used by the ONNX exporter.

While :func:`hat.quantization.export_onnx.export_int_model_to_onnx` runs the integer model once,
every quantized module and every layout op on a traced tensor appends ONNX node records to the
active :class:`GraphRecorder`. The records are plain Python/numpy objects; turning them into an
``onnx.ModelProto`` happens in :mod:`hat.quantization.export_onnx` (so that this module, imported
at start-up by the registry scan, does not import onnx).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GraphRecorder", "NodeRecord", "current", "recording", "is_tracing"]


@dataclass
class NodeRecord:
    """One ONNX node: ``op_type(inputs) -> outputs`` with attributes (python values)."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    name: str = ""
    # A prebuilt onnx.NodeProto (float islands spliced from torch's exporter); when set, the
    # other fields only document the node.
    proto: Any = None


class GraphRecorder:
    """Collects nodes, initializers and value names for one export."""

    def __init__(self) -> None:
        self.nodes: list[NodeRecord] = []
        self.initializers: dict[str, Any] = {}  # name -> np.ndarray or onnx.TensorProto
        self.functions: list[Any] = []  # onnx.FunctionProto from spliced islands
        self.extra_opsets: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self.scope: str = ""

    # -- names -----------------------------------------------------------------------------
    def fresh(self, hint: str = "t") -> str:
        hint = (self.scope + "/" + hint) if self.scope else hint
        n = self._counts.get(hint, 0)
        self._counts[hint] = n + 1
        return hint if n == 0 else f"{hint}_{n}"

    # -- initializers ----------------------------------------------------------------------
    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        arr = np.asarray(value, dtype=dtype)
        name = self.fresh(hint)
        self.initializers[name] = arr
        return name

    # -- nodes -----------------------------------------------------------------------------
    def node(
        self,
        op_type: str,
        inputs: list[str],
        num_outputs: int = 1,
        hint: str | None = None,
        domain: str = "",
        outputs: list[str] | None = None,
        node_name: str | None = None,
        **attrs: Any,
    ) -> list[str]:
        """Append one node; ``node_name`` is a hint for the node's own name (default
        ``n_<op_type>``), kept in the scope like the output names."""
        outs = outputs or [self.fresh(hint or op_type.lower()) for _ in range(num_outputs)]
        name = self.fresh(node_name or "n_" + op_type)
        self.nodes.append(NodeRecord(op_type, list(inputs), outs, attrs, domain, name))
        return outs

    def node1(
        self,
        op_type: str,
        inputs: list[str],
        hint: str | None = None,
        node_name: str | None = None,
        **attrs: Any,
    ) -> str:
        return self.node(op_type, inputs, 1, hint, node_name=node_name, **attrs)[0]

    def quantize(self, x: str, scale: float, zero_point: int, np_dtype: Any, hint: str) -> str:
        """QuantizeLinear with 0-d scale and zero point (ORT needs scalars to fuse)."""
        s = self.const(np.float32(scale), hint + "_scale", np.float32)
        z = self.const(np.array(zero_point, dtype=np_dtype), hint + "_zp")
        return self.node1("QuantizeLinear", [x, s, z], hint)

    def dequantize(
        self,
        q: str,
        scale: Any,
        zero_point: Any,
        np_dtype: Any,
        hint: str,
        axis: int | None = None,
    ) -> str:
        """DequantizeLinear; per-axis when ``axis`` is given (1-d scale/zero point)."""
        s = self.const(np.asarray(scale, dtype=np.float32), hint + "_scale", np.float32)
        z = self.const(np.asarray(zero_point, dtype=np_dtype), hint + "_zp")
        attrs = {} if axis is None else {"axis": axis}
        return self.node1("DequantizeLinear", [q, s, z], hint + "_dq", **attrs)

    @contextlib.contextmanager
    def name_scope(self, scope: str) -> Iterator[None]:
        old = self.scope
        self.scope = scope
        try:
            yield
        finally:
            self.scope = old


_CURRENT: GraphRecorder | None = None


def current() -> GraphRecorder | None:
    """The recorder of the export in progress, or None."""
    return _CURRENT


def is_tracing() -> bool:
    return _CURRENT is not None


@contextlib.contextmanager
def recording(rec: GraphRecorder) -> Iterator[GraphRecorder]:
    """Make ``rec`` the active recorder for the duration of the block."""
    global _CURRENT
    if _CURRENT is not None:
        raise RuntimeError("an ONNX export trace is already running")
    _CURRENT = rec
    try:
        yield rec
    finally:
        _CURRENT = None
