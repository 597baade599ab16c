"""Run an exported integer model on ONNX Runtime over a split as a :class:`Predictor` and
measure both the task metrics and its alignment with the PyTorch integer model.

:func:`align_on_ort` wraps the ONNX file in an :class:`~hat.quantization.ort_runner.OrtModule`
(outputs in the model's own structure), runs ``Predictor`` over the loader with the given batch
processor (the deployment preprocessing), and per batch runs the integer model on the same
inputs: the task metrics are updated with ORT's outputs (and, separately, with the integer
model's), and an :class:`~hat.metrics.alignment.AlignmentMetric` compares the two output by
output. The LSB of an output is ``model.deploy_output_lsb(scales)`` when the model defines it
(e.g. PwcNet: its quantized flow's scale times the stride of its float post-processing), else
the scale of the model's single DeQuantStub input; None when unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from hat.quantization.output_order import output_tensors
from hat.quantization.qtensor import QTensor

__all__ = ["DequantScaleProbe", "align_on_ort", "alignment_report", "output_lsbs"]


class DequantScaleProbe:
    """Records the quantization scale of the tensor entering each DeQuantStub of an integer
    model (the LSB of the model's quantized outputs before dequantization)."""

    def __init__(self, model: nn.Module) -> None:
        from hat.quantization.quantized import IntDeQuantStub

        self.scales: dict[str, float] = {}
        self.handles = [
            m.register_forward_pre_hook(self._hook(name))
            for name, m in model.named_modules()
            if isinstance(m, IntDeQuantStub)
        ]

    def _hook(self, name: str) -> Callable[[nn.Module, tuple], None]:
        def hook(module: nn.Module, args: tuple) -> None:
            # Only a quantized tensor has an LSB: a float tensor's ``q_scale`` is torch's own
            # method (a high-precision output reaches its DeQuantStub already dequantized).
            scale = args[0].q_scale if args and isinstance(args[0], QTensor) else None
            if scale is not None:
                self.scales[name] = float(torch.as_tensor(scale).reshape(-1)[0])

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def output_lsbs(model: nn.Module, scales: dict[str, float], n: int) -> list[float | None]:
    """The LSB of each of ``n`` outputs (see module doc)."""
    fn = getattr(model, "deploy_output_lsb", None)
    if callable(fn):
        lsbs = list(fn(dict(scales)))
    elif len(scales) == 1:
        lsbs = [next(iter(scales.values()))] * n
    else:
        lsbs = [None] * n
    return (lsbs + [None] * n)[:n]


class _Limited:
    """The first ``limit`` batches of a loader (all when ``limit`` is 0), as a sized iterable."""

    def __init__(self, loader: Iterable, limit: int) -> None:
        self.loader, self.limit = loader, int(limit)

    def __iter__(self) -> Iterator[Any]:
        for i, batch in enumerate(self.loader):
            if self.limit and i >= self.limit:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.loader)  # type: ignore[arg-type]
        return min(n, self.limit) if self.limit else n


def _values(metrics: Sequence[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in metrics:
        out.update(m.get_dict())
    return out


def align_on_ort(
    int_model: nn.Module,
    onnx_path: str,
    data_loader: Iterable,
    batch_processor: Callable[..., Any],
    example_inputs: dict[str, Any],
    update_metric: Callable[[Any, Any, Any], None],
    task_metrics: Sequence[Any],
    reference_metrics: Sequence[Any] = (),
    level: str = "all",
    threads: int = 1,
    max_samples: int = 0,
) -> dict[str, Any]:
    """Run ``onnx_path`` on ORT over ``data_loader`` (see module doc).

    ``update_metric(metrics, batch, model_outs)`` is the config's task metric update, called
    with ``task_metrics`` and ORT's outputs and with ``reference_metrics`` (fresh copies of the
    same metrics) and the integer model's outputs. Returns ``samples``, ``metrics_ort``,
    ``metrics_int_infer_same_inputs``, ``outputs`` (per output alignment), the overall
    ``identical_fraction``, ``identical_fraction_bitwise``, ``max_diff_lsb`` and ``seconds``.
    """
    from hat.callbacks.metric_updater import MetricUpdater
    from hat.engine.predictor import Predictor
    from hat.metrics.alignment import AlignmentMetric
    from hat.quantization.ort_runner import OrtModule

    int_model = int_model.eval()
    with torch.no_grad():
        template = int_model(example_inputs)
    ort = OrtModule(onnx_path, template, level, threads)
    align = AlignmentMetric(ort.output_names)
    probe = DequantScaleProbe(int_model)
    state: dict[str, Any] = {"samples": 0, "lsbs": None}
    for m in reference_metrics:
        m.reset()

    def update(_metrics: Any, batch: Any, ort_outs: Any) -> None:
        with torch.no_grad():
            ref = int_model({n: batch[n] for n in ort.input_names})
        if state["lsbs"] is None:
            state["lsbs"] = output_lsbs(int_model, probe.scales, len(ort.output_names))
        update_metric(list(task_metrics), batch, ort_outs)
        if reference_metrics:
            update_metric(list(reference_metrics), batch, ref)
        align.update(output_tensors(ort_outs), output_tensors(ref), state["lsbs"])
        state["samples"] += 1

    predictor = Predictor(
        model=ort,
        data_loader=_Limited(data_loader, max_samples),
        batch_processor=batch_processor,
        device="cpu",
        metrics=[*task_metrics, align],
        callbacks=[MetricUpdater(update, metrics=[], step_log_freq=0, epoch_log_freq=0)],
    )
    t0 = time.perf_counter()
    try:
        predictor.fit()
    finally:
        probe.remove()
    return alignment_report(state["samples"], align, task_metrics, reference_metrics, t0)


def alignment_report(
    samples: int,
    align: Any,
    task_metrics: Sequence[Any],
    reference_metrics: Sequence[Any],
    started: float,
) -> dict[str, Any]:
    """The result of an alignment run: sample count, both metric sets, the per-output
    alignment and its overall values, seconds since ``started``."""
    if samples == 0:
        raise RuntimeError("the data loader yielded no samples")
    overall = align.get_dict()
    return {
        "samples": samples,
        "metrics_ort": _values(task_metrics),
        "metrics_int_infer_same_inputs": _values(reference_metrics),
        "outputs": align.output_report(),
        "identical_fraction": overall["identical_fraction"],
        "identical_fraction_bitwise": overall["identical_fraction_bitwise"],
        "max_diff_lsb": overall["max_diff_lsb"],
        "seconds": round(time.perf_counter() - started, 3),
    }
