"""Run exported models on ONNX Runtime (CPU) and inspect what ORT fused.

``level``: ``"disable"`` (ORT_DISABLE_ALL: the QDQ reference semantics, DQ -> float op -> Q),
``"basic"``, ``"extended"`` (QDQ fusion into QLinear* kernels, NCHW) or ``"all"`` (plus the
NHWC/NCHWc layout transforms; fastest). Saved optimized graphs are written at EXTENDED because
the ALL graph is hardware specific.
"""

from __future__ import annotations

import collections
import os
import tempfile
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

__all__ = [
    "LEVELS",
    "make_session",
    "run_onnx",
    "optimized_graph",
    "optimized_op_counts",
    "OrtModule",
    "classify_ops",
    "INTEGER_OPS",
    "FLOAT_COMPUTE_OPS",
]

LEVELS = ("disable", "basic", "extended", "all")

#: Node-name tag of a float ``Conv`` the exporter proved exact on integer codes: its input is
#: the centred integer input (``DequantizeLinear`` with scale 1), its weights the int8 values,
#: and every partial sum is an integer below 2^24, so ORT's float32 kernel returns the int32
#: accumulator bit for bit (see ``IntConv2d``). Counted as an integer kernel.
EXACT_INT_CONV_TAG = "exact_int32_conv"
EXACT_INT_CONV_OP = "Conv(exact int32)"

INTEGER_OPS = {
    "QLinearConv",
    "QLinearAdd",
    "QLinearMul",
    "QLinearConcat",
    "QLinearSigmoid",
    "QLinearSoftmax",
    "QLinearLeakyRelu",
    "QLinearAveragePool",
    "QLinearGlobalAveragePool",
    "QLinearMatMul",
    "QGemm",
    "ConvInteger",
    "MatMulInteger",
    EXACT_INT_CONV_OP,
}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
FLOAT_COMPUTE_OPS = {
    "Conv",
    "FusedConv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "FusedMatMul",
    "GridSample",
    "Sigmoid",
    "Softmax",
    "Relu",
    "BatchNormalization",
}


def _level(level: str):
    import onnxruntime as ort

    table = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if level not in table:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    return table[level]


def make_session(
    path: str | os.PathLike | bytes,
    level: str = "all",
    threads: int | None = None,
    optimized_model_path: str | None = None,
    disabled_optimizers: Iterable[str] | None = None,
):
    """An ``onnxruntime.InferenceSession`` on the CPU provider.

    ``threads``: intra-op threads (None: ORT default = physical cores); inter-op is 1.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = _level(level)
    so.log_severity_level = 3
    if threads is not None:
        so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    if optimized_model_path:
        so.optimized_model_filepath = os.fspath(optimized_model_path)
    src = path if isinstance(path, bytes) else os.fspath(path)
    kwargs: dict[str, Any] = {}
    if disabled_optimizers:
        kwargs["disabled_optimizers"] = list(disabled_optimizers)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"], **kwargs)


def run_onnx(
    path: str | os.PathLike,
    inputs: dict[str, Any],
    level: str = "all",
    threads: int | None = None,
    session: Any = None,
) -> dict[str, np.ndarray]:
    """Run the model once; ``inputs`` values may be numpy arrays or torch tensors."""
    sess = session or make_session(path, level, threads)
    feeds = {}
    names = {i.name for i in sess.get_inputs()}
    for k, v in inputs.items():
        if k not in names:
            continue
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        feeds[k] = np.ascontiguousarray(v)
    outs = sess.run(None, feeds)
    return {o.name: v for o, v in zip(sess.get_outputs(), outs)}


def optimized_graph(path: str | os.PathLike, level: str = "extended", save_to: str | None = None):
    """The ``onnx.ModelProto`` ORT runs after optimization at ``level`` (EXTENDED by default,
    hardware independent); ``save_to`` keeps the optimized model for inspection."""
    import onnx

    if save_to is None:
        fd, tmp = tempfile.mkstemp(suffix=".onnx")
        os.close(fd)
    else:
        tmp = save_to
    try:
        make_session(path, level, threads=1, optimized_model_path=tmp)
        return onnx.load(tmp)
    finally:
        if save_to is None and os.path.exists(tmp):
            os.remove(tmp)


def optimized_op_counts(
    path: str | os.PathLike, level: str = "extended", save_to: str | None = None
) -> collections.Counter:
    """Op-type counts of :func:`optimized_graph`."""
    model = optimized_graph(path, level, save_to)
    return op_counts(model.graph)


def counted_op(node: Any) -> str:
    """The op a graph node counts as: its type, or :data:`EXACT_INT_CONV_OP` for a conv
    the exporter tagged exact on integer codes."""
    if "Conv" in node.op_type and EXACT_INT_CONV_TAG in node.name:
        return EXACT_INT_CONV_OP
    return node.op_type


def op_counts(graph: Any) -> collections.Counter:
    """Op counts of an ONNX graph, exact-integer convs counted apart (:func:`counted_op`)."""
    return collections.Counter(counted_op(n) for n in graph.node)


def classify_ops(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    """Split op counts into ``integer`` kernels, ``qdq`` boundaries, ``float_compute`` ops
    (a float conv/grid_sample/... that runs in float32) and ``other`` (layout, elementwise)."""
    out: dict[str, dict[str, int]] = {"integer": {}, "qdq": {}, "float_compute": {}, "other": {}}
    for op, n in sorted(counts.items()):
        if op in INTEGER_OPS:
            out["integer"][op] = n
        elif op in QDQ_OPS:
            out["qdq"][op] = n
        elif op in FLOAT_COMPUTE_OPS:
            out["float_compute"][op] = n
        else:
            out["other"][op] = n
    return out


class OrtModule(torch.nn.Module):
    """An exported model on ONNX Runtime as a module: ``forward(batch)`` feeds the graph's
    inputs from ``batch`` (a dict holding them by name; float32) and returns the outputs as
    CPU tensors in ``output_template``'s structure (the model's own outputs, e.g. its output
    on the example inputs; see :func:`hat.quantization.output_order.outputs_like`), so task
    code (metrics, post-processing) takes them like the PyTorch model's."""

    def __init__(
        self,
        path: str | os.PathLike,
        output_template: Any,
        level: str = "all",
        threads: int | None = 1,
    ) -> None:
        super().__init__()
        from hat.quantization.output_order import named_outputs

        self.path = os.fspath(path)
        self.level = level
        self.session = make_session(self.path, level, threads=threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        expected = [n for n, _ in named_outputs(output_template)]
        if expected != self.output_names:
            raise ValueError(
                f"{self.path}: ONNX outputs {self.output_names} do not match the model's "
                f"outputs {expected} (export the model again)"
            )
        self.output_template = output_template

    def forward(self, batch: dict[str, Any]) -> Any:
        from hat.quantization.output_order import outputs_like

        missing = [n for n in self.input_names if n not in batch]
        if missing:
            raise KeyError(f"{self.path}: the batch lacks the model inputs {missing}")
        feeds = {}
        for n in self.input_names:
            v = batch[n]
            if hasattr(v, "detach"):
                v = v.detach().cpu().numpy()
            feeds[n] = np.ascontiguousarray(v, dtype=np.float32)
        outs = self.session.run(None, feeds)
        return outputs_like(self.output_template, [torch.from_numpy(o) for o in outs])
