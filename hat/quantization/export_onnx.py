"""ONNX export of the integer model (QDQ format for ONNX Runtime) and of float models.

:func:`export_int_model_to_onnx` runs the integer model once on the example inputs while every
integer module records its ONNX nodes (:mod:`hat.quantization.tracing`), then writes the graph
with ``onnx.helper`` (IR version 10, opset 21, static shapes):

* activations: ``QuantizeLinear``/``DequantizeLinear`` with 0-d float32 scales and 0-d
  zero points of the activation dtype (uint8 for ``ort_u8s8``);
* conv weights: int8 initializers + ``DequantizeLinear(axis=0)`` with per-channel scales;
  biases: int32 initializers + ``DequantizeLinear(axis=0)`` with ``scale = s_in * s_w``;
  nothing is left for ORT's ``WeightBiasQuantization`` pass to change;
* every consumer gets its own ``DequantizeLinear`` (ORT's QDQ selectors want one consumer);
* integer-only subgraphs where ORT has no QDQ fusion (correlation: int32 Mul/ReduceSum),
  ``ConvInteger`` for high-precision (float) conv outputs, and float islands (torch's export of
  the float module, spliced between DQ and Q nodes).

ORT at ENABLE_EXTENDED/ALL fuses the QDQ groups into QLinearConv / QLinearAdd / QLinearMul /
QLinearConcat / QLinearSigmoid / QLinearSoftmax; see :mod:`hat.quantization.ort_runner`.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hat.quantization import tracing
from hat.quantization.convert import convert, is_int_model
from hat.quantization.output_order import named_outputs
from hat.quantization.qtensor import make_traced, plain

__all__ = [
    "ExportReport",
    "export_int_model_to_onnx",
    "export_float_onnx",
    "splice_float_module",
    "IR_VERSION",
    "DEFAULT_OPSET",
]

logger = logging.getLogger(__name__)

IR_VERSION = 10  # ORT 1.31 rejects onnx 1.23's default IR version (14)
DEFAULT_OPSET = 21  # int16 QuantizeLinear/DequantizeLinear need opset 21


@dataclass
class ExportReport:
    """What was written: path, input/output names, node counts, the float islands and, per
    spliced float module, the torch exporter that produced it (``"dynamo"``, or
    ``"torchscript"`` after the dynamo exporter failed: a WARNING names the exception), and
    ``unused_modules``: the modules whose every node was dropped because no output uses what
    they compute (e.g. feature levels no head reads)."""

    path: str
    inputs: list[str]
    outputs: list[str]
    op_counts: dict[str, int]
    float_islands: list[str] = field(default_factory=list)
    float_exporters: dict[str, str] = field(default_factory=dict)
    unused_modules: list[str] = field(default_factory=list)


def _call_model(model: nn.Module, inputs: dict[str, Any], mode: str) -> Any:
    if mode == "auto":
        params = list(inspect.signature(model.forward).parameters.values())
        named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        var_kw = any(p.kind == p.VAR_KEYWORD for p in params)
        mode = "kwargs" if var_kw or set(inputs) <= named else "dict"
    if mode == "kwargs":
        return model(**inputs)
    if mode == "dict":
        return model(inputs)
    if mode == "positional":
        return model(*inputs.values())
    raise ValueError(f"unknown input mode {mode!r}")


def _to_onnx_model(
    rec: tracing.GraphRecorder, inputs, outputs, opset: int, unused: list[str] | None = None
):
    import onnx
    from onnx import helper, numpy_helper

    nodes = []
    for n in rec.nodes:
        if n.proto is not None:
            nodes.append(n.proto)
            continue
        nodes.append(
            helper.make_node(
                n.op_type, n.inputs, n.outputs, name=n.name, domain=n.domain, **n.attrs
            )
        )
    live, needed = _live_nodes(nodes, [o.name for o in outputs])
    if unused is not None:
        kept = {_scope(n.name) for n in live}
        unused.extend(sorted({_scope(n.name) for n in nodes} - kept - {""}))
    nodes = live
    inits = []
    for name, arr in rec.initializers.items():
        if name not in needed:
            continue
        if isinstance(arr, np.ndarray):
            inits.append(numpy_helper.from_array(arr, name))
        else:  # a TensorProto spliced from a float island
            arr.name = name
            inits.append(arr)
    graph = helper.make_graph(nodes, "hat_int_model", inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(d, v) for d, v in rec.extra_opsets.items() if d != ""]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="hat.quantization")
    model.functions.extend(rec.functions)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def _scope(node_name: str) -> str:
    """The module a node was recorded in (node names are ``<module>/<node>``)."""
    return node_name.split("/", 1)[0] if "/" in node_name else ""


def _live_nodes(nodes: list, outputs: list[str]) -> tuple[list, set[str]]:
    """The nodes the graph outputs depend on (in order) and every value name they read: what
    the model computed but no output uses (e.g. training-only auxiliary heads) is dropped."""
    needed = set(outputs)
    live = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    return live[::-1], needed


def _value_info(name: str, t: torch.Tensor):
    from onnx import helper

    np_t = np.dtype(str(plain(t).dtype).replace("torch.", ""))
    elem = helper.np_dtype_to_tensor_dtype(np_t)
    return helper.make_tensor_value_info(name, elem, list(t.shape))


def export_int_model_to_onnx(
    model: nn.Module,
    example_inputs: dict[str, Any],
    path: str | os.PathLike,
    opset: int = DEFAULT_OPSET,
    input_mode: str = "auto",
) -> ExportReport:
    """Export an integer model (or a prepared QAT/calibrated model, converted first) to ONNX.

    ``example_inputs`` maps input names to tensors (static shapes are taken from them; nested
    dicts/lists give inputs named ``outer.inner``); the
    model is called as ``model(**inputs)`` when its ``forward`` takes those names, else as
    ``model(inputs)`` (HAT task modules take one dict); ``input_mode`` forces ``"kwargs"``,
    ``"dict"`` or ``"positional"``. Returns an :class:`ExportReport`.
    """
    if not is_int_model(model):
        model = convert(model)
    model = model.eval()
    for name, m in model.named_modules():
        m._export_scope = name or "model"
    rec = tracing.GraphRecorder()
    graph_inputs: list[tuple[str, torch.Tensor]] = []

    def wrap(v: Any, name: str) -> Any:
        if isinstance(v, torch.Tensor):
            graph_inputs.append((name, v))
            return make_traced(v.detach(), name)
        if isinstance(v, dict):
            return {k: wrap(u, f"{name}.{k}") for k, u in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(wrap(u, f"{name}.{i}") for i, u in enumerate(v))
        return v

    traced = {k: wrap(v, k) for k, v in example_inputs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tracing.recording(rec), torch.no_grad():
            out = _call_model(model, traced, input_mode)
    outs = named_outputs(out)
    if not outs:
        raise RuntimeError("export: the model returned no tensors")
    out_infos, seen = [], set()
    for name, t in outs:
        src = getattr(t, "trace_name", None)
        if src is None:
            raise RuntimeError(f"export: output {name!r} was not produced by traced ops")
        rec.node("Identity", [src], outputs=[name])
        seen.add(name)
        out_infos.append(_value_info(name, t))
    in_infos = [_value_info(k, v) for k, v in graph_inputs]
    unused: list[str] = []
    onnx_model = _to_onnx_model(rec, in_infos, out_infos, opset, unused)
    import onnx

    onnx.save(onnx_model, os.fspath(path))
    counts: dict[str, int] = {}
    for n in onnx_model.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    islands = [name for name, m in model.named_modules() if getattr(m, "is_float_island", False)]
    exporters = {
        name: m._onnx_exporter
        for name, m in model.named_modules()
        if getattr(m, "_onnx_exporter", None) is not None
    }
    return ExportReport(
        os.fspath(path),
        [n for n, _ in graph_inputs],
        [n for n, _ in outs],
        counts,
        islands,
        exporters,
        unused,
    )


# --------------------------------------------------------------------------------------------
# float islands
# --------------------------------------------------------------------------------------------
def _torch_export_proto(module: nn.Module, args: tuple, opset: int):
    """``(ModelProto, exporter)``: torch's dynamo exporter, or the TorchScript exporter
    (opset <= 20) when dynamo fails; the fallback is logged as a WARNING with the exception."""
    import onnx

    buf = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
        warnings.simplefilter("ignore")
        try:
            prog = torch.onnx.export(
                module, args, dynamo=True, opset_version=opset, optimize=True, verbose=False
            )
            return prog.model_proto, "dynamo"
        except Exception as exc:  # noqa: BLE001 - fall back to the TorchScript exporter, loudly
            scope = getattr(module, "_export_scope", type(module).__name__)
            logger.warning(
                "float module %s (%s): torch.onnx.export(dynamo=True) failed (%s: %s); "
                "exporting it with the TorchScript exporter (dynamo=False, opset %d) instead",
                scope,
                type(module).__name__,
                type(exc).__name__,
                exc,
                min(opset, 20),
            )
            f = io.BytesIO()
            torch.onnx.export(module, args, f, dynamo=False, opset_version=min(opset, 20))
            return onnx.load_from_string(f.getvalue()), "torchscript"


def splice_float_module(
    rec: tracing.GraphRecorder,
    module: nn.Module,
    float_inputs: list[torch.Tensor],
    input_names: list[str],
    opset: int = DEFAULT_OPSET,
) -> str:
    """Export ``module`` with torch's ONNX exporter and inline its graph into ``rec``; its
    inputs are bound to ``input_names``; returns the name of its (single) output."""
    from onnx import helper

    args = tuple(plain(t) for t in float_inputs)
    proto, module._onnx_exporter = _torch_export_proto(module.eval(), args, opset)
    g = proto.graph
    init_names = {i.name for i in g.initializer}
    graph_inputs = [i.name for i in g.input if i.name not in init_names]
    if len(graph_inputs) != len(input_names):
        raise RuntimeError(
            f"float island {type(module).__name__}: {len(graph_inputs)} exported inputs, "
            f"{len(input_names)} expected"
        )
    if len(g.output) != 1:
        raise RuntimeError(f"float island {type(module).__name__} must have one output")
    prefix = rec.fresh("island")
    rename = dict(zip(graph_inputs, input_names))

    def rn(name: str) -> str:
        if not name:
            return name
        return rename.setdefault(name, f"{prefix}/{name}")

    for init in g.initializer:
        new = type(init)()
        new.CopyFrom(init)
        rec.initializers[rn(init.name)] = new
    for node in g.node:
        if any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute):
            raise RuntimeError("float island: control flow in the exported module is unsupported")
        new = helper.make_node(
            node.op_type,
            [rn(i) for i in node.input],
            [rn(o) for o in node.output],
            name=f"{prefix}/{node.name}",
            domain=node.domain,
        )
        new.attribute.extend(node.attribute)
        rec.nodes.append(tracing.NodeRecord(node.op_type, [], [], proto=new))
    for op in proto.opset_import:
        if op.domain not in ("", "ai.onnx"):
            rec.extra_opsets[op.domain] = op.version
    rec.functions.extend(proto.functions)
    return rn(g.output[0].name)


# --------------------------------------------------------------------------------------------
# float / QAT models
# --------------------------------------------------------------------------------------------
def export_float_onnx(
    model: nn.Module,
    example_inputs: dict[str, Any],
    path: str | os.PathLike,
    opset: int = 20,
    input_mode: str = "auto",
    dynamo: bool = True,
) -> str:
    """Export a float model with ``torch.onnx.export`` (static shapes, IR version <= 10); inputs
    and outputs are named like :func:`export_int_model_to_onnx` names them.

    Meant for float baselines (ORT fp32) and float models; a prepared QAT model passes
    quantized tensors between modules and is exported through
    :func:`export_int_model_to_onnx` instead.
    """
    if any(getattr(m, "_hat_qat", False) for m in model.modules()):
        raise TypeError(
            "export_float_onnx: model is prepared for QAT; export its integer model with "
            "export_int_model_to_onnx (it converts first)"
        )
    import onnx

    names = [k for k, v in example_inputs.items() if isinstance(v, torch.Tensor)]

    class _Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *args: torch.Tensor) -> Any:
            data = dict(example_inputs)
            data.update(zip(names, args))
            return _call_model(self.inner, data, input_mode)

    args = tuple(example_inputs[k] for k in names)
    with torch.no_grad():
        out_names = [n for n, _ in named_outputs(_Wrapper().eval()(*args))]
    buf = io.StringIO()
    proto = None
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf), torch.no_grad():
        warnings.simplefilter("ignore")
        if dynamo:
            try:
                prog = torch.onnx.export(
                    _Wrapper().eval(),
                    args,
                    dynamo=True,
                    opset_version=opset,
                    input_names=names,
                    output_names=out_names,
                )
                proto = prog.model_proto
            except Exception as exc:  # noqa: BLE001 - e.g. shapes read from tensors (MOTR)
                logger.warning(
                    "export_float_onnx: the dynamo exporter failed (%s: %s); exporting with the "
                    "TorchScript exporter (static shapes traced from the example inputs)",
                    type(exc).__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "",
                )
        if proto is None:
            f = io.BytesIO()
            torch.onnx.export(
                _Wrapper().eval(),
                args,
                f,
                dynamo=False,
                opset_version=opset,
                input_names=names,
                output_names=out_names,
            )
            proto = onnx.load_from_string(f.getvalue())
    proto.ir_version = min(proto.ir_version, IR_VERSION)
    onnx.save(proto, os.fspath(path))
    return os.fspath(path)
