"""Reference EPEs of trivial predictors on a config's validation split.

``zero``: predicting no motion; ``train_mean``: predicting the mean training flow everywhere.
A trained model is only worth something relative to these; the demo prints them beside it.
Writes ``{ckpt_dir}/zero-flow-metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from hat.metrics.epe import EndPointError
from hat.registry import build_from_registry
from hat.utils.cli import add_config_args, run_cli
from hat.utils.run_config import RunConfig


def _iterate_flows(loader_cfg: dict, path: str):
    loader = build_from_registry(loader_cfg, path)
    for batch in loader:
        yield batch["gt_flow"]


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_args(parser)
    args = parser.parse_args(argv)
    config = RunConfig.load(args.config, opts=args.opts)
    val = config.require("val_data_loader", "the validation data loader", dict)
    val_set = config.require("val_data_loader.dataset", "the validation dataset", dict)
    train_path = config.require("data_loader.dataset.data_path", "the training set's path")
    ckpt_dir = config.ckpt_dir

    train_sum = torch.zeros(2, dtype=torch.float64)
    train_count = 0
    for flow in _iterate_flows(
        val | {"dataset": {**val_set, "data_path": train_path}}, "data_loader"
    ):
        train_sum += flow.double().sum(dim=(0, 2, 3))
        train_count += flow.shape[0] * flow.shape[2] * flow.shape[3]
    mean_flow = (train_sum / max(train_count, 1)).float()

    zero, mean = EndPointError(name="EPE"), EndPointError(name="EPE")
    size = 0
    for flow in _iterate_flows(val, "val_data_loader"):
        zero.update(flow, torch.zeros_like(flow))
        mean.update(flow, mean_flow.view(1, 2, 1, 1).expand_as(flow))
        size += flow.shape[0]
    result = {
        "EPE": zero.get()[1],
        "train_mean_EPE": mean.get()[1],
        "train_mean_flow": mean_flow.tolist(),
        "dataset_size": size,
    }
    os.makedirs(ckpt_dir, exist_ok=True)
    out = os.path.join(ckpt_dir, "zero-flow-metrics.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(
        f"zero-flow EPE: {result['EPE']:.4f}  train-mean-flow EPE: {result['train_mean_EPE']:.4f}"
        f"  ({size} pairs) -> {out}"
    )
    return 0


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: _main(argv), "flow_baseline")


if __name__ == "__main__":
    main()
