"""Plain-text tables of the similarity, sensitivity and int16 reports, and strict JSON."""

from __future__ import annotations

import json
import math
from typing import Any

from hat.quantization.debug.int16_topk import Int16Comparison
from hat.quantization.debug.sensitivity import SensitivityReport
from hat.quantization.debug.similarity import SimilarityReport

__all__ = ["fmt", "similarity_text", "sensitivity_text", "int16_text", "to_json"]


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table cell (``-`` for None, ``inf`` for infinities)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}g}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in
              enumerate(header)]  # fmt: skip
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(header), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def similarity_text(report: SimilarityReport, threshold: float = 0.99) -> str:
    """Execution-ordered table; rows with cosine below ``threshold`` are marked ``*``."""
    header = ["#", "", "layer", "type", "dtype", "cosine", "SQNR dB", "worst ch dB", "max|err|",
              "max LSB", "mean|err|", "LSB", "max|float|"]  # fmt: skip
    rows = []
    for r in report.layers:
        s = r.stats.summary()
        flag = "*" if (not r.note and s["cosine"] < threshold) else ""
        if r.note:
            rows.append([str(r.index), "?", r.name, r.module_type, fmt(r.dtype), r.note] + [""] * 7)
            continue
        rows.append(
            [str(r.index), flag, r.name, r.module_type, fmt(r.dtype), f"{s['cosine']:.6f}",
             fmt(s["sqnr_db"], 3), fmt(s["min_channel_sqnr_db"], 3), fmt(s["max_abs_err"]),
             fmt(s["max_err_lsb"], 3), fmt(s["mean_abs_err"]), fmt(s["lsb"]),
             fmt(s["max_abs_float"])]
        )  # fmt: skip
    worst = report.worst(10)
    by_channel = report.worst(10, key="min_channel_sqnr_db")
    lines = [
        f"{report.title}: {len(report.layers)} tensors over {report.batches} batch(es); "
        f"* = cosine < {threshold}; worst ch = lowest per-channel SQNR; "
        "max LSB = max|err| / output scale",
        _table(header, rows),
        "",
        "lowest cosine: " + ", ".join(f"{r.name} ({r.stats.cosine:.5f})" for r in worst),
        "lowest worst-channel SQNR: "
        + ", ".join(f"{r.name} ({fmt(r.stats.min_channel_sqnr_db, 3)} dB)" for r in by_channel),
    ]
    if report.unmatched:
        lines.append("not in the float model: " + ", ".join(report.unmatched))
    return "\n".join(lines) + "\n"


def _metric_line(label: str, d: dict[str, Any] | None, key: str | None) -> str:
    if d is None:
        return ""
    parts = [f"{label}: {key or 'metric'} {fmt(d.get('metric'), 6)}"]
    if "output_sqnr_db" in d:
        parts.append(f"output SQNR {fmt(d['output_sqnr_db'], 4)} dB")
    return ", ".join(parts)


def sensitivity_text(report: SensitivityReport) -> str:
    """Ranked table (most harmful first) plus the reference lines."""
    key = report.metric_key
    direction = "higher is better" if report.higher_is_better else "lower is better"
    header = ["rank", "layer", "type", key or "metric", "degradation", "output SQNR dB"]
    rows = [
        [str(r.rank), r.name, r.module_type, fmt(r.metric, 6), fmt(r.degradation, 4),
         fmt(r.output_sqnr_db, 4)]
        for r in report.rows
    ]  # fmt: skip
    lines = [
        f"sensitivity: one module quantized at a time, {report.batches} batch(es); "
        + (f"metric {key} ({direction})" if key else "no metric: ranked by output SQNR"),
        _metric_line("nothing quantized (fake quant off)", report.reference, key),
        _metric_line("all quantized", report.all_quantized, key),
        _metric_line("float model", report.float_model, key),
        "degradation = metric with the module quantized alone minus nothing quantized "
        "(positive: worse)",
        _table(header, rows),
    ]
    lines.extend(report.notes)
    return "\n".join(x for x in lines if x) + "\n"


def int16_text(cmp: Int16Comparison, key: str | None) -> str:
    """Baseline vs int16 recalibration, with the modules raised."""
    lines = [
        f"int16 top-{len(cmp.modules)}: recalibrated on {cmp.calibration_batches} batch(es)",
        "int16 modules: " + ", ".join(cmp.modules),
        _metric_line("float model", cmp.float_model, key),
        _metric_line("baseline (recalibrated)", cmp.baseline, key),
        _metric_line("int16 top-k (recalibrated)", cmp.int16, key),
    ]
    return "\n".join(x for x in lines if x) + "\n"


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def to_json(data: Any) -> str:
    """Strict JSON (non-finite floats as the strings ``"inf"``, ``"-inf"``, ``"nan"``)."""
    return json.dumps(_finite(data), indent=2, allow_nan=False, default=str)
