"""Side-by-side figures of hat's nuScenes detection benchmark and nuscenes-devkit 1.2.0.

    OMP_NUM_THREADS=1 python3 benchmarks/compare_nuscenes_eval.py [--seed 0]

Writes the tiny ``v1.0-mini`` dataroot of the tests (``tests/metrics/nuscenes_dataroot.py``:
3 scenes, 4 key frames each, all detection classes but construction_vehicle, boxes beyond the
class ranges, boxes without points, bicycles in bike racks) in a temp dir; for each prediction
case (perfect, barrier headings turned by pi, jittered, tied scores, empty, and a dense timing
case of ~480 boxes per sample) writes the results
file, evaluates it with ``hat.tools.nuscenes_eval`` (no devkit) and with the devkit's
``DetectionEval``, and prints mAP, NDS, the mean TP errors and the per-class edge cases (barrier
AOE, cone/barrier AVE and AAE) to 6 decimals side by side, with the largest difference over
every AP and TP error of every class, and both run times.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "metrics"))

from nuscenes_dataroot import (  # noqa: E402
    build_dataroot,
    devkit_eval,
    make_predictions,
    results_json,
)

from hat.metrics.nuscenes.config import TP_METRICS  # noqa: E402
from hat.tools.nuscenes_eval import evaluate_results_file  # noqa: E402

CASES = ("perfect", "barrier_flip", "jittered", "tied_scores", "empty", "dense")
ROWS = (
    ("mAP", lambda s: s["mean_ap"]),
    ("NDS", lambda s: s["nd_score"]),
    *(
        (name, functools.partial(lambda m, s: s["tp_errors"][m], m))
        for name, m in zip(("mATE", "mASE", "mAOE", "mAVE", "mAAE"), TP_METRICS)
    ),
    ("barrier AOE", lambda s: s["label_tp_errors"]["barrier"]["orient_err"]),
    ("barrier AVE", lambda s: s["label_tp_errors"]["barrier"]["vel_err"]),
    ("barrier AAE", lambda s: s["label_tp_errors"]["barrier"]["attr_err"]),
    ("traffic_cone AOE", lambda s: s["label_tp_errors"]["traffic_cone"]["orient_err"]),
    ("construction_vehicle AP", lambda s: s["mean_dist_aps"]["construction_vehicle"]),
)


def max_difference(ours: dict, ref: dict) -> float:
    """Largest |ours - devkit| over every AP and TP error of every class (NaN pairs: 0)."""
    worst = 0.0
    for c, aps in ref["label_aps"].items():
        for th, v in aps.items():
            worst = max(worst, abs(ours["label_aps"][c][float(th)] - v))
        for m, v in ref["label_tp_errors"][c].items():
            a = ours["label_tp_errors"][c][m]
            if math.isnan(v) != math.isnan(a):
                return math.inf
            if not math.isnan(v):
                worst = max(worst, abs(a - v))
    return worst


def predictions(info, case: str, dense: int) -> list[dict]:
    """The test cases, plus ``dense``: ``jittered`` with ``dense`` more boxes per sample
    scattered within 4 m of the ground truth (a timing case, near the 500-box limit)."""
    if case != "dense":
        return make_predictions(info, case)
    rng = np.random.default_rng(0)
    outs = make_predictions(info, "jittered")
    for o in outs:
        base = o["bboxes"][rng.integers(0, len(o["bboxes"]), dense)].copy()
        base[:, :2] += rng.uniform(-4, 4, (dense, 2))
        o["bboxes"] = np.concatenate([o["bboxes"], base])
        o["scores"] = np.concatenate([o["scores"], rng.uniform(0, 1, dense)])
        o["labels"] = np.concatenate([o["labels"], rng.integers(0, 10, dense)])
    return outs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dense", type=int, default=450, help="extra boxes per sample ('dense')")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        info = build_dataroot(tmp / "data", seed=args.seed)
        print(f"{'case':<13} {'figure':<24} {'hat':>10} {'devkit':>10}")
        for case in CASES:
            path = tmp / f"{case}.json"
            path.write_text(json.dumps(results_json(info, predictions(info, case, args.dense))))
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                ours = evaluate_results_file(
                    path, info.root, "v1.0-mini", "mini_val", tmp / f"ours_{case}", verbose=False
                )
            t1 = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                ref, _ = devkit_eval(info.root, path, tmp / f"devkit_{case}")
            t2 = time.perf_counter()
            for name, get in ROWS:
                print(f"{case:<13} {name:<24} {get(ours):>10.6f} {get(ref):>10.6f}")
            print(
                f"{case:<13} {'max |diff| (all classes)':<24} {max_difference(ours, ref):>10.1e}"
                f"   matching + summaries: hat {ours['eval_time']:.3f} s, devkit "
                f"{ref['eval_time']:.3f} s; whole run: hat {t1 - t0:.3f} s, devkit {t2 - t1:.3f} s"
            )


if __name__ == "__main__":
    main()
