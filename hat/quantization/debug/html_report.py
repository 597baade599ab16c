"""Self-contained HTML reports: sortable tables (click a header), flagged rows, inline charts."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import Any

from hat.quantization.debug.int16_topk import Int16Comparison
from hat.quantization.debug.sensitivity import SensitivityReport
from hat.quantization.debug.similarity import SimilarityReport
from hat.quantization.debug.text_report import fmt

__all__ = ["similarity_html", "sensitivity_html"]

_STYLE = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}td.l,th.l{text-align:left}
th{background:#eee;cursor:pointer;position:sticky;top:0}tr.bad{background:#f8c8c8}
tr.warn{background:#fdf0c0}tr.out{font-weight:bold}img{max-width:100%}"""

_SORT_JS = """document.querySelectorAll('table.sortable th').forEach(function(th, col){
th.addEventListener('click', function(){var tb=th.closest('table').tBodies[0];
var rows=Array.from(tb.rows);var asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort(function(a,b){var x=a.cells[col].dataset.v, y=b.cells[col].dataset.v;
var u=(x===undefined)?a.cells[col].textContent:x, w=(y===undefined)?b.cells[col].textContent:y;
var p=parseFloat(u), q=parseFloat(w);
var c=(!isNaN(p)&&!isNaN(q))?p-q:String(u).localeCompare(String(w));return asc?c:-c;});
rows.forEach(function(r){tb.appendChild(r);});});});"""


def _num_cell(value: Any, digits: int = 4) -> str:
    if value is None:
        return '<td data-v="">-</td>'
    v = float(value)
    key = "1e308" if v == math.inf else ("-1e308" if v == -math.inf else repr(v))
    return f'<td data-v="{key}">{html.escape(fmt(v, digits))}</td>'


def _text_cell(text: Any) -> str:
    return f'<td class="l">{html.escape(str(text))}</td>'


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
        f"<script>{_SORT_JS}</script></body></html>\n"
    )


def _table(header: Sequence[str], rows: Sequence[tuple[str, str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    tr = "".join(f'<tr class="{cls}">{cells}</tr>' for cls, cells in rows)
    return f'<table class="sortable"><thead><tr>{th}</tr></thead><tbody>{tr}</tbody></table>'


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<p><img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"></p>'


def _similarity_chart(report: SimilarityReport, threshold: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.layers if not r.note]
    if not rows:
        return ""
    idx = [r.index for r in rows]
    sqnr = [min(r.stats.sqnr_db, 80.0) for r in rows]
    cos = [r.stats.cosine for r in rows]
    fig, ax = plt.subplots(figsize=(12, 3.5))
    ax.plot(idx, sqnr, ".-", color="tab:blue", label="SQNR dB (capped at 80)")
    ax.set_xlabel("layer (execution order)")
    ax.set_ylabel("SQNR dB")
    ax2 = ax.twinx()
    ax2.plot(idx, cos, ".", color="tab:red", label="cosine")
    ax2.axhline(threshold, color="tab:red", lw=0.5, ls="--")
    ax2.set_ylabel("cosine")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower left")
    return _png(fig)


def similarity_html(report: SimilarityReport, threshold: float = 0.99) -> str:
    """Rows red below ``threshold`` cosine, yellow below the midpoint to 1."""
    warn = threshold + (1.0 - threshold) / 2
    header = ["#", "layer", "type", "dtype", "cosine", "SQNR dB", "worst channel SQNR dB",
              "max|err|", "max err LSB", "mean|err|", "LSB", "max|float|"]  # fmt: skip
    rows = []
    for r in report.layers:
        s = r.stats.summary()
        cells = _num_cell(r.index) + _text_cell(r.name) + _text_cell(r.module_type)
        cells += _text_cell(r.dtype or "-")
        if r.note:
            rows.append(("warn", cells + f'<td class="l" colspan="8">{html.escape(r.note)}</td>'))
            continue
        cls = "bad" if s["cosine"] < threshold else ("warn" if s["cosine"] < warn else "")
        if r.name.startswith("[output]"):
            cls += " out"
        cells += _num_cell(s["cosine"], 6) + _num_cell(s["sqnr_db"])
        cells += _num_cell(s["min_channel_sqnr_db"]) + _num_cell(s["max_abs_err"])
        cells += _num_cell(s["max_err_lsb"]) + _num_cell(s["mean_abs_err"]) + _num_cell(s["lsb"])
        cells += _num_cell(s["max_abs_float"])
        rows.append((cls, cells))
    body = (
        f"<p>{report.batches} batch(es). Quantized outputs are dequantized and compared with "
        "the float module of the same name; errors accumulate through the network. "
        f"Red: cosine &lt; {threshold}; yellow: &lt; {warn:.6g}. Worst channel SQNR: the lowest "
        "per-channel SQNR (a per-tensor scale stretched by one large channel crushes the others "
        "while the cosine stays high). Max err LSB = max|err| / output scale. Click a header to "
        "sort.</p>"
    )
    try:
        body += _similarity_chart(report, threshold)
    except ImportError:
        pass
    return _page(report.title, body + _table(header, rows))


def _sensitivity_chart(report: SensitivityReport, top: int = 20) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.rows[:top][::-1]
    if not rows:
        return ""
    use_metric = report.metric_key is not None
    vals = [(r.degradation or 0.0) if use_metric else min(r.output_sqnr_db, 80.0) for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1))
    ax.barh([r.name for r in rows], vals, color="tab:red" if use_metric else "tab:blue")
    ax.set_xlabel(f"{report.metric_key} degradation" if use_metric else "output SQNR dB")
    ax.set_title(f"top {len(rows)} sensitive modules (quantized alone)")
    return _png(fig)


def _metric_par(label: str, d: dict[str, Any] | None, key: str | None) -> str:
    if not d:
        return ""
    sq = d.get("output_sqnr_db")
    extra = f", output SQNR {html.escape(fmt(sq))} dB" if sq is not None else ""
    value = html.escape(fmt(d.get("metric"), 6))
    return f"<li>{html.escape(label)}: {key or 'metric'} {value}{extra}</li>"


def sensitivity_html(report: SensitivityReport, int16: Int16Comparison | None = None) -> str:
    """Ranked table (most harmful first) with the reference metrics and the int16 result."""
    key = report.metric_key
    items = [
        _metric_par("nothing quantized (fake quant off)", report.reference, key),
        _metric_par("all quantized", report.all_quantized, key),
        _metric_par("float model", report.float_model, key),
    ]
    if int16 is not None:
        items.append(f"<li>int16 modules: {html.escape(', '.join(int16.modules))}</li>")
        items.append(_metric_par("baseline recalibrated", int16.baseline, key))
        items.append(_metric_par("int16 top-k recalibrated", int16.int16, key))
    direction = "higher is better" if report.higher_is_better else "lower is better"
    body = (
        f"<p>One module quantized at a time (its weights, bias and output), {report.batches} "
        f"batch(es); metric {html.escape(str(key))} ({direction}). Degradation is relative to "
        f"the model with nothing quantized (positive: worse).</p><ul>{''.join(items)}</ul>"
    )
    try:
        body += _sensitivity_chart(report)
    except ImportError:
        pass
    rows = []
    for r in report.rows:
        bad = r.degradation is not None and r.degradation > 0 and r.rank <= 5
        cells = _num_cell(r.rank) + _text_cell(r.name) + _text_cell(r.module_type)
        cells += _num_cell(r.metric, 6) + _num_cell(r.degradation) + _num_cell(r.output_sqnr_db)
        rows.append(("bad" if bad else "", cells))
    header = ["rank", "layer", "type", key or "metric", "degradation", "output SQNR dB"]
    return _page("quantization sensitivity", body + _table(header, rows))
