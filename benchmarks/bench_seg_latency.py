"""Segmentation deploy latency: ORT int8 (our QDQ export) vs ORT fp32 vs torch eager fp32.

The model is the config's ``deploy_model`` (UNet-MobileNetV1: stride-4 argmax class map), at the
config's deploy size and at 1024x2048 (Cityscapes), or the ``--sizes`` given. For each size the
float deploy model (random weights: latency does not depend on the values) is exported with
``export_float_onnx``; a copy is calibrated on a few random images, converted to the integer
model and exported with ``export_int_model_to_onnx``. Every
configuration runs in its own process (torch's OpenMP threads disturb ORT in a shared process)
with ``--threads`` intra-op threads; the three are measured round-robin, ``--rounds`` times
``--seconds`` each, and the ratios are medians of one invocation. The 1-min load average is
printed: figures taken while other jobs run are not comparable with quiet ones.

    python benchmarks/bench_seg_latency.py \\
        --config configs/segmentation/unet_mobilenetv1_cityscapes_demo.py [--threads 2]
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


def _image(size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, *size), generator=g) * 2 - 1


def _deploy_model(config) -> torch.nn.Module:
    from hat.registry import build_from_registry

    key, spec = config.deploy_model_spec()
    if key != "deploy_model":
        raise SystemExit(f"config {config.path} has no deploy_model")
    return build_from_registry(spec, key).eval()


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


def worker(args: argparse.Namespace) -> list[float]:
    from hat.utils.run_config import RunConfig

    size = tuple(int(v) for v in args.size.split(","))
    x = _image(size)
    if args.worker == "torch_fp32":
        torch.set_num_threads(args.threads)
        model = _deploy_model(RunConfig.load(args.config))
        with torch.no_grad():
            return _time(lambda: model({"img": x}), args.seconds)
    from hat.quantization.ort_runner import make_session

    sess = make_session(args.path, level="all", threads=args.threads)
    feeds = {"img": x.numpy()}
    return _time(lambda: sess.run(None, feeds), args.seconds)


def prepare(config, size: tuple[int, int], tmp: str) -> dict:
    from hat.quantization import FakeQuantState, set_fake_quantize
    from hat.quantization.converters import Float2Calibration, QAT2Quantize
    from hat.quantization.export_onnx import export_float_onnx, export_int_model_to_onnx
    from hat.quantization.ort_runner import classify_ops, optimized_op_counts, run_onnx

    x = _image(size)
    tag = f"{size[0]}x{size[1]}"
    fp32 = os.path.join(tmp, f"fp32_{tag}.onnx")
    export_float_onnx(_deploy_model(config), {"img": x}, fp32)
    model = Float2Calibration()(_deploy_model(config)).eval()
    set_fake_quantize(model, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for s in range(1, 3):
            model({"img": _image(size, s)})
    im = QAT2Quantize()(model)
    int8 = os.path.join(tmp, f"int8_{tag}.onnx")
    rep = export_int_model_to_onnx(im, {"img": x}, int8)
    with torch.no_grad():
        same = float((run_onnx(int8, {"img": x})["output"] == im({"img": x}).numpy()).mean())
    return {"int8": int8, "fp32": fp32, "ops": classify_ops(optimized_op_counts(int8)),
            "float_islands": rep.float_islands, "int_vs_ort_identical": same}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--sizes", default=None, help="H,W;H,W (default: deploy size;1024,2048)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--worker", default=None, choices=KINDS)
    ap.add_argument("--path", default="")
    ap.add_argument("--size", default="")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from hat.utils.op_count import count_ops
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(args.config)
    if args.sizes:
        sizes = [tuple(int(v) for v in s.split(",")) for s in args.sizes.split(";")]
    else:
        sizes = [tuple(config.deploy_inputs()["img"].shape[-2:]), (1024, 2048)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            info = prepare(config, size, tmp)
            gmac = count_ops(_deploy_model(config), {"img": _image(size)})["Global"] / 1e9
            paths = {"ort_int8": info["int8"], "ort_fp32": info["fp32"], "torch_fp32": ""}
            times: dict[str, list[float]] = {k: [] for k in KINDS}
            for _ in range(args.rounds):
                for kind in KINDS:
                    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
                           "--path", paths[kind], "--config", args.config,
                           "--size", f"{size[0]},{size[1]}", "--threads", str(args.threads),
                           "--seconds", str(args.seconds)]  # fmt: skip
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                    times[kind] += json.loads(out.strip().splitlines()[-1])
            med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
            rows.append(
                {"size": list(size), "gmac": gmac, "median_ms": med,
                 "min_ms": {k: 1e3 * min(v) for k, v in times.items()},
                 "runs": {k: len(v) for k, v in times.items()},
                 "int8_over_ort_fp32": med["ort_int8"] / med["ort_fp32"],
                 "int8_over_torch_fp32": med["ort_int8"] / med["torch_fp32"],
                 "ort_int8_graph": info["ops"], "float_islands": info["float_islands"],
                 "int_vs_ort_identical": info["int_vs_ort_identical"]}
            )  # fmt: skip
    load = os.getloadavg()[0]
    print(f"config {args.config} (deploy_model), threads {args.threads}, ORT level all")
    head = f"{'input':>11} {'GMAC':>6} {'ORT int8':>10} {'ORT fp32':>10} {'torch fp32':>11}"
    print(head + f" {'int8/ort32':>11} {'int8/torch':>11}")
    for r in rows:
        m = r["median_ms"]
        print(
            f"{r['size'][0]:>5}x{r['size'][1]:<5} {r['gmac']:6.2f} {m['ort_int8']:8.2f}ms "
            f"{m['ort_fp32']:8.2f}ms {m['torch_fp32']:9.2f}ms {r['int8_over_ort_fp32']:11.3f} "
            f"{r['int8_over_torch_fp32']:11.3f}"
        )
    for r in rows:
        print(f"{r['size']}: ORT int8 graph {r['ort_int8_graph']}; int model == ORT on "
              f"{100 * r['int_vs_ort_identical']:.3f} % of the class map")  # fmt: skip
    print(f"medians of {args.rounds} rounds x {args.seconds} s; 1-min load average {load:.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "threads": args.threads, "load_avg": load}, f, indent=2)


if __name__ == "__main__":
    main()
