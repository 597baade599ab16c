"""Alignment of a model deployed as several graphs with host code between them (MOTR: the base
model, the runtime tracker, the query interaction module), on ONNX Runtime.

:func:`align_graphs_on_ort` runs the whole loop twice over the split: once with every graph on
ORT (the deployment), once with the integer model's own graphs (``int_infer``). The model
provides the protocol:

* ``extra_deploy_graphs() -> {name: (module, example_inputs)}`` beside the base graph (the
  model itself called with the base graph's named inputs);
* ``track(data, graphs)``: its evaluation loop with the given graphs
  (``MotrGraphs(base, qim)``-like: an object with one callable attribute per graph name);
* optionally ``deploy_output_lsb(scales)`` on the model and on each extra graph.

Inside the ORT loop, each call of a graph on ORT is also run on the integer graph with the very
same inputs and compared output by output (an :class:`~hat.metrics.alignment.AlignmentMetric`
over all graphs' outputs, named ``<graph>.<output>``), so state carried from frame to frame is
checked at every frame. The task metrics of both loops are reported; they are equal when
every compared output is bit-identical.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from hat.quantization.ort_alignment import (
    DequantScaleProbe,
    _Limited,
    alignment_report,
    output_lsbs,
)
from hat.quantization.output_order import named_outputs, output_tensors

__all__ = [
    "GraphSet",
    "align_graphs_on_ort",
    "deployed_graphs",
    "graphs_on_ort",
    "supports_graph_alignment",
]


def supports_graph_alignment(model: nn.Module) -> bool:
    """Whether ``model`` is deployed as several graphs with a host loop (see module doc)."""
    return callable(getattr(model, "extra_deploy_graphs", None)) and callable(
        getattr(model, "track", None)
    )


class _BothLoops(nn.Module):
    """One batch through the deployed loop (ORT graphs) and the integer model's own loop."""

    def __init__(self, deployed: nn.Module, int_model: nn.Module, graphs: Any) -> None:
        super().__init__()
        self.deployed, self.int_model, self.graphs = deployed, int_model, graphs

    def forward(self, batch: Any) -> dict[str, Any]:
        return {
            "ort": self.deployed.track(batch, self.graphs),
            "int_infer": self.int_model.track(batch),
        }


class GraphSet:
    """Named graph callables (attributes), as the model's ``track(data, graphs)`` takes them."""

    def __init__(self, graphs: dict[str, Callable[[dict], Any]]) -> None:
        for name, fn in graphs.items():
            setattr(self, name, fn)


def deployed_graphs(
    model: nn.Module, example_inputs: dict[str, Any] | None = None
) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
    """Every deployed graph of ``model``: ``"base"`` (the model itself, called with the base
    graph's named inputs, ``example_inputs``) and its ``extra_deploy_graphs()``."""
    return {"base": (model, example_inputs or {}), **model.extra_deploy_graphs()}


def _require_paths(graphs: dict[str, Any], paths: dict[str, str]) -> None:
    missing = [n for n in graphs if n not in paths]
    if missing:
        raise KeyError(f"no exported file for the deployed graphs {missing} (export them first)")


def graphs_on_ort(
    int_model: nn.Module,
    paths: dict[str, str],
    example_inputs: dict[str, Any],
    level: str = "all",
    threads: int = 1,
) -> Any:
    """The deployed graphs on ORT as the object ``int_model.track(data, graphs)`` takes (one
    callable attribute per graph; ``paths``: graph name -> ONNX file, ``"base"`` included)."""
    from hat.quantization.ort_runner import OrtModule

    graphs = deployed_graphs(int_model.eval(), example_inputs)
    _require_paths(graphs, paths)
    sessions = {}
    for name, (module, inputs) in graphs.items():
        with torch.no_grad():
            template = module(inputs)
        sessions[name] = OrtModule(paths[name], template, level, threads)
    return GraphSet(
        {name: (lambda x, s=session: s({n: x[n] for n in s.input_names}))
         for name, session in sessions.items()}
    )  # fmt: skip


def align_graphs_on_ort(
    int_model: nn.Module,
    paths: dict[str, str],
    data_loader: Iterable,
    batch_processor: Callable[..., Any],
    example_inputs: dict[str, Any],
    update_metric: Callable[[Any, Any, Any], None],
    task_metrics: Sequence[Any],
    reference_metrics: Sequence[Any],
    level: str = "all",
    threads: int = 1,
    max_samples: int = 0,
) -> dict[str, Any]:
    """Run the deployed graphs (``paths``: graph name -> ONNX file, ``"base"`` included) on
    ORT in the model's loop over ``data_loader`` (see module doc). Returns the same keys as
    :func:`hat.quantization.ort_alignment.align_on_ort` plus ``graph_calls``."""
    from hat.metrics.alignment import AlignmentMetric
    from hat.quantization.ort_runner import OrtModule

    int_model = int_model.eval()
    graphs = deployed_graphs(int_model, example_inputs)
    _require_paths(graphs, paths)
    ort: dict[str, OrtModule] = {}
    names: list[str] = []
    lsbs: list[float | None] = []
    slices: dict[str, slice] = {}
    for name, (module, inputs) in graphs.items():
        probe = DequantScaleProbe(module)
        with torch.no_grad():
            template = module(inputs)
        probe.remove()
        ort[name] = OrtModule(paths[name], template, level, threads)
        outs = [o for o, _ in named_outputs(template)]
        slices[name] = slice(len(names), len(names) + len(outs))
        names += [f"{name}.{o}" for o in outs]
        lsbs += output_lsbs(module, probe.scales, len(outs))
    align = AlignmentMetric(names)
    calls = dict.fromkeys(graphs, 0)

    def compared(name: str) -> Callable[[dict], Any]:
        module, session = graphs[name][0], ort[name]

        def run(inputs: dict) -> Any:
            feeds = {n: inputs[n] for n in session.input_names}
            out = session(feeds)
            with torch.no_grad():
                ref = module(feeds)
            got, want = output_tensors(out), output_tensors(ref)
            empty = [torch.zeros(0)] * len(names)
            ys, rs = list(empty), list(empty)
            ys[slices[name]], rs[slices[name]] = got, want
            align.update(ys, rs, lsbs)
            calls[name] += 1
            return out

        return run

    deployed = copy.deepcopy(int_model)  # its own tracking state; the host code is the same
    both = _BothLoops(deployed, int_model, GraphSet({name: compared(name) for name in graphs}))
    for m in (*task_metrics, *reference_metrics):
        m.reset()
    samples = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for step, batch in enumerate(_Limited(data_loader, max_samples)):
            outs = batch_processor(step, batch, both, torch.device("cpu"))
            update_metric(list(task_metrics), batch, outs["ort"])
            update_metric(list(reference_metrics), batch, outs["int_infer"])
            samples += 1
    report = alignment_report(samples, align, task_metrics, reference_metrics, t0)
    return {"samples": report.pop("samples"), "graph_calls": calls, **report}
