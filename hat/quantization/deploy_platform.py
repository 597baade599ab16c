"""What the deployment reports state about the CPU and the exported weights.

:func:`deploy_platform_info` returns a JSON-ready dict for the alignment (``validation_hbir``)
and compile/perf (``compile_perf_hbir``) reports: the CPU's ISA level for ONNX Runtime's 8-bit
kernels (:mod:`hat.quantization.cpu_features`), whether its u8 x s8 products can saturate, what
``weight_reduce_range="auto"`` resolves to on it, and, given the exported ONNX file, the integer
range of its weights (full-range int8 or reduced 7-bit) and whether ORT's kernels compute them
exactly on this CPU.
"""

from __future__ import annotations

import os
from typing import Any

from hat.quantization.cpu_features import CpuInt8Features, detect_cpu_int8_features
from hat.quantization.qconfig import resolve_reduce_range

__all__ = ["deploy_platform_info", "onnx_weight_int_range", "SATURATION_FREE_MAX_ABS_WEIGHT"]

#: The largest ``|w|`` for which a ``vpmaddubsw`` pair never saturates:
#: ``2 * 255 * 64 = 32640 <= 32767`` (and ``2 * 255 * 65 = 33150`` does).
SATURATION_FREE_MAX_ABS_WEIGHT = 64

# op type -> index of its weight input: int8 after DequantizeLinear, or int8 directly
_DQ_WEIGHT_OPS = {"Conv": 1, "ConvTranspose": 1, "Gemm": 1, "MatMul": 1}
_INT_WEIGHT_OPS = {"ConvInteger": 1, "MatMulInteger": 1, "QLinearConv": 3, "QLinearMatMul": 3}


def onnx_weight_int_range(onnx_path: str | os.PathLike) -> dict[str, int] | None:
    """``{"tensors", "min", "max", "max_abs"}`` over the int8 weights of the convs/matmuls of
    an ONNX file (int8 initializers behind a DequantizeLinear, or the weight inputs of
    ConvInteger/MatMulInteger/QLinearConv); None when it has none."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(os.fspath(onnx_path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    names: set[str] = set()
    for node in graph.node:
        if node.op_type in _INT_WEIGHT_OPS:
            idx = _INT_WEIGHT_OPS[node.op_type]
            if len(node.input) > idx and node.input[idx] in inits:
                names.add(node.input[idx])
        elif node.op_type in _DQ_WEIGHT_OPS and len(node.input) > 1:
            dq = producer.get(node.input[1])
            if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in inits:
                names.add(dq.input[0])
    arrays = [
        numpy_helper.to_array(inits[n])
        for n in sorted(names)
        if inits[n].data_type == onnx.TensorProto.INT8
    ]
    if not arrays:
        return None
    lo = min(int(a.min()) for a in arrays)
    hi = max(int(a.max()) for a in arrays)
    return {
        "tensors": len(arrays),
        "min": lo,
        "max": hi,
        "max_abs": max(abs(lo), abs(hi)),
    }


def deploy_platform_info(
    onnx_path: str | os.PathLike | None = None, features: CpuInt8Features | None = None
) -> dict[str, Any]:
    """JSON-ready facts for deployment reports (see module doc). ``features`` defaults to the
    CPU this process runs on, which is the one that runs ONNX Runtime in the reports."""
    cpu = features or detect_cpu_int8_features()
    info: dict[str, Any] = {
        "cpu_machine": cpu.machine,
        "cpu_int8_isa": cpu.isa,
        "cpu_isa_source": cpu.source,
        "ort_u8s8_kernel": cpu.u8s8_kernel,
        "u8s8_can_saturate": cpu.u8s8_saturates,
        "weight_reduce_range_auto": resolve_reduce_range("auto", cpu),
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover - onnxruntime is a dependency of the deploy stages
        info["onnxruntime"] = None
    if onnx_path is None:
        return info
    rng = onnx_weight_int_range(onnx_path)
    if rng is None:
        info.update(weights=None, weights_saturation_free=True)
        return info
    reduced = rng["max_abs"] <= SATURATION_FREE_MAX_ABS_WEIGHT
    info["weights"] = "reduced (7-bit)" if reduced else "full-range int8"
    info["weight_int_range"] = [rng["min"], rng["max"]]
    info["weight_tensors"] = rng["tensors"]
    # exact on this CPU: no kernel saturation possible with these weights
    info["weights_saturation_free"] = reduced or cpu.u8s8_saturates is False
    if not info["weights_saturation_free"]:
        info["warning"] = (
            f"full-range int8 weights on a CPU whose ONNX Runtime u8 x s8 kernel is "
            f"{cpu.u8s8_kernel}: ONNX Runtime can differ from int_infer; quantize with "
            "weight_reduce_range=True (7-bit weights) for this CPU"
        )
    return info
