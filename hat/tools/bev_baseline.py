"""Reference metrics of a trivial BEV multitask predictor on a config's validation split: no
detections (nuScenes mAP and NDS) and the map class 0 ("others") everywhere (map mIoU).

They are computed with the config's own evaluation metrics (``float_predictor.metrics``:
``NuscenesMetric`` and ``MeanIOU``) on the ground truth of ``val_data_loader``, so a trained
model's figures can be read against them; the demo prints them beside the model. Writes
``{ckpt_dir}/no-detection-metrics.json``.

    python -m hat.tools.bev_baseline --config CFG
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from hat.metrics.mean_iou import MeanIOU
from hat.metrics.nuscenes.metric import NuscenesMetric
from hat.registry import build_from_registry
from hat.tools.deploy_common import write_json
from hat.utils.cli import ToolError, add_config_args, run_cli
from hat.utils.run_config import RunConfig

OUTPUT_FILE = "no-detection-metrics.json"


def no_detections(batch_size: int) -> list[dict[str, torch.Tensor]]:
    """The decoder's output format (one dict per sample) with no box at all."""
    return [
        dict(
            bboxes=torch.zeros((0, 9)),
            scores=torch.zeros(0),
            labels=torch.zeros(0, dtype=torch.long),
        )
        for _ in range(batch_size)
    ]


def update_baseline(metrics: Iterable[Any], batch: Mapping[str, Any]) -> int:
    """Feed one batch's trivial predictions to each metric; returns the batch size."""
    if "sample_token" not in batch:
        raise ToolError(f"val batches have no 'sample_token' (keys: {sorted(batch)})")
    size = len(batch["sample_token"])
    for metric in metrics:
        if isinstance(metric, NuscenesMetric):
            metric.update(batch, no_detections(size))
        elif isinstance(metric, MeanIOU):
            if "gt_seg_mask" not in batch:
                raise ToolError(f"val batches have no 'gt_seg_mask' (keys: {sorted(batch)})")
            gt = batch["gt_seg_mask"]
            metric.update(gt, torch.zeros(gt.shape, dtype=torch.long))
        else:
            raise ToolError(
                f"float_predictor.metrics: {type(metric).__name__} has no BEV baseline "
                "(expected NuscenesMetric and MeanIOU)"
            )
    return size


def _json_value(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def baseline_metrics(config: RunConfig) -> dict[str, Any]:
    """The trivial predictor's metrics over ``val_data_loader`` with ``float_predictor``'s
    metrics: ``{name: value, ..., "map_iou": {class: IoU}, "dataset_size": N}``."""
    val = config.require("val_data_loader", "the validation data loader", dict)
    specs = config.require("float_predictor.metrics", "the evaluation metrics", (list, tuple))
    metrics = build_from_registry(list(specs), "float_predictor.metrics")
    if not any(isinstance(m, NuscenesMetric) for m in metrics):
        raise ToolError("float_predictor.metrics has no NuscenesMetric (is this a BEV config?)")
    for m in metrics:
        m.log_per_class = False
    size = 0
    for batch in build_from_registry(val, "val_data_loader"):
        size += update_baseline(metrics, batch)
    if size == 0:
        raise ToolError(f"{config.get('val_data_loader.dataset.data_path')}: no sample")
    result: dict[str, Any] = {}
    for m in metrics:
        result.update({k: _json_value(v) for k, v in m.get_dict().items()})
        if isinstance(m, MeanIOU):
            result["map_iou"] = {k: _json_value(v) for k, v in m.per_class_iou().items()}
    result["dataset_size"] = size
    return result


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_args(parser)
    args = parser.parse_args(argv)
    config = RunConfig.load(args.config, opts=args.opts)
    ckpt_dir = config.ckpt_dir
    result = baseline_metrics(config)
    out = os.path.join(ckpt_dir, OUTPUT_FILE)
    os.makedirs(ckpt_dir, exist_ok=True)
    write_json(out, result)
    values = ", ".join(
        f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float) and k != "dataset_size"
    )
    print(f"no detections, all-'others' map: {values} ({result['dataset_size']} samples) -> {out}")
    return 0


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: _main(argv), "bev_baseline")


if __name__ == "__main__":
    main()
