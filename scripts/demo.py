"""The end-to-end demo: synthetic data -> pack -> calops -> train -> predict -> infer, then
calibration -> qat -> int_infer -> export_hbir -> validation_hbir -> model_checker ->
compile_perf_hbir -> infer_hbir -> report, for each reference task in turn.

Every step is one of the project's own command-line tools, run as a subprocess exactly as a user
would type it; their output is streamed to the console and to ``{out}/logs/<task>/<step>.log``.
The expected time of each task is printed first. After each task the summary so far (metrics
per task and stage, dataset sizes, timings) is printed as a table and written to
``{out}/demo-summary.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from demo_summary import format_table, task_rows, write_summary
from demo_tasks import (
    DEFAULT_TASKS,
    REPO_ROOT,
    SMOKE_DATA,
    TASKS,
    DemoTask,
    Step,
    quant_steps,
    task_steps,
)


def run_step(step: Step, log_dir: Path) -> None:
    """Run one command, streaming its output to the console and to ``log_dir/<step>.log``."""
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


def _ckpt_dir(cfg: str) -> Path:
    from hat.utils.run_config import RunConfig

    return REPO_ROOT / RunConfig.load(str(REPO_ROOT / cfg)).ckpt_dir


def run_task(
    task: DemoTask, args: argparse.Namespace, py: str, log_dir: Path
) -> tuple[list[Step], list[dict]]:
    """Every stage of one task, each as the user's command line; returns its steps and rows."""
    log_dir = log_dir / task.key
    steps = task_steps(task, args, py)
    for step in steps:
        run_step(step, log_dir)
    later = quant_steps(task, args, py, task.infer_inputs(args))
    for step in later:
        run_step(step, log_dir)
    steps.extend(later)
    for step in steps:
        step.name = f"{task.key}/{step.name}"
    timings = {s.name.split("/", 1)[1]: s.seconds for s in steps}
    baseline = task.baseline(task.config) if task.baseline else None
    return steps, task_rows(task, _ckpt_dir(task.config), timings, baseline)


def expected_time(tasks: list[DemoTask], smoke: bool) -> str:
    """One line: the expected minutes of each task and in all, on 2 CPU cores."""
    minutes = [(t.key, t.smoke_minutes if smoke else t.minutes) for t in tasks]
    each = ", ".join(f"{key} ~{m:g} min" for key, m in minutes)
    total = sum(m for _, m in minutes)
    mode = " with --smoke" if smoke else ""
    return f"Expected time on 2 CPU cores{mode}: {each}; about {total:g} min in all."


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The demo's options; ``--smoke`` also shrinks the synthetic sets to ``SMOKE_DATA``."""
    parser = argparse.ArgumentParser(
        prog="demo.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", default="outputs/demo", help="folder for logs, pictures, summary")
    parser.add_argument(
        "--tasks",
        default=",".join(DEFAULT_TASKS),
        help=f"comma-separated tasks to run, from {', '.join(TASKS)} "
        f"(default: {','.join(DEFAULT_TASKS)})",
    )
    parser.add_argument("--num-pairs", type=int, default=640, help="synthetic FlyingChairs pairs")
    parser.add_argument("--height", type=int, default=192, help="FlyingChairs image height")
    parser.add_argument("--width", type=int, default=256, help="FlyingChairs image width")
    parser.add_argument("--seg-num-train", type=int, default=1000, help="synthetic Cityscapes")
    parser.add_argument("--seg-num-val", type=int, default=200)
    parser.add_argument("--stereo-num-train", type=int, default=600, help="synthetic SceneFlow")
    parser.add_argument("--stereo-num-test", type=int, default=100)
    parser.add_argument("--bev-train-scenes", type=int, default=8, help="synthetic nuScenes")
    parser.add_argument("--bev-val-scenes", type=int, default=2)
    parser.add_argument("--bev-frames-per-scene", type=int, default=40)
    parser.add_argument("--bev-image-size", default="480x270", help="nuScenes cameras, WxH")
    parser.add_argument("--motr-seqs", type=int, default=3, help="synthetic MOT17 videos")
    parser.add_argument("--motr-frames", type=int, default=200, help="frames per video (halved)")
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
    args.task_keys = [k.strip() for k in args.tasks.split(",") if k.strip()]
    unknown = [k for k in args.task_keys if k not in TASKS]
    if unknown or not args.task_keys:
        parser.error(f"--tasks: unknown {unknown}; choose from {', '.join(TASKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = args.task_keys
    out = REPO_ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "demo-summary.json"
    py = sys.executable
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(expected_time([TASKS[k] for k in keys], args.smoke), flush=True)

    start = time.perf_counter()
    steps: list[Step] = []
    rows: list[dict] = []
    for i, key in enumerate(keys):
        steps_i, rows_i = run_task(TASKS[key], args, py, out / "logs")
        steps += steps_i
        rows += rows_i
        done, pending = keys[: i + 1], keys[i + 1 :]
        write_summary(summary_path, done, pending, steps, rows, time.perf_counter() - start)
        print(f"\nSummary after {', '.join(done)} ({len(done)} of {len(keys)} tasks):")
        print(format_table(rows), flush=True)
    total = time.perf_counter() - start
    print(f"\nTotal time: {total / 60:.1f} min. Summary written to {summary_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
