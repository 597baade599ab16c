"""Compile/perf report of the fixed-point model: ``tools/compile_perf_hbir.py --config CFG``.

Instead of compiling a closed HBM file, ONNX Runtime optimises the exported QDQ ONNX file
(``{ckpt_dir}/{task}.int.onnx``, from export_hbir) and saves the optimised graph at EXTENDED
(``{task}.int.opt.onnx``, hardware independent). Reports op-type counts (integer vs float),
MACs, parameters, weight bytes, the measured ORT latency (median of N runs after warm-up, intra-op
threads stated), FPS, and an analytical latency ESTIMATE for an accelerator described in the
config's ``compile_cfg`` (``tops``, ``bandwidth_gbps``, ``efficiency``; defaults if absent):
``max(MACs*2 / (TOPS*efficiency), bytes / bandwidth)``. Writes ``{task}.perf.json`` and
``{task}.perf.html`` into ckpt_dir.
"""

from __future__ import annotations

import argparse
import html
import os
import statistics
import time

import numpy as np

from hat.tools.deploy_common import (
    FORMAT_NOTE,
    deploy_inputs,
    int_onnx_path,
    load_stage_config,
    write_json,
)
from hat.utils.cli import ToolError, run_cli

__all__ = ["main", "perf"]
PROG = "hat-compile-perf-hbir"
DEFAULT_ACCEL = dict(tops=96.0, bandwidth_gbps=68.0, efficiency=0.5)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__ + "\n" + FORMAT_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", "-c", required=True)
    p.add_argument("--model", default=None, help="ONNX file (default {ckpt_dir}/{task}.int.onnx)")
    p.add_argument("--runs", type=int, default=None, help="timed runs (compile_cfg perf_runs)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up runs")
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (default 1)")
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE")
    return p


def perf(args: argparse.Namespace) -> dict:
    import onnx
    from onnx import numpy_helper

    from hat.quantization.deploy_platform import deploy_platform_info
    from hat.quantization.ort_runner import classify_ops, make_session, optimized_op_counts
    from hat.registry import build_from_registry
    from hat.utils.op_count import count_ops
    from hat.tools.deploy_common import deploy_model_spec

    cfg = load_stage_config(args.config, "int_infer", args.opts)
    path = args.model or int_onnx_path(cfg)
    if not os.path.isfile(path):
        raise ToolError(f"no exported model at {path}: run tools/export_hbir.py first")
    ccfg = dict(DEFAULT_ACCEL)
    ccfg.update(cfg.get("compile_cfg") or cfg.get("perf_cfg") or {})
    runs = args.runs or int(ccfg.get("perf_runs", 20))
    warmup = args.warmup if args.warmup is not None else int(ccfg.get("warmup_runs", 3))
    stem = os.path.splitext(path)[0]
    opt_path = stem + ".opt.onnx"
    counts = dict(optimized_op_counts(path, level="extended", save_to=opt_path))
    classes = classify_ops(counts)
    model_proto = onnx.load(path)
    weight_bytes = params = 0
    for init in model_proto.graph.initializer:
        arr = numpy_helper.to_array(init)
        weight_bytes += arr.nbytes
        if arr.size > 1:
            params += arr.size
    inputs = deploy_inputs(cfg)
    key, spec = deploy_model_spec(cfg)
    macs = int(count_ops(build_from_registry(spec, key), inputs).get("Global", 0))
    feeds = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in inputs.items()}
    sess = make_session(path, "all", threads=args.threads)
    names = {i.name for i in sess.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in names}
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1000)
    median = statistics.median(times)
    act_bytes = sum(v.nbytes for v in feeds.values()) // 4  # uint8 input on the accelerator
    compute_ms = 2 * macs / (ccfg["tops"] * 1e12 * ccfg["efficiency"]) * 1e3
    memory_ms = (weight_bytes + act_bytes) / (ccfg["bandwidth_gbps"] * 1e9) * 1e3
    report = {
        "model": path,
        "optimized_model": opt_path,
        "optimization_level_saved": "EXTENDED",
        "op_counts": counts,
        "op_classes": classes,
        "integer_ops": sum(classes.get("integer", {}).values()),
        "float_compute_ops": sum(classes.get("float_compute", {}).values()),
        "macs": macs,
        "flops": 2 * macs,
        "params": params,
        "weight_bytes": weight_bytes,
        "deploy_platform": deploy_platform_info(path),  # CPU ISA, weight range
        "latency": {
            "runtime": "onnxruntime CPU, ENABLE_ALL",
            "threads": args.threads,
            "warmup_runs": warmup,
            "runs": runs,
            "median_ms": round(median, 3),
            "min_ms": round(min(times), 3),
            "fps": round(1000 / median, 2),
        },
        "accelerator_estimate": {
            "label": "ANALYTICAL ESTIMATE, not a measurement",
            "accelerator": {k: ccfg[k] for k in ("tops", "bandwidth_gbps", "efficiency")},
            "compute_ms": round(compute_ms, 4),
            "memory_ms": round(memory_ms, 4),
            "latency_ms": round(max(compute_ms, memory_ms), 4),
            "fps": round(1000 / max(compute_ms, memory_ms, 1e-9), 1),
        },
    }
    write_json(stem.removesuffix(".int") + ".perf.json", report)
    _write_html(stem.removesuffix(".int") + ".perf.html", report)
    print(f"optimised graph (EXTENDED): {opt_path}")
    print(f"integer ops: {classes.get('integer', {})}")
    print(f"float compute ops: {classes.get('float_compute', {})}")
    print(f"MACs {macs}, params {params}, weight bytes {weight_bytes}")
    lat = report["latency"]
    print(
        f"ORT int8 latency: median {lat['median_ms']} ms (min {lat['min_ms']}) over {runs} runs "
        f"after {warmup} warm-up, {args.threads} thread(s); {lat['fps']} FPS"
    )
    est = report["accelerator_estimate"]
    print(
        f"accelerator latency ESTIMATE (analytical, {est['accelerator']}): {est['latency_ms']} ms"
    )
    return report


def _write_html(path: str, r: dict) -> None:
    from hat.utils.file_io import atomic_write

    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in sorted(r["op_counts"].items())
    )
    lat, est = r["latency"], r["accelerator_estimate"]
    text = f"""<!doctype html><html><head><meta charset="utf-8"><title>perf report</title></head>
<body><h1>Fixed-point model report</h1><p>{html.escape(FORMAT_NOTE)}</p>
<p>Model: {html.escape(r["model"])}<br>MACs: {r["macs"]} (FLOPs {r["flops"]}),
params: {r["params"]}, weight bytes: {r["weight_bytes"]}</p>
<h2>Measured (ONNX Runtime CPU)</h2><p>median {lat["median_ms"]} ms, min {lat["min_ms"]} ms,
{lat["runs"]} runs after {lat["warmup_runs"]} warm-up, {lat["threads"]} thread(s),
{lat["fps"]} FPS</p>
<h2>Accelerator: analytical estimate (not a measurement)</h2>
<p>{html.escape(str(est["accelerator"]))}: compute {est["compute_ms"]} ms,
memory {est["memory_ms"]} ms, estimate {est["latency_ms"]} ms</p>
<h2>Op types after ORT optimisation (EXTENDED)</h2><table border="1">{rows}</table></body></html>
"""
    atomic_write(path, lambda f: f.write(text.encode()))


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (perf(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
