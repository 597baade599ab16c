"""hat's quantization stages beside ONNX Runtime's own post-training quantization, per task.

    python benchmarks/bench_ort_ptq.py --config CFG [--config CFG2 ...] [--threads 1]
        [--rounds 3] [--seconds 2] [--max-samples 0] [--json out.json] [--keep DIR]

What a user comparing the two would do, on a config whose stages have run (float, calibration,
qat and export_hbir: the demo leaves all of them in the config's ``ckpt_dir``):

1. the float deploy network (``deploy_model`` when the config has one, else ``model``) with the
   float best checkpoint, exported with ``export_float_onnx``;
2. ORT's ``quantize_static`` on it (QDQ, uint8 activations, int8 per-channel weights, after
   ``quant_pre_process``) with each calibrator, MinMax, Entropy and Percentile, fed the very
   inputs hat's calibration stage sees (the first ``calibration_steps`` batches of
   ``calibration_trainer.data_loader`` through its batch processor, one sample at a time),
   served in strides of at most ``--calib-chunk`` samples (ORT's ``CalibStridedMinMax``: its
   calibrators otherwise hold every intermediate output of every sample, which StereoNet's
   cost volumes make larger than memory; see :func:`ort_quantize`).
   ``quantize_static`` passes no histogram sizes to its Entropy calibrator, whose defaults
   (128 bins, 128 quantized bins) make the optimal threshold the full range: through this
   public API Entropy gives MinMax's scales (measured: all 211 scale tensors of PwcNet equal);
3. the task metric (the Checkpoint callback's ``monitor_metric_key``) on the whole validation
   set at batch 1 for the float ONNX, the three ORT models and hat's exported integer model
   (``{ckpt_dir}/{task}.int.onnx``, which equals ``int_infer`` bit for bit), all on ORT with every
   graph optimisation; hat's calibration and QAT stages through their own predictors
   (fake-quantized PyTorch models, as ``tools/predict.py`` runs them);
4. the latency of the float ONNX, hat's int8 and ORT's int8 (MinMax; the three calibrators
   give the same graph), each in its own process, round-robin, ``--threads`` intra-op threads.

Prints one row per task: each metric with its ratio to float, and the three latencies.
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
from typing import Any

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CALIBRATORS = ("MinMax", "Entropy", "Percentile")


def _feeds_of(batch: dict, names: list[str]) -> list[dict[str, np.ndarray]]:
    """The ONNX inputs ``names`` of every sample of ``batch`` (batch dimension kept, size 1)."""
    arrays = {n: torch.as_tensor(batch[n]).detach().cpu().float().numpy() for n in names}
    size = len(next(iter(arrays.values())))
    return [{n: a[i : i + 1] for n, a in arrays.items()} for i in range(size)]


def calibration_feeds(config, names: list[str]) -> list[dict[str, np.ndarray]]:
    """The inputs hat's calibration stage sees: ``calibration_trainer``'s first
    ``num_steps`` batches through its batch processor, as single samples."""
    from hat.engine.predictor import Predictor
    from hat.registry import build_from_registry

    spec = config.trainer("calibration")
    loader = build_from_registry(spec["data_loader"], "calibration_trainer.data_loader")
    processor = build_from_registry(spec["batch_processor"], "calibration_trainer.batch_processor")
    feeds: list[dict[str, np.ndarray]] = []

    class Recorder(torch.nn.Module):
        def forward(self, batch: dict) -> None:
            feeds.extend(_feeds_of(batch, names))

    class FirstBatches:
        def __init__(self, n: int) -> None:
            self.n = n

        def __iter__(self):
            for i, batch in enumerate(loader):
                if i >= self.n:
                    return
                yield batch

        def __len__(self) -> int:
            return min(self.n, len(loader))

    Predictor(
        model=Recorder(), data_loader=FirstBatches(int(spec["num_steps"])),
        batch_processor=processor, device="cpu", metrics=[], callbacks=[],
    ).fit()  # fmt: skip
    return feeds


def export_float_deploy(config, out: str) -> Any:
    """The float deploy network with the float best checkpoint -> ``out``; its outputs on the
    deploy inputs (the structure ORT's outputs are given back in)."""
    from hat.quantization.export_onnx import export_float_onnx
    from hat.registry import build_from_registry
    from hat.utils.checkpoint import load_model_weights

    key, spec = config.deploy_model_spec()
    model = build_from_registry(spec, key)
    load_model_weights(model, config.checkpoint("float", "best"), allow_unexpected=True)
    model.eval()
    inputs = config.deploy_inputs()
    export_float_onnx(model, inputs, out)
    with torch.no_grad():
        return model(dict(inputs))


def calibration_chunk(samples: int, most: int) -> int:
    """The largest count ``<= most`` that divides ``samples`` (ORT requires its stride to)."""
    return max(k for k in range(1, max(1, min(most, samples)) + 1) if samples % k == 0)


def ort_quantize(
    float_path: str, feeds: list[dict[str, np.ndarray]], method: str, out: str, chunk: int = 8
) -> int:
    """``quantize_static`` as ORT documents it for CPU: QDQ, uint8 activations, int8
    per-channel weights, after ``quant_pre_process``. Returns the calibration chunk used.

    ORT's calibrators keep every intermediate output of the samples they are given until they
    fold them into ranges or histograms; the histogram calibrators (Entropy, Percentile) ignore
    ``CalibMaxIntermediateOutputs`` (measured on the StereoNet demo network at 320x576: 7.6 GiB
    for 20 samples, 14.8 GiB for 40, so its 160 calibration samples cannot fit 24 GiB). ORT's
    own answer is ``CalibStridedMinMax``: the reader serves the samples in strides and every
    stride is collected and folded before the next (min/max merge exactly; the histograms are
    merged as ORT merges them across calls). The stride is the largest divisor of the sample
    count up to ``chunk``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.set_range(0, len(feeds))

        def __len__(self) -> int:
            return len(feeds)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.it = iter(feeds[start_index:end_index])

        def get_next(self):
            return next(self.it, None)

    stride = calibration_chunk(len(feeds), chunk)
    pre = out + ".pre.onnx"
    if not os.path.exists(pre):
        quant_pre_process(float_path, pre)
    quantize_static(
        pre, out, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8, per_channel=True,
        calibrate_method=getattr(CalibrationMethod, method),
        extra_options={"CalibStridedMinMax": stride},
    )  # fmt: skip
    return stride


def evaluate_onnx(config, path: str, template: Any, max_samples: int) -> dict[str, float]:
    """Task metrics of ``path`` on ORT over the validation set at batch 1."""
    from hat.callbacks.metric_updater import MetricUpdater
    from hat.engine.predictor import Predictor
    from hat.quantization.ort_alignment import _Limited, _values
    from hat.quantization.ort_runner import OrtModule
    from hat.registry import build_from_registry

    spec = config.predictor("int_infer")
    loaders = spec["data_loader"]
    loader_cfg = dict(loaders[0] if isinstance(loaders, (list, tuple)) else loaders)
    loader_cfg.update(batch_size=1, shuffle=False)
    metrics = build_from_registry(list(spec["metrics"]), "int_infer_predictor.metrics")
    update_metric = config.update_metric()
    Predictor(
        model=OrtModule(path, template, "all", 1),
        data_loader=_Limited(build_from_registry(loader_cfg, "val loader"), max_samples),
        batch_processor=build_from_registry(spec["batch_processor"], "batch_processor"),
        device="cpu",
        metrics=metrics,
        callbacks=[
            MetricUpdater(
                lambda _m, batch, outs: update_metric(list(metrics), batch, outs),
                metrics=[], step_log_freq=0, epoch_log_freq=0,
            )
        ],
    ).fit()  # fmt: skip
    return _values(metrics)


def evaluate_stage(config_path: str, stage: str) -> dict[str, float]:
    """``tools/predict.py --stage {stage}``'s metrics (the fake-quantized stage model)."""
    from hat.registry import build_from_registry
    from hat.tools.predict import stage_predictor
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(config_path, stage)
    spec, _ = stage_predictor(config, stage, None)
    predictor = build_from_registry(spec, f"{stage}_predictor")
    predictor.fit()
    return dict(predictor.metric_results())


def time_models(config_path: str, paths: dict[str, str], args) -> dict[str, float]:
    """Median latency (ms) of each ONNX file, each run in its own process, round-robin."""
    times: dict[str, list[float]] = {k: [] for k in paths}
    worker = os.path.join(ROOT, "benchmarks", "bench_deploy_latency.py")
    for _ in range(args.rounds):
        for kind, path in paths.items():
            cmd = [sys.executable, worker, "--worker", "ort_int8", "--path", path,
                   "--config", config_path, "--threads", str(args.threads),
                   "--seconds", str(args.seconds)]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            times[kind] += json.loads(out.strip().splitlines()[-1])["times"]
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def compare(config_path: str, args, tmp: str) -> dict[str, Any]:
    """One task's row (see the module docstring)."""
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(config_path, "int_infer")
    key = config.get("ckpt_callback.monitor_metric_key")
    mode = config.get("ckpt_callback.mode", "max")
    hat_int = config.int_onnx_path()
    if not os.path.isfile(hat_int):
        raise SystemExit(f"{hat_int} is missing: run the config's stages and export_hbir first")
    tag = config.task_name
    float_path = os.path.join(tmp, f"{tag}.float.onnx")
    template = export_float_deploy(config, float_path)
    started = time.perf_counter()
    names = list(config.deploy_inputs())
    feeds = calibration_feeds(RunConfig.load(config_path, "calibration"), names)
    ort_paths = {}
    for method in CALIBRATORS:
        ort_paths[method] = os.path.join(tmp, f"{tag}.ort_{method.lower()}.onnx")
        stride = ort_quantize(float_path, feeds, method, ort_paths[method], args.calib_chunk)
    ptq_seconds = time.perf_counter() - started

    def pick(values: dict[str, float]) -> float:
        return float(values[key])

    row: dict[str, Any] = dict(task=tag, metric=key, mode=mode, calibration_samples=len(feeds))
    row["calibration_stride"] = stride  # ORT's CalibStridedMinMax
    row["float"] = pick(evaluate_onnx(config, float_path, template, args.max_samples))
    row["hat_calibration"] = pick(evaluate_stage(config_path, "calibration"))
    row["hat_qat"] = pick(evaluate_stage(config_path, "qat"))
    row["hat_int"] = pick(evaluate_onnx(config, hat_int, template, args.max_samples))
    for method, path in ort_paths.items():
        row[f"ort_{method.lower()}"] = pick(evaluate_onnx(config, path, template, args.max_samples))
    row["ratios_to_float"] = {
        k: row[k] / row["float"] for k in row if k.startswith(("hat_", "ort_"))
    }
    ort_best = (max if mode == "max" else min)(row[f"ort_{m.lower()}"] for m in CALIBRATORS)
    better = (lambda a, b: a >= b) if mode == "max" else (lambda a, b: a <= b)
    row["hat_calibration_beats_best_ort"] = better(row["hat_calibration"], ort_best)
    row["ort_ptq_seconds"] = round(ptq_seconds, 1)
    timed = {"hat_int8": hat_int, "ort_fp32": float_path, "ort_ptq_int8": ort_paths["MinMax"]}
    row["latency_ms"] = time_models(config_path, timed, args)
    row["optimized_ops"] = {k: optimized_op_classes(timed[k]) for k in ("hat_int8", "ort_ptq_int8")}
    return row


def optimized_op_classes(path: str) -> dict[str, dict[str, int]]:
    """Op counts of the graph ORT runs (level all) by class: integer kernels, Q/DQ, float
    compute and other (layout and element-wise ops, in float unless their inputs are integer).
    What the two int8 models leave in float differs: ORT's QDQ quantizes what its registry
    knows (convs, adds, ...) and leaves e.g. reductions and softmax in float."""
    from hat.quantization.ort_runner import classify_ops, optimized_op_counts

    return classify_ops(dict(optimized_op_counts(path, "all")))


def _print(rows: list[dict[str, Any]], args) -> None:
    cols = ["float", "hat_calibration", "hat_qat", "hat_int", "ort_minmax", "ort_entropy",
            "ort_percentile"]  # fmt: skip
    print(f"ORT level all, batch 1, {args.threads} thread(s); metric (ratio to float)")
    latency = "latency: hat int8 / ORT fp32 / ORT-PTQ int8"
    print("| task | metric | " + " | ".join(cols) + f" | {latency} |")
    print("|" + "---|" * (len(cols) + 3))
    for r in rows:
        cells = [f"{r['float']:.4f}"] + [
            f"{r[c]:.4f} ({r['ratios_to_float'][c]:.4f}x)" for c in cols[1:]
        ]
        lat = r["latency_ms"]
        print(
            f"| {r['task']} | {r['metric']} ({r['mode']}) | "
            + " | ".join(cells)
            + f" | {lat['hat_int8']:.2f} / {lat['ort_fp32']:.2f} / {lat['ort_ptq_int8']:.2f} ms |"
        )
    for r in rows:
        for kind, classes in r["optimized_ops"].items():
            counts = {c: sum(ops.values()) for c, ops in classes.items()}
            print(f"{r['task']} {kind} ops (ORT level all): {counts}; other: {classes['other']}")
    for r in rows:
        verdict = "yes" if r["hat_calibration_beats_best_ort"] else "NO"
        print(f"{r['task']}: hat calibration >= best ORT calibrator: {verdict}")
    print(f"1-min load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", action="append", required=True, help="repeat for several tasks")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--max-samples", type=int, default=0, help="0: the whole validation set")
    ap.add_argument(
        "--calib-chunk",
        type=int,
        default=8,
        help="most samples ORT's calibrators hold at once (CalibStridedMinMax)",
    )
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument("--keep", default=None, help="keep the ONNX files in this folder")
    args = ap.parse_args()
    torch.set_num_threads(max(1, args.threads))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.config:
            out = args.keep or tmp
            os.makedirs(out, exist_ok=True)
            rows.append(compare(path, args, out))
    _print(rows, args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
