"""Deployment latency of a config's model: ORT int8 (our QDQ export) vs ORT fp32 vs torch eager
fp32, at the config's deploy input size or the ``--size`` list given.

The network is the config's ``deploy_model`` when it has one (UNet-MobileNetV1: the stride-4
argmax class map), else its ``model`` (weights from ``--float-ckpt`` when given, else random:
latency does not depend on the values). Inputs are uniform in [-1, 1] except those named in the
``--inputs`` .npz file, which take its arrays (the BEV model's sampling points: see
``bench_bev_latency.py``). For each size it is calibrated on a few random inputs,
converted to the integer model (the task's own ``fuse_model``/``set_qconfig``) and exported with
``export_int_model_to_onnx``; the float model goes through ``export_float_onnx``. Every
configuration runs in its own process (torch's OpenMP threads disturb ORT in a shared process)
with ``--threads`` intra-op threads; the three are measured round-robin, ``--rounds`` times
``--seconds`` each, and the ratios are medians over all runs of one invocation. Also printed:
the model's multiply-accumulates, the share of output elements on which ORT and the integer
model agree bit for bit, and the 1-min load average (figures taken while other jobs run are not
comparable with quiet ones).

Goals (quantization issue): int8_ort / fp32_ort <= 0.6 and int8_ort / torch_fp32 <= 0.2.

    python benchmarks/bench_deploy_latency.py --config configs/.../pwcnet_..._demo.py
    python benchmarks/bench_deploy_latency.py --config CFG --size "deploy;1024,2048" --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KINDS = ("ort_int8", "ort_fp32", "torch_fp32")
Size = tuple[int, int] | None  # None: the config's deploy size


def _parse_sizes(text: str) -> list[Size]:
    """``"deploy;1024,2048"`` -> ``[None, (1024, 2048)]``."""
    return [
        None if s.strip() == "deploy" else tuple(int(v) for v in s.split(","))
        for s in text.split(";")
    ]


def _inputs(config, size: Size, seed: int = 0, fixed: str | None = None) -> dict[str, torch.Tensor]:
    """Uniform random inputs in [-1, 1] of the deploy shapes; the inputs named in the ``fixed``
    .npz file (e.g. the BEV model's sampling points of a camera rig) take its arrays."""
    g = torch.Generator().manual_seed(seed)
    given = {}
    if fixed:
        import numpy as np

        with np.load(fixed) as f:
            given = {k: torch.from_numpy(f[k]) for k in f.files}
    out = {}
    for name, t in config.deploy_inputs().items():
        shape = tuple(t.shape) if size is None else (*t.shape[:-2], *size)
        out[name] = torch.rand(shape, generator=g) * 2 - 1
        if name in given:
            if tuple(given[name].shape) != shape:
                raise ValueError(
                    f"--inputs {fixed}: {name!r} has shape {tuple(given[name].shape)}, "
                    f"the deploy input is {shape}"
                )
            out[name] = given[name].to(out[name].dtype)
    return out


def _float_model(config, ckpt: str | None) -> torch.nn.Module:
    from hat.registry import build_from_registry
    from hat.utils.checkpoint import load_model_weights

    key, spec = config.deploy_model_spec()
    model = build_from_registry(spec, key)
    if ckpt:
        load_model_weights(model, ckpt)
    return model.eval()


def _time(fn, seconds: float) -> list[float]:
    for _ in range(2):
        fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def worker(args: argparse.Namespace) -> dict:
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(args.config)
    feeds = _inputs(config, _parse_sizes(args.size)[0], fixed=args.inputs)
    if args.worker == "torch_fp32":
        torch.set_num_threads(args.threads)
        model = _float_model(config, args.float_ckpt)
        with torch.no_grad():
            return {"times": _time(lambda: model(dict(feeds)), args.seconds)}
    from hat.quantization.ort_runner import make_session

    sess = make_session(args.path, level="all", threads=args.threads)
    np_feeds = {k: v.numpy() for k, v in feeds.items()}
    return {"times": _time(lambda: sess.run(None, np_feeds), args.seconds)}


def _identical_fraction(onnx_path: str, model: torch.nn.Module, x: dict) -> float:
    """Share of the output elements on which ORT and the integer model agree bit for bit."""
    from hat.quantization.ort_runner import run_onnx
    from hat.quantization.output_order import named_outputs

    ort = run_onnx(onnx_path, x)
    with torch.no_grad():
        outputs = named_outputs(model(dict(x)))
    same = sum(int((ort[name] == t.numpy()).sum()) for name, t in outputs)
    return same / sum(t.numel() for _, t in outputs)


def prepare(config, size: Size, ckpt: str | None, tmp: str, fixed: str | None = None) -> dict:
    """Export the float and the integer model at ``size``; their paths and what was measured."""
    from hat.quantization import FakeQuantState, set_fake_quantize
    from hat.quantization.converters import Float2Calibration, QAT2Quantize
    from hat.quantization.export_onnx import export_float_onnx, export_int_model_to_onnx
    from hat.quantization.ort_runner import classify_ops, optimized_op_counts
    from hat.utils.op_count import count_ops

    x = _inputs(config, size, fixed=fixed)
    tag = "x".join(str(v) for v in next(iter(x.values())).shape[-2:])
    fp32 = os.path.join(tmp, f"fp32_{tag}.onnx")
    export_float_onnx(_float_model(config, ckpt), x, fp32)
    model = Float2Calibration()(_float_model(config, ckpt)).eval()
    set_fake_quantize(model, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for s in range(1, 3):
            model(_inputs(config, size, seed=s, fixed=fixed))
            # graphs deployed beside this one (MOTR's query interaction module) calibrate too
            extra = getattr(model, "extra_deploy_graphs", None)
            for graph, graph_inputs in (extra() if callable(extra) else {}).values():
                graph(graph_inputs)
    im = QAT2Quantize()(model)
    int8 = os.path.join(tmp, f"int8_{tag}.onnx")
    rep = export_int_model_to_onnx(im, x, int8)
    return {
        "int8": int8,
        "fp32": fp32,
        "inputs": {k: list(v.shape) for k, v in x.items()},
        "gmac": count_ops(_float_model(config, ckpt), dict(x))["Global"] / 1e9,
        "ort_int8_graph": classify_ops(optimized_op_counts(int8)),
        "float_islands": rep.float_islands,
        "int_vs_ort_identical": _identical_fraction(int8, im, x),
    }


def measure(args: argparse.Namespace, size_arg: str, info: dict) -> dict:
    """Time the three configurations round-robin in their own processes; the result row."""
    paths = {"ort_int8": info["int8"], "ort_fp32": info["fp32"], "torch_fp32": ""}
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    for _ in range(args.rounds):
        for kind in KINDS:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
                   "--path", paths[kind], "--config", args.config, "--size", size_arg,
                   "--threads", str(args.threads), "--seconds", str(args.seconds)]  # fmt: skip
            if args.float_ckpt:
                cmd += ["--float-ckpt", args.float_ckpt]
            if args.inputs:
                cmd += ["--inputs", args.inputs]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            times[kind] += json.loads(out.strip().splitlines()[-1])["times"]
    med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    row = {k: v for k, v in info.items() if k not in ("int8", "fp32")}
    row.update(
        median_ms=med,
        min_ms={k: 1e3 * min(v) for k, v in times.items()},
        runs={k: len(v) for k, v in times.items()},
        int8_over_ort_fp32=med["ort_int8"] / med["ort_fp32"],
        int8_over_torch_fp32=med["ort_int8"] / med["torch_fp32"],
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument(
        "--size", default="deploy", help="H,W[;H,W...]; 'deploy': the config's deploy_inputs"
    )
    ap.add_argument("--float-ckpt", default=None)
    ap.add_argument(
        "--inputs", default=None, help=".npz of name -> array: these inputs instead of random ones"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--worker", default=None, choices=KINDS)
    ap.add_argument("--path", default="")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(args.config)
    key, _ = config.deploy_model_spec()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size_arg in args.size.split(";"):
            info = prepare(config, _parse_sizes(size_arg)[0], args.float_ckpt, tmp, args.inputs)
            rows.append(measure(args, size_arg, info))
    load = os.getloadavg()[0]
    print(f"config {args.config} ({key}), threads {args.threads}, ORT level all")
    for r in rows:
        med, mins = r["median_ms"], r["min_ms"]
        print(f"inputs {r['inputs']}: {r['gmac']:.2f} GMAC; ORT int8 graph {r['ort_int8_graph']}")
        for k in KINDS:
            print(f"  {k:11s} median {med[k]:9.2f} ms  (min {mins[k]:.2f}, {r['runs'][k]} runs)")
        print(f"  int8_ort / fp32_ort   = {r['int8_over_ort_fp32']:.3f}  (goal <= 0.6)")
        print(f"  int8_ort / torch_fp32 = {r['int8_over_torch_fp32']:.3f}  (goal <= 0.2)")
        print(f"  int model == ORT on {100 * r['int_vs_ort_identical']:.3f} % of the outputs")
    print(f"medians of {args.rounds} rounds x {args.seconds} s; 1-min load average {load:.1f}")
    if args.json:
        res = {"config": args.config, "threads": args.threads, "load_avg": load, "rows": rows}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=2)


def main_with_defaults(defaults: dict[str, str]) -> None:
    """:func:`main` with ``defaults`` (option -> value) for the options the command line lacks:
    the task-specific benchmarks are this one with their own defaults."""
    argv = sys.argv[1:]
    for key, value in defaults.items():
        if key not in argv:
            argv += [key, value]
    sys.argv = [os.path.abspath(__file__), *argv]
    main()


if __name__ == "__main__":
    main()
