"""Sensitivity ranking: the task metric with only one module quantized at a time.

A calibrated fake-quant model computes the float function when all its FakeQuantizes pass
through (observer off, fake quant off): convs use the BN-folded float weights and the float
bias, every other module its float op. :func:`quantize_only` turns fake quant back on for the
chosen modules only (their weights, bias and output), so each module's own damage is measured
without rebuilding or recalibrating anything.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from hat.quantization.debug.capture import quantized_units
from hat.quantization.debug.evaluation import Evaluation, Evaluator
from hat.quantization.fake_quantize import FakeQuantize
from hat.quantization.prepare import is_prepared

__all__ = [
    "quantize_only",
    "sensitivity_candidates",
    "SensitivityRow",
    "SensitivityReport",
    "sensitivity_ranking",
]

logger = logging.getLogger(__name__)


def _fake_quants(module: nn.Module) -> list[FakeQuantize]:
    return [m for m in module.modules() if isinstance(m, FakeQuantize)]


@contextmanager
def quantize_only(model: nn.Module, names: Iterable[str]) -> Iterator[nn.Module]:
    """Within the context only the modules ``names`` of the calibrated fake-quant ``model``
    fake-quantize (all observers off); the previous states come back on exit."""
    modules = dict(model.named_modules())
    keep: set[int] = set()
    for name in names:
        if name not in modules:
            raise KeyError(f"quantize_only: no submodule named {name!r}")
        keep.update(id(fq) for fq in _fake_quants(modules[name]))
    saved = [(fq, fq.observe_enabled, fq.fake_quant_enabled) for fq in _fake_quants(model)]
    try:
        for fq, _, _ in saved:
            fq.observe_enabled = False
            fq.fake_quant_enabled = id(fq) in keep
        yield model
    finally:
        for fq, observe, fake_quant in saved:
            fq.observe_enabled = observe
            fq.fake_quant_enabled = fake_quant


def sensitivity_candidates(model: nn.Module) -> list[str]:
    """Names of the quantized units that own at least one FakeQuantize (weights or output),
    in registration order."""
    return [n for n, m in quantized_units(model) if _fake_quants(m)]


@dataclass
class SensitivityRow:
    """One module quantized alone: the metric, its degradation (positive: worse than with
    nothing quantized) and the SQNR of the model outputs against that reference."""

    name: str
    module_type: str
    metric: float | None
    degradation: float | None
    output_sqnr_db: float
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "name": self.name,
            "type": self.module_type,
            "metric": self.metric,
            "degradation": self.degradation,
            "output_sqnr_db": self.output_sqnr_db,
        }


@dataclass
class SensitivityReport:
    """Rows ranked most harmful first. ``reference``: nothing quantized; ``all_quantized``:
    the model as calibrated; ``float_model``: the separate float model when one was given."""

    rows: list[SensitivityRow]
    metric_key: str | None
    higher_is_better: bool
    reference: dict[str, Any]
    all_quantized: dict[str, Any]
    batches: int
    float_model: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def top(self, k: int) -> list[SensitivityRow]:
        return self.rows[:k]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric_key": self.metric_key,
            "higher_is_better": self.higher_is_better,
            "batches": self.batches,
            "reference_nothing_quantized": self.reference,
            "all_quantized": self.all_quantized,
            "float_model": self.float_model,
            "notes": self.notes,
            "rows": [r.to_dict() for r in self.rows],
        }


def _summary(ev: Evaluation, ref: Evaluation | None) -> dict[str, Any]:
    out: dict[str, Any] = {"metric": ev.metric, "metrics": ev.metrics}
    if ref is not None:
        out["output_sqnr_db"] = ev.output_sqnr(ref)
    return out


def sensitivity_ranking(
    model: nn.Module,
    evaluator: Evaluator,
    names: Sequence[str] | None = None,
    float_model: nn.Module | None = None,
) -> SensitivityReport:
    """Rank modules of a calibrated fake-quant ``model`` by the damage each does alone.

    ``names`` defaults to :func:`sensitivity_candidates`. Ranking: metric degradation (in the
    direction of ``evaluator.spec``) when the evaluator has a metric, ties and metric-less runs
    by the output SQNR (lowest first).
    """
    if not is_prepared(model):
        raise TypeError(
            "sensitivity_ranking needs a calibration/QAT (fake-quant) model, not a float or "
            "integer one"
        )
    names = list(names) if names is not None else sensitivity_candidates(model)
    units = dict(quantized_units(model))
    spec = evaluator.spec
    with quantize_only(model, []):
        reference = evaluator(model)
    all_q = evaluator(model)
    float_ev = evaluator(float_model) if float_model is not None else None
    rows = []
    started = time.perf_counter()
    for i, name in enumerate(names):
        with quantize_only(model, [name]):
            ev = evaluator(model)
        degr = None
        if spec is not None and ev.metric is not None and reference.metric is not None:
            degr = spec.degradation(ev.metric, reference.metric)
        module = units.get(name)
        kind = type(module).__name__ if module is not None else "?"
        rows.append(SensitivityRow(name, kind, ev.metric, degr, ev.output_sqnr(reference)))
        elapsed = time.perf_counter() - started
        logger.info(
            "sensitivity %d/%d %s: %s=%s, output SQNR %.1f dB (%.1f s, ETA %.1f s)",
            i + 1,
            len(names),
            name,
            spec.key if spec else "metric",
            "-" if ev.metric is None else f"{ev.metric:.6g}",
            rows[-1].output_sqnr_db,
            elapsed,
            elapsed / (i + 1) * (len(names) - i - 1),
        )
    rows.sort(key=_rank_key)
    for i, r in enumerate(rows):
        r.rank = i + 1
    return SensitivityReport(
        rows=rows,
        metric_key=spec.key if spec else None,
        higher_is_better=spec.higher_is_better if spec else False,
        reference=_summary(reference, None),
        all_quantized=_summary(all_q, reference),
        batches=len(evaluator.batches),
        float_model=_summary(float_ev, reference) if float_ev is not None else None,
    )


def _rank_key(r: SensitivityRow) -> tuple[float, float]:
    degr = -r.degradation if r.degradation is not None else 0.0
    sqnr = r.output_sqnr_db if not math.isnan(r.output_sqnr_db) else math.inf
    return (degr, sqnr)
