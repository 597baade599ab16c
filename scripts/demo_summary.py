"""The demo's summary: one row per task and stage (metric, its ratio to float and to a trivial
baseline, ORT alignment, latency, timings), printed as a table and written as
``demo-summary.json`` after every finished task."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from demo_tasks import DemoTask, Step

HEADERS = ["task", "stage", "metric", "value", "dataset_size", "seconds"]


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def format_table(rows: list[dict]) -> str:
    """``rows`` as aligned text columns under a header line."""
    lines = [HEADERS] + [[str(r.get(h, "")) for h in HEADERS] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    out = []
    for i, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths)))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _row(task: DemoTask, stage: str, metric: str, value, size="", seconds="") -> dict:
    if isinstance(value, float):
        value = round(value, 6 if "fraction" in metric else 4)
    return dict(task=task.name, stage=stage, metric=metric, value=value,
                dataset_size=size, seconds=seconds)  # fmt: skip


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def _relative(task: DemoTask, stage: str, k: str, value, ref, ref_name: str) -> dict:
    """``value / ref`` as the ``{k} ratio`` row; when ``ref`` is 0 (a trivial baseline's mAP, a
    smoke run's NDS) the ratio means nothing and the row gives ``value - ref`` instead."""
    where = f"{stage}/{ref_name}"
    if not (_number(value) and _number(ref)):
        return _row(task, where, f"{k} ratio", "n/a")
    if ref == 0:
        return _row(task, where, f"{k} difference ({ref_name} is 0)", value - ref)
    return _row(task, where, f"{k} ratio", value / ref)


def task_rows(task: DemoTask, ckpt_dir: Path, timings: dict, baseline) -> list[dict]:
    """Each metric per stage (and its ratio to float and to the baseline), ORT alignment and
    latency rows, read from the ``*-metrics.json`` and ``*.perf.json`` files the tools wrote
    into ``ckpt_dir``."""
    keys = task.metric_keys
    fl = read_json(ckpt_dir / "float-metrics.json")
    secs = round(timings["train_float"], 1)
    rows = [_row(task, "float", k, fl[k], fl.get("dataset_size", ""), secs) for k in keys]
    if baseline:
        b = read_json(ckpt_dir / baseline[1])
        rows += [_row(task, baseline[2], k, b[k], b.get("dataset_size", "")) for k in keys]
        rows += [_relative(task, "float", k, fl[k], b[k], baseline[2]) for k in keys]
    for stage, train_step in (("calibration", "train_calibration"), ("qat", "train_qat"),
                              ("int_infer", None)):  # fmt: skip
        m = read_json(ckpt_dir / f"{stage}-metrics.json")
        secs = round(timings[train_step], 1) if train_step else ""
        rows += [_row(task, stage, k, m[k], m.get("dataset_size", ""), secs) for k in keys]
        rows += [_relative(task, stage, k, m[k], fl[k], "float") for k in keys]
    align = read_json(ckpt_dir / "align_bpu-metrics.json")
    rows += [_row(task, "ort_int8 (align_bpu)", k, align[k], align["samples"],
                  round(timings["validation_hbir"], 1)) for k in keys]  # fmt: skip
    rows.append(
        _row(
            task,
            "ort vs int_infer",
            "identical fraction (bitwise)",
            align.get("identical_fraction_bitwise", align["identical_fraction"]),
        )
    )
    rows.append(_row(task, "ort vs int_infer", "max diff (LSB)", align["max_diff_lsb"]))
    perf_files = sorted(ckpt_dir.glob("*.perf.json"))
    if perf_files:
        perf = read_json(perf_files[0])
        lat = perf["latency"]
        rows.append(_row(task, "ort_int8", f"latency median ms ({lat['threads']} thread)",
                         lat["median_ms"]))  # fmt: skip
        est = perf["accelerator_estimate"]
        rows.append(_row(task, "accelerator (estimate)", "latency ms", est["latency_ms"]))
    return rows


def write_summary(
    path: Path,
    finished: list[str],
    pending: list[str],
    steps: list[Step],
    rows: list[dict],
    seconds: float,
) -> dict:
    """Write the summary of the tasks finished so far to ``path`` (replaced atomically, so a
    reader never sees half a file) and return it."""
    summary = {
        "tasks": list(finished),
        "pending": list(pending),
        "total_seconds": round(seconds, 1),
        "steps": {s.name: round(s.seconds, 1) for s in steps},
        "results": rows,
    }
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    os.replace(tmp, path)
    return summary
