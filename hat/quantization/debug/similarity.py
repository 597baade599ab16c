"""Per-layer feature-map similarity of a float model and its quantized version.

Both models run on the same batches; every quantized unit (see
:func:`hat.quantization.debug.capture.quantized_units`) is matched with the float module of the
same name and their outputs are compared after dequantization. Errors accumulate through the
network (each quantized layer sees quantized inputs), as in deployment; the model outputs are
compared too (rows named ``[output]...``).

A model with state across frames, deployed as several graphs with host code between them
(``extra_deploy_graphs()`` and ``track(data, graphs)``, e.g. MOTR), is compared graph call by
graph call: the float model's tracking loop drives, and every call of one of its graphs also
runs the quantized graph on the very same inputs (the float state: queries, track slots), so
each layer's difference is the quantization's and not that of two trackers drifting apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hat.quantization.debug.capture import (
    OutputRecorder,
    flatten_tensors,
    quantized_units,
    real_values,
)
from hat.quantization.debug.runner import Runner, model_runner
from hat.quantization.debug.stats import DiffStats
from hat.quantization.qtensor import QTensor, plain

__all__ = ["LayerSimilarity", "SimilarityReport", "featuremap_similarity"]

logger = logging.getLogger(__name__)
OUTPUT_PREFIX = "[output]"


@dataclass
class LayerSimilarity:
    """One compared tensor: ``name`` (module name, ``#k`` for repeated calls, ``[output]...``
    for model outputs), the quantized module's type and output dtype, and the statistics."""

    index: int
    name: str
    module_type: str
    dtype: str | None
    stats: DiffStats = field(default_factory=DiffStats)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {"index": self.index, "name": self.name, "type": self.module_type}
        d.update(dtype=self.dtype, **self.stats.summary())
        if self.note:
            d["note"] = self.note
        return d


@dataclass
class SimilarityReport:
    """Rows in execution order of the quantized model (model outputs last)."""

    layers: list[LayerSimilarity]
    batches: int
    title: str = "feature-map similarity"
    unmatched: list[str] = field(default_factory=list)

    def worst(self, n: int = 10, key: str = "cosine") -> list[LayerSimilarity]:
        """The ``n`` rows with the lowest ``key`` (``cosine``, ``sqnr_db`` or
        ``min_channel_sqnr_db``; rows without that figure are left out)."""
        rows = [r for r in self.layers if not r.note and r.stats.summary()[key] is not None]
        return sorted(rows, key=lambda r: r.stats.summary()[key])[:n]

    def row(self, name: str) -> LayerSimilarity:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(f"no similarity row named {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "batches": self.batches,
            "unmatched": self.unmatched,
            "layers": [r.to_dict() for r in self.layers],
        }


class _Collector:
    """Matches float and quantized records of one forward pass and updates the rows."""

    def __init__(self) -> None:
        self.rows: dict[str, LayerSimilarity] = {}
        self.float_out: dict[str, torch.Tensor] = {}

    def on_float(self, key: str, module: nn.Module, t: torch.Tensor, lsb: float | None) -> None:
        self.float_out[key] = t.detach().to(torch.float32).clone()

    def on_quant(self, key: str, module: nn.Module, t: torch.Tensor, lsb: float | None) -> None:
        row = self.rows.get(key)
        if row is None:
            dtype = getattr(getattr(t, "q_dtype", None), "name", None)
            row = LayerSimilarity(len(self.rows), key, type(module).__name__, dtype)
            self.rows[key] = row
        self.update(row, self.float_out.get(key), real_values(t), lsb)

    def update(
        self, row: LayerSimilarity, ref: torch.Tensor | None, q: torch.Tensor, lsb: float | None
    ) -> None:
        if row.note:
            return
        if ref is None:
            row.note = "no float counterpart"
        elif ref.shape != q.shape:
            row.note = f"shape mismatch: float {tuple(ref.shape)} vs {tuple(q.shape)}"
        else:
            row.stats.update(ref.cpu(), q.cpu(), lsb)


@torch.no_grad()
def featuremap_similarity(
    float_model: nn.Module,
    quant_model: nn.Module,
    batches: Sequence[Any],
    run: Runner | None = None,
    title: str = "feature-map similarity",
) -> SimilarityReport:
    """Compare every quantized unit's output with the float module of the same name.

    Args:
        float_model: the float model (eval mode is set here).
        quant_model: calibration/QAT (fake quant, normally in VALIDATION state) or integer
            model built from the same float model.
        batches: input batches (not modified).
        run: ``run(model, batch) -> (batch, outputs)`` (default: ``model(batch)``).
    """
    run = run or model_runner()
    float_model.eval()
    quant_model.eval()
    names = [n for n, _ in quantized_units(quant_model)]
    if not names:
        raise ValueError("featuremap_similarity: the model has no quantized modules")
    collector = _Collector()
    float_rec = OutputRecorder(float_model, names, collector.on_float)
    quant_rec = OutputRecorder(quant_model, names, collector.on_quant)
    out_rows: dict[str, LayerSimilarity] = {}
    started = time.perf_counter()
    paired = _paired_loop(float_model, quant_model, float_rec, quant_rec, out_rows, collector)
    for i, batch in enumerate(batches):
        if paired is not None:  # a tracker: compare graph call by graph call on float state
            run(paired, batch)
            _log_progress(i, len(batches), started)
            continue
        collector.float_out.clear()
        with float_rec:
            float_rec.new_forward()
            _, float_outs = run(float_model, batch)
        with quant_rec:
            quant_rec.new_forward()
            _, quant_outs = run(quant_model, batch)
        _compare_outputs(float_outs, quant_outs, out_rows, collector)
        elapsed = time.perf_counter() - started
        logger.info(
            "similarity batch %d/%d (%.1f s, ETA %.1f s)",
            i + 1,
            len(batches),
            elapsed,
            elapsed / (i + 1) * (len(batches) - i - 1),
        )
    layers = list(collector.rows.values())
    for r in out_rows.values():
        r.index = len(layers)
        layers.append(r)
    return SimilarityReport(layers, len(batches), title, float_rec.missing)


def _log_progress(i: int, n: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    logger.info(
        "similarity batch %d/%d (%.1f s, ETA %.1f s)",
        i + 1,
        n,
        elapsed,
        elapsed / (i + 1) * (n - i - 1),
    )


class _PairedLoop(nn.Module):
    """The float model's tracking loop whose graph calls also run the quantized graphs."""

    def __init__(self, float_model: nn.Module, graphs: Any) -> None:
        super().__init__()
        self.float_model, self.graphs = float_model, graphs

    def forward(self, batch: Any) -> Any:
        return self.float_model.track(batch, self.graphs)


def _paired_loop(
    float_model: nn.Module,
    quant_model: nn.Module,
    float_rec: OutputRecorder,
    quant_rec: OutputRecorder,
    out_rows: dict[str, LayerSimilarity],
    collector: _Collector,
) -> nn.Module | None:
    """For models with several deployed graphs and a host loop (see module doc), the module to
    run per batch; None for other models."""
    from hat.quantization.ort_graphs_alignment import (
        GraphSet,
        deployed_graphs,
        supports_graph_alignment,
    )

    if not (supports_graph_alignment(float_model) and supports_graph_alignment(quant_model)):
        return None
    float_graphs = {k: g for k, (g, _) in deployed_graphs(float_model).items()}
    quant_graphs = {k: g for k, (g, _) in deployed_graphs(quant_model).items()}

    def paired(name: str) -> Any:
        def call(inputs: dict) -> Any:
            collector.float_out.clear()
            with float_rec:
                float_rec.new_forward()
                float_outs = float_graphs[name](inputs)
            with quant_rec:
                quant_rec.new_forward()
                quant_outs = quant_graphs[name](inputs)
            _compare_outputs(float_outs, quant_outs, out_rows, collector)
            return float_outs

        return call

    return _PairedLoop(float_model, GraphSet({name: paired(name) for name in float_graphs}))


def _compare_outputs(
    float_outs: Any, quant_outs: Any, rows: dict[str, LayerSimilarity], collector: _Collector
) -> None:
    ref = dict(flatten_tensors(float_outs))
    for path, t in flatten_tensors(quant_outs):
        key = OUTPUT_PREFIX + path
        row = rows.get(key)
        if row is None:
            dtype = getattr(getattr(t, "q_dtype", None), "name", None)
            row = rows[key] = LayerSimilarity(0, key, "model output", dtype)
        r = ref.get(path)
        lsb = float(plain(t.q_scale).reshape(-1)[0]) if isinstance(t, QTensor) else None
        collector.update(row, None if r is None else r.to(torch.float32), real_values(t), lsb)
