"""Deployment latency of a config's model: ORT int8 (our QDQ export) vs ORT fp32 vs torch eager
fp32, all at the config's deploy input size (or ``--size H,W``).

The float model is built from the config's ``model`` (weights from ``--float-ckpt`` when given,
else random: latency does not depend on the values), calibrated on a few random inputs,
converted to the integer model (the task's own ``fuse_model``/``set_qconfig``) and exported with
``export_int_model_to_onnx``; the float model goes through ``export_float_onnx``. Every
configuration runs in its own process (torch's OpenMP threads disturb ORT in a shared process)
with ``--threads`` intra-op threads; the three are measured round-robin, ``--rounds`` times
``--seconds`` each, and the ratios are medians over all runs of one invocation.

Goals (quantization issue): int8_ort / fp32_ort <= 0.6 and int8_ort / torch_fp32 <= 0.2.

    python benchmarks/bench_deploy_latency.py --config configs/.../pwcnet_..._demo.py
    python benchmarks/bench_deploy_latency.py --config CFG --size 1024,2048 --threads 2
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


def _inputs(config, size: tuple[int, int] | None, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, t in config.deploy_inputs().items():
        shape = tuple(t.shape) if size is None else (*t.shape[:-2], *size)
        out[name] = torch.rand(shape, generator=g) * 2 - 1
    return out


def _float_model(config, ckpt: str | None) -> torch.nn.Module:
    from hat.registry import build_from_registry
    from hat.utils.checkpoint import load_model_weights

    model = build_from_registry(config.model_spec(), "model")
    if ckpt:
        load_model_weights(model, ckpt)
    return model.eval()


def _time(fn, seconds: float) -> list[float]:
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
    feeds = _inputs(config, args.size_hw)
    if args.worker == "torch_fp32":
        torch.set_num_threads(args.threads)
        model = _float_model(config, args.float_ckpt)
        with torch.no_grad():
            fn = lambda: model(dict(feeds))  # noqa: E731
            for _ in range(2):
                fn()
            return {"times": _time(fn, args.seconds)}
    from hat.quantization.ort_runner import make_session

    sess = make_session(args.path, level="all", threads=args.threads)
    np_feeds = {k: v.numpy() for k, v in feeds.items()}
    fn = lambda: sess.run(None, np_feeds)  # noqa: E731
    for _ in range(2):
        fn()
    return {"times": _time(fn, args.seconds)}


def prepare(args: argparse.Namespace, tmp: str) -> dict:
    from hat.quantization import FakeQuantState, set_fake_quantize
    from hat.quantization.converters import Float2Calibration, QAT2Quantize
    from hat.quantization.export_onnx import export_float_onnx, export_int_model_to_onnx
    from hat.quantization.ort_runner import classify_ops, optimized_op_counts
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(args.config)
    x = _inputs(config, args.size_hw)
    fp32 = os.path.join(tmp, "fp32.onnx")
    export_float_onnx(_float_model(config, args.float_ckpt), x, fp32)
    model = Float2Calibration()(_float_model(config, args.float_ckpt))
    model.eval()
    set_fake_quantize(model, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for s in range(1, 3):
            model(_inputs(config, args.size_hw, seed=s))
    im = QAT2Quantize()(model)
    int8 = os.path.join(tmp, "int8.onnx")
    rep = export_int_model_to_onnx(im, x, int8)
    return {
        "int8": int8,
        "fp32": fp32,
        "ops": classify_ops(optimized_op_counts(int8)),
        "float_islands": rep.float_islands,
        "shapes": {k: list(v.shape) for k, v in x.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--size", default=None, help="H,W (default: the config's deploy_inputs)")
    ap.add_argument("--float-ckpt", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--worker", default=None, choices=KINDS)
    ap.add_argument("--path", default="")
    args = ap.parse_args()
    args.size_hw = tuple(int(v) for v in args.size.split(",")) if args.size else None
    if args.worker:
        print(json.dumps(worker(args)))
        return
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        info = prepare(args, tmp)
        paths = {"ort_int8": info["int8"], "ort_fp32": info["fp32"], "torch_fp32": ""}
        for _ in range(args.rounds):
            for kind in KINDS:
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
                       "--path", paths[kind], "--config", args.config,
                       "--threads", str(args.threads), "--seconds", str(args.seconds)]  # fmt: skip
                if args.size:
                    cmd += ["--size", args.size]
                if args.float_ckpt:
                    cmd += ["--float-ckpt", args.float_ckpt]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                times[kind] += json.loads(out.strip().splitlines()[-1])["times"]
    med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    mins = {k: 1e3 * min(v) for k, v in times.items()}
    res = {
        "config": args.config,
        "inputs": info["shapes"],
        "threads": args.threads,
        "ort_int8_graph": info["ops"],
        "float_islands": info["float_islands"],
        "median_ms": med,
        "min_ms": mins,
        "runs": {k: len(v) for k, v in times.items()},
        "int8_over_ort_fp32": med["ort_int8"] / med["ort_fp32"],
        "int8_over_torch_fp32": med["ort_int8"] / med["torch_fp32"],
        "load_avg": os.getloadavg()[0],
    }
    print(f"config {args.config}, inputs {info['shapes']}, threads {args.threads}")
    print(f"ORT int8 optimized graph: {info['ops']}")
    for k in KINDS:
        print(f"{k:11s} median {med[k]:9.2f} ms  (min {mins[k]:.2f}, {len(times[k])} runs)")
    print(f"int8_ort / fp32_ort   = {res['int8_over_ort_fp32']:.3f}  (goal <= 0.6)")
    print(f"int8_ort / torch_fp32 = {res['int8_over_torch_fp32']:.3f}  (goal <= 0.2)")
    print(f"1-min load average at the end: {res['load_avg']:.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
