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
from collections.abc import Callable
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


@dataclass
class DemoTask:
    """One reference task of the demo: how to make its data, its config and what it reports."""

    key: str
    name: str
    config: str
    metric: str
    data_steps: Callable[[argparse.Namespace, str], list[Step]]
    infer_inputs: Callable[[argparse.Namespace], str]
    baseline: Callable[[str], tuple[Step, str, str]] | None = None  # (step, json, label)


def _first_val_pair(data_dir: Path) -> int:
    """Number of the first validation pair listed in ``FlyingChairs_train_val.txt`` (or 1)."""
    split = data_dir / "FlyingChairs_train_val.txt"
    if not split.exists():
        return 1
    for i, line in enumerate(split.read_text().split()):
        if line.strip() == "2":
            return i + 1
    return 1


def _flow_data(args: argparse.Namespace, py: str) -> list[Step]:
    data_dir = "tmp_data/FlyingChairs"
    pack = [
        py,
        "tools/datasets/flyingchairs_packer.py",
        "--src-data-dir",
        data_dir,
        "--pack-type",
        "lmdb",
        "--num-workers",
        "2",
        "--overwrite",
        "--split-name",
    ]
    return [
        Step("make_synthetic", [py, "tools/datasets/make_synthetic.py", "flyingchairs", "--out",
                                data_dir, "--num-pairs", str(args.num_pairs), "--seed",
                                str(args.seed), "--height", str(args.height), "--width",
                                str(args.width)]),
        Step("pack_train", pack + ["train"]),
        Step("pack_val", pack + ["val"]),
    ]  # fmt: skip


def _flow_infer(args: argparse.Namespace) -> str:
    data_dir = "tmp_data/FlyingChairs"
    pair = args.infer_pair or _first_val_pair(REPO_ROOT / data_dir)
    stem = f"{data_dir}/FlyingChairs_release/data/{pair:05d}"
    return f"img1:{stem}_img1.ppm,img2:{stem}_img2.ppm,gt:{stem}_flow.flo"


def _flow_baseline(cfg: str) -> tuple[Step, str, str]:
    step = Step("baseline", [sys.executable, "-m", "hat.tools.flow_baseline", "--config", cfg])
    return step, "zero-flow-metrics.json", "zero_flow"


def _seg_data(args: argparse.Namespace, py: str) -> list[Step]:
    data_dir = "tmp_data/cityscapes"
    pack = [
        py,
        "tools/datasets/cityscapes_packer.py",
        "--src-data-dir",
        data_dir,
        "--pack-type",
        "lmdb",
        "--num-workers",
        "2",
        "--overwrite",
        "--split-name",
    ]
    return [
        Step("make_synthetic", [py, "tools/datasets/make_synthetic.py", "cityscapes", "--out",
                                data_dir, "--num-train", str(args.seg_num_train), "--num-val",
                                str(args.seg_num_val), "--num-test", "0", "--seed",
                                str(args.seed), "--num-workers", "2", "--overwrite"]),
        Step("pack_train", pack + ["train"]),
        Step("pack_val", pack + ["val"]),
    ]  # fmt: skip


def _seg_infer(args: argparse.Namespace) -> str:
    imgs = sorted((REPO_ROOT / "tmp_data/cityscapes/leftImg8bit/val").glob("*/*_leftImg8bit.png"))
    if not imgs:
        raise SystemExit("demo: no synthetic Cityscapes val image found for the picture")
    img = imgs[0]
    gt = (
        str(img)
        .replace("leftImg8bit/val", "gtFine/val")
        .replace("_leftImg8bit.png", "_gtFine_labelIds.png")
    )
    return f"img:{img},gt:{gt}"


def _stereo_data(args: argparse.Namespace, py: str) -> list[Step]:
    data_dir = "tmp_data/SceneFlow"
    pack = [
        py,
        "tools/datasets/sceneflow_packer.py",
        "--src-data-dir",
        data_dir,
        "--pack-type",
        "lmdb",
        "--num-workers",
        "2",
        "--overwrite",
        "--split-name",
    ]
    return [
        Step("make_synthetic", [py, "tools/datasets/make_synthetic.py", "sceneflow", "--out",
                                data_dir, "--num-train", str(args.stereo_num_train),
                                "--num-test", str(args.stereo_num_test), "--seed",
                                str(args.seed), "--num-workers", "2", "--overwrite"]),
        Step("pack_train", pack + ["train"]),
        Step("pack_test", pack + ["test"]),
    ]  # fmt: skip


def _stereo_infer(args: argparse.Namespace) -> str:
    data_dir = REPO_ROOT / "tmp_data/SceneFlow"
    lines = (data_dir / "SceneFlow_finalpass_test.txt").read_text().split("\n")
    left, right, disp = lines[0].split()[:3]
    return (
        f"imgl:{data_dir / left},imgr:{data_dir / right},gt:{data_dir / disp},baseline:0.54,f:1050"
    )


def _stereo_baseline(cfg: str) -> tuple[Step, str, str]:
    step = Step("baseline", [sys.executable, "-m", "hat.tools.disparity_baseline", "--config", cfg])
    return step, "mean-disparity-metrics.json", "train_mean_disparity"


TASKS = {
    "pwcnet": DemoTask(
        "pwcnet",
        "pwcnet_flyingchairs",
        "configs/opticalflow_pred/pwcnet/pwcnet_pwcnetneck_flyingchairs_demo.py",
        "EPE",
        _flow_data,
        _flow_infer,
        _flow_baseline,
    ),
    "unet": DemoTask(
        "unet",
        "unet_mobilenetv1_cityscapes",
        "configs/segmentation/unet_mobilenetv1_cityscapes_demo.py",
        "mIoU",
        _seg_data,
        _seg_infer,
    ),
    "stereonet": DemoTask(
        "stereonet",
        "stereonet_sceneflow",
        "configs/disparity_pred/stereonet/stereonet_stereonetneck_sceneflow_demo.py",
        "EPE",
        _stereo_data,
        _stereo_infer,
        _stereo_baseline,
    ),
}


SMOKE_DATA = dict(num_pairs=96, seg_num_train=48, seg_num_val=12, stereo_num_train=48,
                  stereo_num_test=12)  # fmt: skip


def _smoke_opts(args: argparse.Namespace, stage: str) -> list[str]:
    """``--smoke``: one epoch per training stage (a check that every step runs, not a result)."""
    return ["--opts", f"{stage}_trainer.num_epochs", "1"] if args.smoke else []


def _ckpt_dir(cfg: str) -> Path:
    from hat.utils.config import load_config

    return REPO_ROOT / load_config(str(REPO_ROOT / cfg), [])["ckpt_dir"]


def run_task(
    task: DemoTask, args: argparse.Namespace, py: str, log_dir: Path
) -> tuple[list[Step], list[dict]]:
    """Every stage of one task, each as the user's command line."""
    cfg = task.config
    log_dir = log_dir / task.key
    steps = task.data_steps(args, py) + [
        Step("calops", [py, "tools/calops.py", "--config", cfg]),
        Step(
            "train_float",
            [py, "tools/train.py", "--stage", "float", "--config", cfg]
            + _smoke_opts(args, "float"),
        ),
        Step("predict_float", [py, "tools/predict.py", "--stage", "float", "--config", cfg]),
    ]
    baseline = task.baseline(cfg) if task.baseline else None
    if baseline:
        steps.append(baseline[0])
    for step in steps:
        _run(step, log_dir)
    inputs = task.infer_inputs(args)
    out = REPO_ROOT / args.out / task.key
    quant_steps = [
        Step("infer_float", [py, "tools/infer.py", "--config", cfg, "--model-inputs", inputs,
                             "--save-path", str(out / "infer_float")]),
        Step("train_calibration",
             [py, "tools/train.py", "--stage", "calibration", "--config", cfg]),
        Step("train_qat", [py, "tools/train.py", "--stage", "qat", "--config", cfg]
             + _smoke_opts(args, "qat")),
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
        Step("infer_hbir", [py, "tools/infer_hbir.py", "--config", cfg, "--model-inputs", inputs,
                            "--save-path", str(out / "infer_hbir")]),
    ]  # fmt: skip
    for step in quant_steps:
        _run(step, log_dir)
    steps.extend(quant_steps)
    for step in steps:
        step.name = f"{task.key}/{step.name}"
    timings = {s.name.split("/", 1)[1]: s.seconds for s in steps}
    return steps, _task_rows(task, _ckpt_dir(cfg), timings, baseline)


def _row(task: DemoTask, stage: str, metric: str, value, size="", seconds="") -> dict:
    if isinstance(value, float):
        value = round(value, 6 if "fraction" in metric else 4)
    return dict(task=task.name, stage=stage, metric=metric, value=value,
                dataset_size=size, seconds=seconds)  # fmt: skip


def _task_rows(task: DemoTask, ckpt_dir: Path, timings: dict, baseline) -> list[dict]:
    """Metric per stage (and its ratio to float), ORT alignment and latency rows."""
    k = task.metric
    fl = _read_json(ckpt_dir / "float-metrics.json")
    rows = [_row(task, "float", k, fl[k], fl.get("dataset_size", ""),
                 round(timings["train_float"], 1))]  # fmt: skip
    if baseline:
        b = _read_json(ckpt_dir / baseline[1])
        rows.append(_row(task, baseline[2], k, b[k], b.get("dataset_size", "")))
        rows.append(_row(task, f"float/{baseline[2]}", f"{k} ratio", fl[k] / b[k]))
    for stage, train_step in (("calibration", "train_calibration"), ("qat", "train_qat"),
                              ("int_infer", None)):  # fmt: skip
        m = _read_json(ckpt_dir / f"{stage}-metrics.json")
        secs = round(timings[train_step], 1) if train_step else ""
        rows.append(_row(task, stage, k, m[k], m.get("dataset_size", ""), secs))
        rows.append(_row(task, f"{stage}/float", f"{k} ratio", m[k] / fl[k]))
    align = _read_json(ckpt_dir / "align_bpu-metrics.json")
    rows.append(_row(task, "ort_int8 (align_bpu)", k, align[k], align["samples"],
                     round(timings["validation_hbir"], 1)))  # fmt: skip
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
        perf = _read_json(perf_files[0])
        lat = perf["latency"]
        rows.append(_row(task, "ort_int8", f"latency median ms ({lat['threads']} thread)",
                         lat["median_ms"]))  # fmt: skip
        est = perf["accelerator_estimate"]
        rows.append(_row(task, "accelerator (estimate)", "latency ms", est["latency_ms"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", default="outputs/demo", help="folder for logs, pictures, summary")
    parser.add_argument(
        "--tasks",
        default=",".join(TASKS),
        help=f"comma-separated tasks to run, from {', '.join(TASKS)} (default: all)",
    )
    parser.add_argument("--num-pairs", type=int, default=640, help="synthetic FlyingChairs pairs")
    parser.add_argument("--height", type=int, default=192, help="FlyingChairs image height")
    parser.add_argument("--width", type=int, default=256, help="FlyingChairs image width")
    parser.add_argument("--seg-num-train", type=int, default=1000, help="synthetic Cityscapes")
    parser.add_argument("--seg-num-val", type=int, default=200)
    parser.add_argument("--stereo-num-train", type=int, default=600, help="synthetic SceneFlow")
    parser.add_argument("--stereo-num-test", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--infer-pair",
        type=int,
        default=None,
        help="FlyingChairs pair number used for the inference picture (default: a val pair)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny synthetic sets and one epoch per training stage: checks that every step "
        "of every task runs (minutes), the figures mean nothing",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        for k, v in SMOKE_DATA.items():
            setattr(args, k, min(getattr(args, k), v))
    keys = [k.strip() for k in args.tasks.split(",") if k.strip()]
    unknown = [k for k in keys if k not in TASKS]
    if unknown or not keys:
        parser.error(f"--tasks: unknown {unknown}; choose from {', '.join(TASKS)}")
    out = REPO_ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    os.environ.setdefault("PYTHONUNBUFFERED", "1")

    start = time.perf_counter()
    steps: list[Step] = []
    rows: list[dict] = []
    for key in keys:
        task_steps, task_rows = run_task(TASKS[key], args, py, out / "logs")
        steps += task_steps
        rows += task_rows
    total = time.perf_counter() - start

    summary = {
        "tasks": keys,
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
