"""Evaluate a nuScenes detection results file (the submission format) on a dataroot, as
nuscenes-devkit's ``evaluate.py`` does, without the devkit::

    python3 tools/nuscenes_eval.py --result-path R.json --dataroot D --version v1.0-mini \\
        --eval-set mini_val --output-dir O [--config-path CFG.json]

Prints mAP, the mean TP errors, NDS and a per-class table; writes ``metrics_summary.json``
(the devkit's keys) and ``metrics_details.json`` (the curves) to the output directory.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hat.metrics.nuscenes.config import DetectionConfig
from hat.metrics.nuscenes.evaluate import filter_and_evaluate, format_results
from hat.metrics.nuscenes.submission import load_results
from hat.metrics.nuscenes.tables import load_gt
from hat.utils.cli import run_cli

__all__ = ["evaluate_results_file", "main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="nuscenes_eval",
        description="nuScenes detection benchmark (mAP, TP errors, NDS) of a results file.",
    )
    p.add_argument("--result-path", required=True, help="the results file (submission JSON)")
    p.add_argument("--dataroot", required=True, help="nuScenes dataroot (raw layout)")
    p.add_argument("--version", default="v1.0-trainval", help="e.g. v1.0-trainval, v1.0-mini")
    p.add_argument("--eval-set", default="val", help="train, val, test, mini_train or mini_val")
    p.add_argument("--output-dir", required=True, help="where the metrics JSON files go")
    p.add_argument(
        "--config-path",
        default="",
        help="a devkit-style detection config JSON (default: detection_cvpr_2019)",
    )
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    return p.parse_args(argv)


def evaluate_results_file(
    result_path: str | Path,
    dataroot: str | Path,
    version: str,
    eval_set: str,
    output_dir: str | Path,
    config_path: str | Path | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the benchmark and write the metrics files; returns the ``metrics_summary`` dict."""
    cfg = DetectionConfig.from_json(config_path) if config_path else DetectionConfig.cvpr_2019()
    gt = load_gt(dataroot, version, eval_set)
    pred, meta = load_results(result_path, cfg.max_boxes_per_sample, gt.boxes.sample_tokens)
    results, counts = filter_and_evaluate(gt.boxes, pred, gt.ego_translation, gt.bike_racks, cfg)
    if verbose:
        print(f"Evaluating {len(gt.boxes.sample_tokens)} samples of {eval_set} ({version})")
        for what, c in counts.items():
            print(
                f"{what}: {c.total} boxes, {c.after_distance} within class range, "
                f"{c.after_points} with points, {c.after_bike_racks} outside bike racks"
            )
    summary = results.serialize()
    summary["meta"] = dict(meta)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics_summary.json").write_text(json.dumps(summary, indent=2))
    (out / "metrics_details.json").write_text(json.dumps(results.serialize_details(), indent=2))
    print(format_results(results))
    return summary


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run_cli(
        lambda: (
            evaluate_results_file(
                args.result_path,
                args.dataroot,
                args.version,
                args.eval_set,
                args.output_dir,
                args.config_path or None,
                verbose=not args.quiet,
            ),
            0,
        )[1],
        "nuscenes_eval",
    )


if __name__ == "__main__":
    main()
