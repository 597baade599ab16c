"""Deployment latency: int8 (our QDQ export) on ONNX Runtime vs fp32 on ORT vs torch eager.

The model is a small encoder-decoder CNN made of ``hat.nn`` blocks (8 ConvModule2d, 7 with BN +
ReLU, 2 Add, 1 bilinear Interpolate, 1 Concat) at 1x3x384x512. It is calibrated on random data,
converted to the integer model and exported with ``export_int_model_to_onnx``; the float model
is exported with ``export_float_onnx``. Every configuration runs in its own process (torch's
OpenMP threads disturb ORT in a shared process), ``--threads`` intra-op threads, median over
``--seconds`` of back-to-back runs after warm-up.

Goals: int8_ort / fp32_ort <= 0.6 and int8_ort / torch_fp32 <= 0.2.

    python benchmarks/bench_quant_latency.py [--threads 2] [--seconds 10] [--level all]
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
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hat.nn as hnn  # noqa: E402

SHAPE = (1, 3, 384, 512)


class BenchNet(nn.Module):
    """Encoder-decoder of ConvModule2d blocks (all ops quantizable)."""

    def __init__(self, c: int = 32) -> None:
        super().__init__()

        def cbr(i, o, k=3, s=1):
            return hnn.ConvModule2d(i, o, k, stride=s, norm_layer=nn.BatchNorm2d(o),
                                    act_layer=nn.ReLU())  # fmt: skip

        self.quant = hnn.QuantStub(scale=1 / 128)
        self.stem = cbr(3, c, 3, 2)  # 1/2
        self.e1 = cbr(c, 2 * c, 3, 2)  # 1/4
        self.e2 = cbr(2 * c, 2 * c)
        self.add1 = hnn.Add()
        self.e3 = cbr(2 * c, 4 * c, 3, 2)  # 1/8
        self.e4 = cbr(4 * c, 4 * c)
        self.add2 = hnn.Add()
        self.up = hnn.Interpolate(scale_factor=2, mode="bilinear", align_corners=False)
        self.cat = hnn.Concat(dim=1)
        self.d1 = cbr(6 * c, 2 * c, 1)
        self.d2 = cbr(2 * c, 2 * c)
        self.head = hnn.ConvModule2d(2 * c, 8, 1)
        self.dequant = hnn.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quant(x)
        x = self.stem(x)
        a = self.e1(x)
        a = self.add1(a, self.e2(a))
        b = self.e3(a)
        b = self.add2(b, self.e4(b))
        y = self.cat(a, self.up(b))
        y = self.d2(self.d1(y))
        return self.dequant(self.head(y))


def build(seed: int = 0) -> BenchNet:
    torch.manual_seed(seed)
    net = BenchNet()
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net.eval()


def example_input(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*SHAPE, generator=g) * 2 - 1


def macs(model: nn.Module, x: torch.Tensor) -> int:
    total = 0

    def hook(m, i, o):
        nonlocal total
        total += o.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return total


def _time(fn, seconds: float) -> dict:
    for _ in range(3):
        fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 10:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times),
            "runs": len(times)}  # fmt: skip


def worker(kind: str, path: str, threads: int, seconds: float, level: str) -> dict:
    x = example_input()
    if kind == "torch_fp32":
        torch.set_num_threads(threads)
        model = build()
        with torch.no_grad():
            return _time(lambda: model(x), seconds)
    from hat.quantization.ort_runner import make_session

    sess = make_session(path, level=level, threads=threads)
    feeds = {"x": x.numpy()}
    return _time(lambda: sess.run(None, feeds), seconds)


def prepare(tmp: str) -> dict:
    from hat.quantization import FakeQuantState, convert, prepare_qat, set_fake_quantize
    from hat.quantization.export_onnx import export_float_onnx, export_int_model_to_onnx
    from hat.quantization.model_qconfig import default_set_qconfig
    from hat.quantization.ort_runner import classify_ops, optimized_op_counts, run_onnx

    x = example_input()
    fp32_path = os.path.join(tmp, "fp32.onnx")
    export_float_onnx(build(), {"x": x}, fp32_path)
    model = build()
    default_set_qconfig(model)
    prepare_qat(model)
    model.eval()
    set_fake_quantize(model, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for s in range(2, 6):
            model(example_input(s))
    set_fake_quantize(model, FakeQuantState.VALIDATION)
    im = convert(model)
    int_path = os.path.join(tmp, "int8.onnx")
    export_int_model_to_onnx(im, {"x": x}, int_path)
    y_int = im(x)
    y_ort = run_onnx(int_path, {"x": x}, level="all")["output"]
    lsb = float(abs(y_ort - y_int.numpy()).max() / float(im.head.out_scale))
    y_f = build()(x).detach()
    cos = torch.nn.functional.cosine_similarity(y_int.flatten(), y_f.flatten(), dim=0).item()
    counts = classify_ops(optimized_op_counts(int_path))
    return {"int8": int_path, "fp32": fp32_path, "int_vs_ort_max_lsb": lsb,
            "int8_vs_float_cos": cos, "ort_int8_ops": counts}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--level", default="all", choices=["disable", "basic", "extended", "all"])
    ap.add_argument("--worker", default=None)
    ap.add_argument("--path", default="")
    args = ap.parse_args()
    if args.worker:
        res = worker(args.worker, args.path, args.threads, args.seconds, args.level)
        print(json.dumps(res))
        return
    with tempfile.TemporaryDirectory() as tmp:
        info = prepare(tmp)
        gmac = macs(build(), example_input()) / 1e9
        results = {}
        for kind, path in (("ort_int8", info["int8"]), ("ort_fp32", info["fp32"]),
                           ("torch_fp32", "")):  # fmt: skip
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--path", path,
                   "--threads", str(args.threads), "--seconds", str(args.seconds),
                   "--level", args.level]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results[kind] = json.loads(out.strip().splitlines()[-1])
    i8, f32, tf = (results[k]["median_ms"] for k in ("ort_int8", "ort_fp32", "torch_fp32"))
    print(f"model: BenchNet {SHAPE}, {gmac:.2f} GMAC, threads={args.threads}, level={args.level}")
    print(f"ORT int8 optimized graph: {info['ort_int8_ops']}")
    print(f"int model vs ORT int8 (ALL): max {info['int_vs_ort_max_lsb']:.0f} LSB; "
          f"int8 vs float cos {info['int8_vs_float_cos']:.5f}")  # fmt: skip
    for k, r in results.items():
        print(f"{k:11s} median {r['median_ms']:8.2f} ms  (min {r['min_ms']:.2f}, {r['runs']} runs)")
    print(f"int8_ort / fp32_ort  = {i8 / f32:.3f}  (goal <= 0.6)")
    print(f"int8_ort / torch_fp32 = {i8 / tf:.3f}  (goal <= 0.2)")


if __name__ == "__main__":
    main()
