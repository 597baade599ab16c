"""Reference EPE of a trivial stereo predictor on a config's test split: the mean disparity of
the training set (over its valid pixels, ``0 < gt < max_disp``) predicted everywhere.

A trained StereoNet is only worth something relative to it; the demo prints it beside the model.
Writes ``{ckpt_dir}/mean-disparity-metrics.json``.

    python -m hat.tools.disparity_baseline --config CFG [--max-disp 192]
"""

from __future__ import annotations

import argparse
import os

import torch

from hat.metrics.epe import EndPointError
from hat.registry import build_from_registry
from hat.tools.deploy_common import write_json
from hat.utils.cli import ToolError, add_config_args, run_cli
from hat.utils.run_config import RunConfig


def _disparities(loader_cfg: dict, path: str):
    for batch in build_from_registry(loader_cfg, path):
        if "gt_disp" not in batch:
            raise ToolError(f"{path}: batches have no 'gt_disp' (is this a stereo config?)")
        yield batch["gt_disp"].float()


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_args(parser)
    parser.add_argument("--max-disp", type=float, default=192.0)
    args = parser.parse_args(argv)
    config = RunConfig.load(args.config, opts=args.opts)
    val = config.require("val_data_loader", "the test data loader", dict)
    config.require("val_data_loader.dataset", "the test dataset", dict)
    train_path = config.require("data_loader.dataset.data_path", "the training set's path")
    ckpt_dir = config.ckpt_dir
    train = val | {"dataset": {**val["dataset"], "data_path": train_path}, "shuffle": False}
    total, count = 0.0, 0
    for gt in _disparities(train, "data_loader"):
        valid = (gt > 0) & (gt < args.max_disp)
        total += float(gt[valid].double().sum())
        count += int(valid.sum())
    if count == 0:
        raise ToolError(f"no valid disparity (0 < gt < {args.max_disp}) in {train_path}")
    mean = total / count
    metric = EndPointError(name="EPE", use_mask=True, max_disp=args.max_disp)
    size = 0
    for gt in _disparities(val, "val_data_loader"):
        metric.update(gt, torch.full_like(gt, mean))
        size += gt.shape[0]
    result = {"EPE": metric.get()[1], "train_mean_disparity": mean, "dataset_size": size}
    out = os.path.join(ckpt_dir, "mean-disparity-metrics.json")
    os.makedirs(ckpt_dir, exist_ok=True)
    write_json(out, result)
    print(f"train-mean-disparity ({mean:.3f} px) EPE: {result['EPE']:.4f} ({size} pairs) -> {out}")
    return 0


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: _main(argv), "disparity_baseline")


if __name__ == "__main__":
    main()
