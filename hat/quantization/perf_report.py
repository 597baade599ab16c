"""Compile/perf report of an exported fixed-point model: :func:`measure_perf` returns a
:class:`PerfReport`.

ONNX Runtime stands in for a closed model compiler: it optimises the exported QDQ ONNX file and
the optimised graph is saved at EXTENDED (hardware independent). The report holds

* the op-type counts of that graph, split into integer kernels, QDQ boundaries, float compute
  and other ops (:func:`hat.quantization.ort_runner.classify_ops`);
* the MACs of the deploy network (:func:`hat.utils.op_count.count_ops`) and the parameters and
  weight bytes of the ONNX file's initializers (scalar scales and zero points are not
  parameters);
* the measured ORT latency: the median of ``runs`` timed runs after ``warmup_runs`` untimed
  ones, at ENABLE_ALL (the QLinear* integer kernels) with ``threads`` intra-op threads;
* an ANALYTICAL ESTIMATE, not a measurement, of the latency on an accelerator described by
  :class:`AcceleratorModel`: ``max(2 * MACs / (TOPS * efficiency), bytes / bandwidth)``, the
  bytes being the weights and the uint8 model inputs;
* the CPU's int8 instruction set and the exported weight range
  (:func:`hat.quantization.deploy_platform.deploy_platform_info`).
"""

from __future__ import annotations

import html
import os
import statistics
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from hat.errors import UserInputError

__all__ = [
    "AcceleratorModel",
    "PerfSettings",
    "LatencyStats",
    "PerfReport",
    "onnx_weight_stats",
    "time_session",
    "measure_perf",
]


@dataclass(frozen=True)
class AcceleratorModel:
    """An accelerator for the analytical latency estimate: peak int8 ``tops``, DRAM
    ``bandwidth_gbps`` (GB/s) and the ``efficiency`` (fraction of peak) a conv net reaches."""

    tops: float = 96.0
    bandwidth_gbps: float = 68.0
    efficiency: float = 0.5

    def estimate(self, macs: int, nbytes: int) -> dict[str, Any]:
        """The estimate for ``macs`` multiply-accumulates moving ``nbytes`` bytes."""
        compute_ms = 2 * macs / (self.tops * 1e12 * self.efficiency) * 1e3
        memory_ms = nbytes / (self.bandwidth_gbps * 1e9) * 1e3
        latency_ms = max(compute_ms, memory_ms)
        return {
            "label": "ANALYTICAL ESTIMATE, not a measurement",
            "accelerator": asdict(self),
            "compute_ms": round(compute_ms, 4),
            "memory_ms": round(memory_ms, 4),
            "latency_ms": round(latency_ms, 4),
            "fps": round(1000 / max(latency_ms, 1e-9), 1),
        }


@dataclass(frozen=True)
class PerfSettings:
    """What a config's ``compile_cfg`` sets: the accelerator and the timed/warm-up run counts."""

    accelerator: AcceleratorModel = AcceleratorModel()
    perf_runs: int = 20
    warmup_runs: int = 3

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, where: str) -> PerfSettings:
        """Settings from ``values`` (``tops``, ``bandwidth_gbps``, ``efficiency``,
        ``perf_runs``, ``warmup_runs``; absent keys keep their defaults). ``where`` names the
        entry in errors (e.g. ``"config x.py: compile_cfg"``)."""
        values = dict(values or {})
        accel_keys = [f.name for f in fields(AcceleratorModel)]
        known = [*accel_keys, "perf_runs", "warmup_runs"]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UserInputError(f"{where}: unknown keys {unknown}; expected some of {known}")
        accel = {}
        for key in accel_keys:
            if key in values:
                accel[key] = _number(values[key], f"{where}.{key}", positive=True)
        if "efficiency" in accel and accel["efficiency"] > 1:
            raise UserInputError(
                f"{where}.efficiency is {accel['efficiency']}; expected a fraction in (0, 1]"
            )
        counts = {}
        for key, least in (("perf_runs", 1), ("warmup_runs", 0)):
            if key in values:
                value = values[key]
                if not isinstance(value, int) or isinstance(value, bool) or value < least:
                    raise UserInputError(f"{where}.{key} is {value!r}; expected an int >= {least}")
                counts[key] = value
        return cls(AcceleratorModel(**accel), **counts)


def _number(value: Any, where: str, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserInputError(f"{where} is {value!r}; expected a number")
    if positive and not value > 0:
        raise UserInputError(f"{where} is {value!r}; expected a number > 0")
    return float(value)


@dataclass(frozen=True)
class LatencyStats:
    """Wall-clock times of one session run, in milliseconds."""

    threads: int | None
    warmup_runs: int
    runs: int
    median_ms: float
    min_ms: float

    @property
    def fps(self) -> float:
        return 1000 / self.median_ms if self.median_ms > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": "onnxruntime CPU, ENABLE_ALL",
            "threads": self.threads,
            "warmup_runs": self.warmup_runs,
            "runs": self.runs,
            "median_ms": round(self.median_ms, 3),
            "min_ms": round(self.min_ms, 3),
            "fps": round(self.fps, 2),
        }


def onnx_weight_stats(path: str | os.PathLike) -> tuple[int, int]:
    """``(params, weight bytes)`` of the ONNX file's initializers. Bytes count every
    initializer; parameters are the elements of the weights and biases, i.e. of initializers
    with more than one element that are not the scale or zero point of a Quantize/
    DequantizeLinear node (per-channel scales are quantization metadata, not parameters)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(os.fspath(path)).graph
    qdq_params = {
        name
        for node in graph.node
        if node.op_type in ("QuantizeLinear", "DequantizeLinear")
        for name in node.input[1:]
    }
    params = weight_bytes = 0
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        weight_bytes += arr.nbytes
        if arr.size > 1 and init.name not in qdq_params:
            params += arr.size
    return params, weight_bytes


def session_feeds(session: Any, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """float32 arrays of ``inputs`` for the session's graph inputs; a missing one is an error."""
    names = [i.name for i in session.get_inputs()]
    missing = [n for n in names if n not in inputs]
    if missing:
        raise UserInputError(
            f"the model's inputs {missing} are not among the example inputs {sorted(inputs)}"
        )
    feeds = {}
    for name in names:
        value = inputs[name]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        feeds[name] = np.ascontiguousarray(value, dtype=np.float32)
    return feeds


def time_session(
    session: Any, feeds: Mapping[str, np.ndarray], runs: int, warmup_runs: int
) -> tuple[float, ...]:
    """Milliseconds of each of ``runs`` timed ``session.run`` calls after ``warmup_runs``
    untimed ones."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    for _ in range(warmup_runs):
        session.run(None, dict(feeds))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, dict(feeds))
        times.append((time.perf_counter() - t0) * 1000)
    return tuple(times)


@dataclass
class PerfReport:
    """The compile/perf report (see the module docstring); :meth:`to_dict` is its JSON form."""

    model: str
    optimized_model: str
    op_counts: dict[str, int]
    op_classes: dict[str, dict[str, int]]
    macs: int
    params: int
    weight_bytes: int
    latency: LatencyStats
    accelerator_estimate: dict[str, Any]
    deploy_platform: dict[str, Any]

    @property
    def integer_ops(self) -> int:
        return sum(self.op_classes.get("integer", {}).values())

    @property
    def float_compute_ops(self) -> int:
        return sum(self.op_classes.get("float_compute", {}).values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "optimized_model": self.optimized_model,
            "optimization_level_saved": "EXTENDED",
            "op_counts": dict(self.op_counts),
            "op_classes": self.op_classes,
            "integer_ops": self.integer_ops,
            "float_compute_ops": self.float_compute_ops,
            "macs": self.macs,
            "flops": 2 * self.macs,
            "params": self.params,
            "weight_bytes": self.weight_bytes,
            "deploy_platform": self.deploy_platform,
            "latency": self.latency.to_dict(),
            "accelerator_estimate": self.accelerator_estimate,
        }

    def render_text(self) -> str:
        """The report as compile_perf_hbir prints it."""
        lat, est = self.latency.to_dict(), self.accelerator_estimate
        return "\n".join(
            [
                f"optimised graph (EXTENDED): {self.optimized_model}",
                f"integer ops: {self.op_classes.get('integer', {})}",
                f"float compute ops: {self.op_classes.get('float_compute', {})}",
                f"MACs {self.macs}, params {self.params}, weight bytes {self.weight_bytes}",
                f"ORT int8 latency: median {lat['median_ms']} ms (min {lat['min_ms']}) over "
                f"{lat['runs']} runs after {lat['warmup_runs']} warm-up, {lat['threads']} "
                f"thread(s); {lat['fps']} FPS",
                f"accelerator latency ESTIMATE (analytical, {est['accelerator']}): "
                f"{est['latency_ms']} ms",
            ]
        )

    def render_html(self, note: str = "") -> str:
        """The report as a stand-alone HTML page; ``note`` is a paragraph under the title."""
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>"
            for k, v in sorted(self.op_counts.items())
        )
        lat, est = self.latency.to_dict(), self.accelerator_estimate
        return f"""<!doctype html><html><head><meta charset="utf-8"><title>perf report</title>
</head><body><h1>Fixed-point model report</h1><p>{html.escape(note)}</p>
<p>Model: {html.escape(self.model)}<br>MACs: {self.macs} (FLOPs {2 * self.macs}),
params: {self.params}, weight bytes: {self.weight_bytes}</p>
<h2>Measured (ONNX Runtime CPU)</h2><p>median {lat["median_ms"]} ms, min {lat["min_ms"]} ms,
{lat["runs"]} runs after {lat["warmup_runs"]} warm-up, {lat["threads"]} thread(s),
{lat["fps"]} FPS</p>
<h2>Accelerator: analytical estimate (not a measurement)</h2>
<p>{html.escape(str(est["accelerator"]))}: compute {est["compute_ms"]} ms,
memory {est["memory_ms"]} ms, estimate {est["latency_ms"]} ms</p>
<h2>Op types after ORT optimisation (EXTENDED)</h2><table border="1">{rows}</table></body></html>
"""


def measure_perf(
    path: str | os.PathLike,
    model: nn.Module,
    inputs: Mapping[str, Any],
    settings: PerfSettings | None = None,
    threads: int | None = 1,
    optimized_path: str | None = None,
) -> PerfReport:
    """The report of the exported model at ``path``.

    ``model`` is the float deploy network the file was exported from (its MACs are counted on
    ``inputs``, the example inputs with the deployed shapes, which also feed the timed runs).
    ``settings``: run counts and accelerator (default :class:`PerfSettings`()).
    ``optimized_path`` receives ORT's EXTENDED graph (default: ``{path stem}.opt.onnx``).
    """
    from hat.quantization.deploy_platform import deploy_platform_info
    from hat.quantization.ort_runner import classify_ops, make_session, optimized_op_counts
    from hat.utils.op_count import count_ops

    settings = settings or PerfSettings()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserInputError(f"no exported model at {path}")
    optimized_path = optimized_path or os.path.splitext(path)[0] + ".opt.onnx"
    counts = dict(optimized_op_counts(path, level="extended", save_to=optimized_path))
    params, weight_bytes = onnx_weight_stats(path)
    macs = int(count_ops(model.eval(), dict(inputs)).get("Global", 0))
    session = make_session(path, "all", threads=threads)
    feeds = session_feeds(session, inputs)
    times = time_session(session, feeds, settings.perf_runs, settings.warmup_runs)
    latency = LatencyStats(
        threads=threads,
        warmup_runs=settings.warmup_runs,
        runs=settings.perf_runs,
        median_ms=statistics.median(times),
        min_ms=min(times),
    )
    input_bytes = sum(v.nbytes for v in feeds.values()) // 4  # uint8 inputs on the accelerator
    return PerfReport(
        model=path,
        optimized_model=optimized_path,
        op_counts=counts,
        op_classes=classify_ops(counts),
        macs=macs,
        params=params,
        weight_bytes=weight_bytes,
        latency=latency,
        accelerator_estimate=settings.accelerator.estimate(macs, weight_bytes + input_bytes),
        deploy_platform=deploy_platform_info(path),
    )
