"""Where ONNX Runtime spends the time of a config's deploy model: int8 (our QDQ export) vs fp32.

    python benchmarks/bench_ort_profile.py --config CFG [--size "deploy;1024,2048"]
        [--threads 1] [--runs 20] [--top 12] [--json out.json]

For each size the model is exported both ways as ``bench_deploy_latency.py`` does (random
weights unless ``--float-ckpt``; a few random calibration inputs), then each file runs ``--runs``
times in an ORT session with profiling on (all graph optimisations, ``--threads`` intra-op
threads). Printed per model: the kernel time per run, the time per op type and the slowest
nodes with their input shapes (after ORT's layout changes: NHWC for the integer convs, NCHWc
blocks for the float ones), so a change to the export can be judged op by op.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_deploy_latency  # noqa: E402


def profile(path: str, feeds: dict, threads: int, runs: int) -> dict:
    """Kernel time per run (ms) by op type and by node, from ORT's profiler."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(3):  # warm the caches (and the CPU) before the profiled runs
        sess.run(None, feeds)
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(os.path.dirname(path), "ort_profile")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        sess.run(None, feeds)
    trace = sess.end_profiling()
    with open(trace, encoding="utf-8") as f:
        events = json.load(f)
    os.remove(trace)
    by_op: collections.Counter = collections.Counter()
    by_node: collections.Counter = collections.Counter()
    shapes: dict[str, list] = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        op = e["args"]["op_name"]
        node = e["name"][: -len("_kernel_time")]
        by_op[op] += e["dur"]
        by_node[(node, op)] += e["dur"]
        shapes[node] = [list(s.values())[0] for s in e["args"].get("input_type_shape", [])][:1]
    scale = 1e-3 / runs  # microseconds per profile -> ms per run
    return {
        "total_ms": sum(by_op.values()) * scale,
        "ops_ms": {k: v * scale for k, v in by_op.most_common()},
        "nodes": [
            {"node": n, "op": op, "ms": v * scale, "input_shape": shapes[n]}
            for (n, op), v in by_node.most_common()
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--size", default="deploy")
    ap.add_argument("--float-ckpt", default=None)
    ap.add_argument("--inputs", default=None, help=".npz of name -> array (fixed inputs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(args.config)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size_arg in args.size.split(";"):
            size = bench_deploy_latency._parse_sizes(size_arg)[0]
            info = bench_deploy_latency.prepare(config, size, args.float_ckpt, tmp, args.inputs)
            x = bench_deploy_latency._inputs(config, size, fixed=args.inputs)
            feeds = {k: v.numpy() for k, v in x.items()}
            row = {"inputs": info["inputs"]}
            for kind in ("int8", "fp32"):
                row[kind] = profile(info[kind], feeds, args.threads, args.runs)
            rows.append(row)
    for row in rows:
        i8, f32 = row["int8"], row["fp32"]
        ratio = i8["total_ms"] / f32["total_ms"]
        print(
            f"inputs {row['inputs']}: kernel time per run int8 {i8['total_ms']:.2f} ms, "
            f"fp32 {f32['total_ms']:.2f} ms (ratio {ratio:.3f})"
        )
        for kind in ("int8", "fp32"):
            p = row[kind]
            ops = ", ".join(f"{k} {v:.2f}" for k, v in list(p["ops_ms"].items())[:8])
            print(f"  {kind} by op type (ms): {ops}")
            for n in p["nodes"][: args.top]:
                shape = str(n["input_shape"])
                print(f"    {n['ms']:8.3f} ms  {n['op']:16s} {shape:22s} {n['node']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
