"""Evaluate a model on cached batches: a task metric (optional) and the model outputs."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hat.quantization.debug.capture import flatten_tensors, real_values
from hat.quantization.debug.runner import Runner, model_runner
from hat.quantization.debug.stats import DiffStats

__all__ = ["Evaluation", "Evaluator", "MetricSpec"]

UpdateFn = Callable[[Sequence[Any], Any, Any], None]


@dataclass(frozen=True)
class MetricSpec:
    """Which metric value ranks models, and its direction (``higher_is_better``: mIoU, accuracy;
    lower: EPE, error rates)."""

    key: str
    higher_is_better: bool = False

    def degradation(self, value: float, reference: float) -> float:
        """How much worse ``value`` is than ``reference`` (positive: worse)."""
        return reference - value if self.higher_is_better else value - reference


@dataclass
class Evaluation:
    """``metrics``: every metric value; ``metric``: the ranked one (None without metrics);
    ``outputs``: real model outputs per batch (``{path: tensor}``), on the CPU."""

    metrics: dict[str, float]
    metric: float | None
    outputs: list[dict[str, torch.Tensor]] = field(default_factory=list, repr=False)

    def output_sqnr(self, reference: Evaluation) -> float:
        """SQNR (dB) of these outputs against ``reference``'s, over all batches and tensors."""
        stats = DiffStats()
        for ours, ref in zip(self.outputs, reference.outputs):
            for path, t in ours.items():
                if path in ref and ref[path].shape == t.shape:
                    stats.update(ref[path], t, None)
        return stats.sqnr_db


class Evaluator:
    """Runs a model over ``batches`` with ``run`` and, when ``metrics`` are given, updates them
    with ``update_metric(metrics, batch, outputs)`` (a config's ``update_metric``; default
    ``metric.update(batch, outputs)``) and reads ``spec.key``.
    """

    def __init__(
        self,
        batches: Sequence[Any],
        run: Runner | None = None,
        metrics: Sequence[Any] | None = None,
        update_metric: UpdateFn | None = None,
        spec: MetricSpec | None = None,
    ) -> None:
        if metrics and spec is None:
            raise ValueError("Evaluator: metrics given without a MetricSpec (key and direction)")
        self.batches = list(batches)
        self.run = run or model_runner()
        self.metrics = list(metrics or [])
        self.update_metric = update_metric or _default_update
        self.spec = spec if self.metrics else None

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> Evaluation:
        model.eval()
        for m in self.metrics:
            m.reset()
        outputs = []
        for batch in self.batches:
            seen, outs = self.run(model, batch)
            if self.metrics:
                self.update_metric(self.metrics, seen, outs)
            outputs.append({p: real_values(t).cpu() for p, t in flatten_tensors(outs)})
        values: dict[str, float] = {}
        for m in self.metrics:
            values.update(m.get_dict())
        metric = None
        if self.spec is not None:
            if self.spec.key not in values:
                raise KeyError(
                    f"metric key {self.spec.key!r} not among the metric values {sorted(values)}"
                )
            metric = float(values[self.spec.key])
            if math.isnan(metric):
                raise ValueError(f"metric {self.spec.key!r} is NaN (no samples seen?)")
        return Evaluation(values, metric, outputs)


def _default_update(metrics: Sequence[Any], batch: Any, outputs: Any) -> None:
    for m in metrics:
        m.update(batch, outputs)
