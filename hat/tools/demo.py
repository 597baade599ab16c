"""The end-to-end demo: synthetic data -> pack -> calops -> train -> predict -> infer, then
calibration -> qat -> int_infer -> export_hbir -> validation_hbir -> model_checker ->
compile_perf_hbir -> infer_hbir -> report.

Every step is one of the project's own command-line tools, run as a subprocess exactly as a user
would type it; their output is streamed to the console and to ``{out}/logs/<step>.log``. The
summary (metrics per task and stage, dataset sizes, timings) is printed as a table and written
to ``{out}/demo-summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Step:
    """One command of the demo and what it produced."""

    name: str
    argv: list[str]
    seconds: float = 0.0
    returncode: int | None = None
    extra: dict = field(default_factory=dict)


def _run(step: Step, log_dir: Path) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{step.name}.log"
    print(f"\n=== [{step.name}] {' '.join(step.argv)}", flush=True)
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            step.argv,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        step.returncode = proc.wait()
    step.seconds = time.perf_counter() - start
    print(
        f"=== [{step.name}] finished in {step.seconds:.1f} s (exit {step.returncode})", flush=True
    )
    if step.returncode != 0:
        raise SystemExit(
            f"demo step '{step.name}' failed with exit code {step.returncode}; see {log_path}"
        )


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _format_table(rows: list[dict]) -> str:
    headers = ["task", "stage", "metric", "value", "dataset_size", "seconds"]
    lines = [headers] + [[str(r.get(h, "")) for h in headers] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    out = []
    for i, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths)))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _first_val_pair(data_dir: Path) -> int:
    """Number of the first validation pair listed in ``FlyingChairs_train_val.txt`` (or 1)."""
    split = data_dir / "FlyingChairs_train_val.txt"
    if not split.exists():
        return 1
    for i, line in enumerate(split.read_text().split()):
        if line.strip() == "2":
            return i + 1
    return 1


def run_pwcnet(args: argparse.Namespace, py: str, log_dir: Path) -> tuple[list[Step], list[dict]]:
    """The optical-flow task: PwcNet on synthetic FlyingChairs."""
    cfg = "configs/opticalflow_pred/pwcnet/pwcnet_pwcnetneck_flyingchairs_demo.py"
    data_dir = "tmp_data/FlyingChairs"
    ckpt_dir = Path("tmp_models/pwcnet_pwcnetneck_flyingchairs_demo")
    pack = [py, "tools/datasets/flyingchairs_packer.py", "--src-data-dir", data_dir,
            "--pack-type", "lmdb", "--num-workers", "2", "--overwrite", "--split-name"]
    steps = [
        Step(
            "make_synthetic",
            [py, "tools/datasets/make_synthetic.py", "flyingchairs", "--out", data_dir,
             "--num-pairs", str(args.num_pairs), "--seed", str(args.seed),
             "--height", str(args.height), "--width", str(args.width)],
        ),
        Step("pack_train", pack + ["train"]),
        Step("pack_val", pack + ["val"]),
        Step("calops", [py, "tools/calops.py", "--config", cfg]),
        Step("train_float", [py, "tools/train.py", "--stage", "float", "--config", cfg]),
        Step("predict_float", [py, "tools/predict.py", "--stage", "float", "--config", cfg]),
        Step("zero_flow_baseline", [py, "-m", "hat.tools.flow_baseline", "--config", cfg]),
    ]
    for step in steps:
        _run(step, log_dir)

    pair = args.infer_pair or _first_val_pair(REPO_ROOT / data_dir)
    stem = f"{data_dir}/FlyingChairs_release/data/{pair:05d}"
    infer = Step(
        "infer_float",
        [py, "tools/infer.py", "--config", cfg, "--model-inputs",
         f"img1:{stem}_img1.ppm,img2:{stem}_img2.ppm",
         "--save-path", str(REPO_ROOT / args.out / "pwcnet_infer")],
    )
    _run(infer, log_dir)
    steps.append(infer)

    # Quantization: calibration -> qat -> int_infer -> export -> align -> check -> perf -> infer.
    infer_inputs = f"img1:{stem}_img1.ppm,img2:{stem}_img2.ppm"
    quant_steps = [
        Step("train_calibration",
             [py, "tools/train.py", "--stage", "calibration", "--config", cfg]),
        Step("train_qat", [py, "tools/train.py", "--stage", "qat", "--config", cfg]),
        Step("predict_calibration",
             [py, "tools/predict.py", "--stage", "calibration", "--config", cfg]),
        Step("predict_qat", [py, "tools/predict.py", "--stage", "qat", "--config", cfg]),
        Step("predict_int_infer",
             [py, "tools/predict.py", "--stage", "int_infer", "--config", cfg]),
        Step("export_hbir", [py, "tools/export_hbir.py", "--config", cfg]),
        Step("validation_hbir",
             [py, "tools/validation_hbir.py", "--stage", "align_bpu", "--config", cfg]),
        Step("model_checker", [py, "tools/model_checker.py", "--config", cfg, "--quiet"]),
        Step("compile_perf_hbir", [py, "tools/compile_perf_hbir.py", "--config", cfg]),
        Step("infer_hbir",
             [py, "tools/infer_hbir.py", "--config", cfg, "--model-inputs", infer_inputs,
              "--save-path", str(REPO_ROOT / args.out / "pwcnet_infer_hbir")]),
    ]
    for step in quant_steps:
        _run(step, log_dir)
    steps.extend(quant_steps)

    timings = {s.name: s.seconds for s in steps}
    rows: list[dict] = []
    float_metrics = _read_json(REPO_ROOT / ckpt_dir / "float-metrics.json")
    baseline = _read_json(REPO_ROOT / ckpt_dir / "zero-flow-metrics.json")
    rows.append(
        dict(
            task="pwcnet_flyingchairs",
            stage="float",
            metric="EPE",
            value=round(float_metrics["EPE"], 4),
            dataset_size=float_metrics["dataset_size"],
            seconds=round(timings["train_float"], 1),
        )
    )
    rows.append(
        dict(
            task="pwcnet_flyingchairs",
            stage="zero_flow",
            metric="EPE",
            value=round(baseline["EPE"], 4),
            dataset_size=baseline["dataset_size"],
            seconds="",
        )
    )
    ratio = float_metrics["EPE"] / baseline["EPE"]
    rows.append(
        dict(
            task="pwcnet_flyingchairs",
            stage="float/zero_flow",
            metric="EPE ratio",
            value=round(ratio, 4),
            dataset_size="",
            seconds="",
        )
    )
    rows.extend(_quant_rows(ckpt_dir, timings))
    return steps, rows


def _quant_rows(ckpt_dir: Path, timings: dict) -> list[dict]:
    """EPE per quantization stage, ORT alignment and latency rows."""
    rows = []
    task = "pwcnet_flyingchairs"
    for stage, train_step in (("calibration", "train_calibration"), ("qat", "train_qat"),
                              ("int_infer", None)):
        m = _read_json(REPO_ROOT / ckpt_dir / f"{stage}-metrics.json")
        rows.append(dict(task=task, stage=stage, metric="EPE", value=round(m["EPE"], 4),
                         dataset_size=m["dataset_size"],
                         seconds=round(timings[train_step], 1) if train_step else ""))
    align = _read_json(REPO_ROOT / ckpt_dir / "align_bpu-metrics.json")
    rows.append(dict(task=task, stage="ort_int8 (align_bpu)", metric="EPE",
                     value=round(align["EPE"], 4), dataset_size=align["samples"],
                     seconds=round(timings["validation_hbir"], 1)))
    rows.append(dict(task=task, stage="ort vs int_infer", metric="identical fraction",
                     value=round(align["identical_fraction"], 6), dataset_size="", seconds=""))
    rows.append(dict(task=task, stage="ort vs int_infer", metric="max diff (LSB)",
                     value=round(align["max_diff_lsb"], 4), dataset_size="", seconds=""))
    perf_files = sorted((REPO_ROOT / ckpt_dir).glob("*.perf.json"))
    if perf_files:
        perf = _read_json(perf_files[0])
        lat = perf["latency"]
        rows.append(dict(task=task, stage="ort_int8",
                         metric=f"latency median ms ({lat['threads']} thread)",
                         value=lat["median_ms"], dataset_size="", seconds=""))
        est = perf["accelerator_estimate"]
        rows.append(dict(task=task, stage="accelerator (estimate)", metric="latency ms",
                         value=est["latency_ms"], dataset_size="", seconds=""))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", default="outputs/demo", help="folder for logs, pictures, summary")
    parser.add_argument("--num-pairs", type=int, default=640, help="synthetic FlyingChairs pairs")
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--infer-pair",
        type=int,
        default=None,
        help="pair number used for the inference picture (default: a val pair)",
    )
    args = parser.parse_args(argv)
    out = REPO_ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    os.environ.setdefault("PYTHONUNBUFFERED", "1")

    start = time.perf_counter()
    steps, rows = run_pwcnet(args, py, out / "logs")
    total = time.perf_counter() - start

    summary = {
        "total_seconds": round(total, 1),
        "steps": {s.name: round(s.seconds, 1) for s in steps},
        "results": rows,
    }
    with open(out / "demo-summary.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    print("\n" + _format_table(rows))
    print(f"\nTotal time: {total / 60:.1f} min. Summary written to {out / 'demo-summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
