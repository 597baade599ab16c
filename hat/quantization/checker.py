"""Can a float model run as an integer model? :func:`check_model` answers with a
:class:`CheckReport`.

The check builds the integer model (``fuse_model``, qconfig, prepare, one calibration pass on the
example inputs, convert), runs it once with hooks on every module, exports it to QDQ ONNX and
lets ONNX Runtime optimise it (EXTENDED). Each row of the report is one module of the integer
model with how it runs in the deployed graph, as the module declares it
(:meth:`hat.quantization.quantized.base.IntModule.deployment`: integer kernel, data movement or
float island with the reason) and its multiply-accumulates (``IntModule.macs``; modules that are
not integer modules are counted by :func:`hat.utils.op_count.count_ops`). The summary is
computed from the rows (total MACs, the share not in float islands, the float islands).

Problems (the model cannot run as an integer model): BatchNorm outside a ConvModule2d (cannot
be folded), a quantizable module (one with a QAT mapping, :mod:`hat.quantization.mapping`)
called more than once per forward (its calls would share one output scale), a failed
conversion or export, a model input not quantized first (or compared into a boolean mask),
convolutions that ORT does not run as
integer kernels, float compute in ORT's graph where a module declares integer, and an integer
MAC share below the threshold. Warnings: quantizable modules without a qconfig.
"""

from __future__ import annotations

import collections
import copy
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from hat.quantization.quantized.base import (
    DATA_MOVEMENT,
    FLOAT_ISLAND,
    INTEGER,
    Deployment,
    IntModule,
    is_quantized,
)

__all__ = ["CheckRow", "CheckSummary", "CheckReport", "check_model"]

OUTSIDE_MODULES = "(ops outside modules)"
# ops that only move or reshape data: allowed on dequantized floats in data-movement modules
_LAYOUT_OPS = {"Resize", "Reshape", "Transpose", "Concat", "Slice", "Gather", "Identity"}


@dataclass
class CheckRow:
    """One module of the integer model: how it runs and its MACs (summed over its calls)."""

    name: str
    module_type: str
    kind: str
    note: str
    macs: int
    calls: int = 1
    integer_module: bool = True


@dataclass
class CheckSummary:
    """Figures of the whole model, computed from the rows and ORT's optimised graph."""

    total_macs: int
    integer_macs: int
    integer_mac_share: float
    float_islands: dict[str, str]
    convs: int
    integer_convs: int
    ort_ops: dict[str, int]
    ort_op_classes: dict[str, dict[str, int]]


@dataclass
class CheckReport:
    """The checker's answer: ``rows``, ``summary``, ``problems`` and ``warnings``."""

    rows: list[CheckRow] = field(default_factory=list)
    summary: CheckSummary | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": [asdict(r) for r in self.rows],
            "summary": None if self.summary is None else asdict(self.summary),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render_text(self, rows: bool = True) -> str:
        """The report as the model checker prints it (``rows=False``: summary only)."""
        lines = []
        if rows and self.rows:
            w = max(len(r.name) for r in self.rows)
            t = max(len(r.module_type) for r in self.rows)
            lines.append(f"{'module'.ljust(w)}  {'int module'.ljust(t)}  {'MACs':>12}  how it runs")
            for r in self.rows:
                calls = f" (x{r.calls})" if r.calls > 1 else ""
                lines.append(
                    f"{r.name.ljust(w)}  {r.module_type.ljust(t)}  {r.macs:>12}  "
                    f"{r.kind}: {r.note}{calls}"
                )
            lines.append("")
        s = self.summary
        if s is not None:
            lines.append(f"ORT (EXTENDED) op classes: {s.ort_op_classes}")
            lines.append(f"convolutions: {s.convs}, integer conv kernels in ORT: {s.integer_convs}")
            lines.append(f"float islands: {', '.join(s.float_islands) or 'none'}")
            lines.extend(f"  {name}: {reason}" for name, reason in s.float_islands.items())
            lines.append(
                f"MACs total {s.total_macs}, on integer kernels {s.integer_macs} "
                f"({100 * s.integer_mac_share:.2f} %)"
            )
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.extend(f"problem: {p}" for p in self.problems)
        verdict = "runs as an integer model" if self.ok else "CANNOT run as an integer model"
        lines.append(f"RESULT: the model {verdict}")
        return "\n".join(lines)


def _call(model: nn.Module, inputs: dict[str, Any]) -> Any:
    from hat.quantization.export_onnx import _call_model

    return _call_model(model, inputs, "auto")


def _is_quantizable(module: nn.Module) -> bool:
    from hat.quantization.mapping import get_qat_factory

    return get_qat_factory(module) is not None


def _structure_problems(model: nn.Module, inputs: dict[str, Any]) -> list[str]:
    """Shared quantizable modules and BatchNorms that fusion cannot fold."""
    from hat.nn import ConvModule2d

    problems = []
    calls: collections.Counter = collections.Counter()
    handles = [
        m.register_forward_hook(lambda mod, a, o, n=n: calls.update([n]))
        for n, m in model.named_modules()
        if n and _is_quantizable(m)
    ]
    try:
        with torch.no_grad():
            _call(model, inputs)
    finally:
        for h in handles:
            h.remove()
    for n, c in sorted(calls.items()):
        if c > 1:
            problems.append(
                f"module {n} ({type(model.get_submodule(n)).__name__}) is called {c} times per "
                "forward: its calls would share one output scale; use one module per call"
            )
    for n, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            parent = model.get_submodule(n.rsplit(".", 1)[0]) if "." in n else model
            if not isinstance(parent, ConvModule2d):
                problems.append(
                    f"unfused BatchNorm {n}: not part of a ConvModule2d "
                    "(conv-bn-act); it cannot be folded into a conv"
                )
    return problems


def _uncalled(model: nn.Module, inputs: dict[str, Any]) -> list[str]:
    """The outermost submodules the example inputs never reach (neither they nor anything
    inside them is called)."""
    called: set[str] = set()
    handles = [
        m.register_forward_hook(lambda mod, a, o, n=n: called.add(n))
        for n, m in model.named_modules()
        if n
    ]
    try:
        with torch.no_grad():
            _call(model.eval(), inputs)
    finally:
        for h in handles:
            h.remove()
    # a module is used when it or anything inside it is called (containers such as
    # ModuleList, or modules whose methods other than forward run their children)
    used = {prefix for n in called for prefix in _prefixes(n)}
    unused = [n for n, _ in model.named_modules() if n and n not in used]
    return [n for n in unused if not any(n.startswith(u + ".") for u in unused)]


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _quantize(model: nn.Module, inputs: dict[str, Any]) -> tuple[nn.Module, list[str]]:
    """The calibrated integer model and the qconfig warnings."""
    from hat.quantization import (
        FakeQuantState,
        convert,
        default_set_qconfig,
        prepare_qat,
        set_fake_quantize,
    )
    from hat.quantization.qconfig import effective_qconfigs

    if hasattr(model, "fuse_model"):
        model.fuse_model()
    if hasattr(model, "set_qconfig"):
        model.set_qconfig()
    if getattr(model, "qconfig", None) is None:
        default_set_qconfig(model)
    # modules the deployed graph never calls (e.g. MOTR's query interaction module, its own
    # graph) are not part of it: they stay float here
    uncalled = _uncalled(model, inputs)
    for name in uncalled:
        model.get_submodule(name).qconfig = None
    qconfigs = effective_qconfigs(model)
    warnings = [
        f"{n} ({type(m).__name__}) has no qconfig: it stays float"
        for n, m in model.named_modules()
        if n
        and qconfigs[n] is None
        and _is_quantizable(m)
        and not any(n == u or n.startswith(u + ".") for u in uncalled)
    ]
    warnings += [
        f"{n} ({type(model.get_submodule(n)).__name__}) is not called by the deploy inputs: "
        "not part of this graph"
        for n in uncalled
        if any(_is_quantizable(m) for m in model.get_submodule(n).modules())
    ]
    prepare_qat(model, inplace=True, state=FakeQuantState.CALIBRATION)
    with torch.no_grad():  # one calibration pass on the example inputs
        _call(model.eval(), inputs)
    set_fake_quantize(model, FakeQuantState.VALIDATION)
    return convert(model), warnings


def _row_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Integer modules (not their children) and the leaves outside them."""
    rows: dict[str, nn.Module] = {}

    def walk(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(child, IntModule) or not list(child.children()):
                rows[full] = child
            else:
                if _declares_deployment(child):
                    rows[full] = child  # its own glue ops (its children have their rows)
                walk(full, child)

    walk("", model)
    return rows


# what may read a float model input: quantization, or a comparison that makes a boolean mask
_INPUT_OPS = frozenset({"QuantizeLinear", "Greater", "Less", "Equal"})


def _declares_deployment(module: nn.Module) -> bool:
    """A float module that states how its own ops deploy (``deployment(inputs, output)``):
    e.g. glue arithmetic between its quantized children, or a constant of the graph."""
    return not isinstance(module, IntModule) and callable(getattr(module, "deployment", None))


def _generic_deployment(inputs: tuple) -> Deployment:
    if any(is_quantized(x) for x in inputs):
        return Deployment(
            DATA_MOVEMENT, "not an integer module: quantization-neutral ops on integer tensors"
        )
    return Deployment(FLOAT_ISLAND, "not an integer module: runs in float32")


def _collect_rows(
    int_model: nn.Module, inputs: dict[str, Any], float_macs: dict[str, int], root: str
) -> list[CheckRow]:
    """Run the integer model once with hooks; one row per module that was called."""
    modules = _row_modules(int_model)
    rows: dict[str, CheckRow] = {}

    def hook(name: str, mod: nn.Module):
        def fn(m: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
            ins = tuple(args) + tuple(kwargs.values())
            is_int = isinstance(mod, IntModule)
            if is_int:
                how = mod.deployment(ins, out)
                macs = int(mod.macs(ins, out))
            elif _declares_deployment(mod):
                how = mod.deployment(ins, out)
                macs = 0  # element-wise glue; the children's MACs are in their own rows
            else:
                how = _generic_deployment(ins)
                macs = int(float_macs.get(f"{root}.{name}", 0))
            row = rows.get(name)
            if row is None:
                rows[name] = CheckRow(name, type(mod).__name__, how.kind, how.note, macs, 1, is_int)
            else:
                row.calls += 1
                row.macs += macs

        return fn

    handles = [m.register_forward_hook(hook(n, m), with_kwargs=True) for n, m in modules.items()]
    try:
        with torch.no_grad():
            _call(int_model, inputs)
    finally:
        for h in handles:
            h.remove()
    order = {n: i for i, n in enumerate(modules)}
    return sorted(rows.values(), key=lambda r: order[r.name])


def _ort_findings(
    graph: Any, rows: list[CheckRow], export_inputs: list[str]
) -> tuple[list[str], dict[str, int]]:
    """Problems ORT's optimised graph shows against the rows' declarations."""
    from hat.quantization.ort_runner import (
        EXACT_INT_CONV_OP,
        FLOAT_COMPUTE_OPS,
        counted_op,
        op_counts,
    )

    kinds = {r.name: r.kind for r in rows}
    kinds.setdefault("model", INTEGER)
    # ops recorded outside integer modules belong to the float rows of other modules
    float_elsewhere = any(r.kind == FLOAT_ISLAND and not r.integer_module for r in rows)
    problems = []
    producers = {o: n for n in graph.node for o in n.output}
    consumers = collections.defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n.op_type)
    for name in export_inputs:
        ops = consumers.get(name, [])
        if not ops or any(op not in _INPUT_OPS for op in ops):
            problems.append(f"model input {name} is not quantized first (consumers: {ops})")
    seen = set()
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear", "Identity"):
            continue
        if counted_op(node) == EXACT_INT_CONV_OP:
            continue  # integer arithmetic, exact in ORT's float32 kernel
        scope = node.name.split("/", 1)[0]
        kind = kinds.get(scope)
        on_dq = any(
            i in producers and producers[i].op_type == "DequantizeLinear" for i in node.input
        )
        float_op = node.op_type in FLOAT_COMPUTE_OPS or on_dq
        if not float_op or kind == FLOAT_ISLAND or (kind is None and float_elsewhere):
            continue
        if kind == DATA_MOVEMENT and node.op_type in _LAYOUT_OPS:
            continue
        key = (scope, node.op_type)
        if key not in seen:
            seen.add(key)
            where = f"module {scope} ({kind})" if kind else f"node {node.name} (no module)"
            problems.append(f"ORT runs {node.op_type} in float32 in {where}")
    return problems, dict(op_counts(graph))


def check_model(
    model: nn.Module, example_inputs: dict[str, Any], min_integer_share: float = 0.95
) -> CheckReport:
    """Check whether the float ``model`` runs as an integer model (see module doc).

    ``model`` is not changed (a copy is quantized); ``example_inputs`` are the deploy inputs
    (name -> tensor) the model is called with (``model(**inputs)`` or ``model(inputs)``). No
    checkpoint is needed: calibration on the example inputs gives the structure.
    """
    from hat.quantization.export_onnx import export_int_model_to_onnx
    from hat.quantization.ort_runner import EXACT_INT_CONV_OP, classify_ops, optimized_graph
    from hat.utils.op_count import count_ops

    report = CheckReport()
    float_model = copy.deepcopy(model).eval()
    report.problems += _structure_problems(float_model, example_inputs)
    root = type(float_model).__name__
    float_macs = count_ops(float_model, example_inputs)
    try:
        int_model, report.warnings = _quantize(copy.deepcopy(model).eval(), example_inputs)
    except Exception as exc:  # noqa: BLE001 - reported as a checker finding
        report.problems.append(
            f"conversion to an integer model failed: {type(exc).__name__}: {exc}"
        )
        return report
    try:
        report.rows = _collect_rows(int_model, example_inputs, float_macs, root)
    except Exception as exc:  # noqa: BLE001 - reported as a checker finding
        report.problems.append(
            f"the integer model failed on the example inputs: {type(exc).__name__}: {exc}"
        )
        return report
    outside = float_macs.get("Global", 0) - float_macs.get(root, 0)
    if outside > 0:
        report.rows.append(
            CheckRow(
                OUTSIDE_MODULES,
                "-",
                FLOAT_ISLAND,
                "torch ops outside any module",
                outside,
                integer_module=False,
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check.int.onnx")
        try:
            exported = export_int_model_to_onnx(int_model, example_inputs, path)
        except Exception as exc:  # noqa: BLE001
            report.problems.append(f"ONNX export failed: {type(exc).__name__}: {exc}")
            return report
        graph = optimized_graph(path, "extended").graph
    found, counts = _ort_findings(graph, report.rows, exported.inputs)
    report.problems += found
    if exported.unused_modules:
        report.warnings.append(
            "computed but read by no output, dropped from the deployed graph: "
            + ", ".join(exported.unused_modules)
        )
        unused = tuple(exported.unused_modules)
        report.rows = [
            r
            for r in report.rows
            if not any(r.name == u or r.name.startswith(u + ".") for u in unused)
        ]
    # convolutions whose results no output uses are not in the deployed graph
    n_convs = sum(
        isinstance(m, nn.Conv2d)
        and not any(n == u or n.startswith(u + ".") for u in exported.unused_modules)
        for n, m in float_model.named_modules()
    )
    n_int_convs = sum(counts.get(op, 0) for op in ("QLinearConv", "ConvInteger", EXACT_INT_CONV_OP))
    if n_int_convs < n_convs:
        report.problems.append(
            f"only {n_int_convs} of {n_convs} convolutions run as integer kernels "
            f"in ORT (float convs: {counts.get('Conv', 0) + counts.get('FusedConv', 0)})"
        )
    total = sum(r.macs for r in report.rows)
    integer = sum(r.macs for r in report.rows if r.kind != FLOAT_ISLAND)
    share = integer / total if total else 1.0
    report.summary = CheckSummary(
        total_macs=total,
        integer_macs=integer,
        integer_mac_share=share,
        float_islands={r.name: r.note for r in report.rows if r.kind == FLOAT_ISLAND},
        convs=n_convs,
        integer_convs=n_int_convs,
        ort_ops=counts,
        ort_op_classes=classify_ops(counts),
    )
    if share < min_integer_share:
        report.problems.append(f"integer MAC share {share:.4f} is below {min_integer_share}")
    return report
