"""Can the model learn at all? Fit a few fixed batches, then score the same batches.

When a float stage does not learn, the first question is whether the chain from data to
targets, losses, outputs, post-processing and metric is consistent: a model that cannot even
memorise a handful of samples has a bug in that chain (misaligned targets, a wrong frame, a
loss on the wrong tensor, a decoder that disagrees with the target encoding); one that can
memorise them but does not generalise needs more data, time or a better schedule.

    python -m hat.tools.overfit_check --config CFG [--batches 1] [--steps 200] [--lr 1e-3]

The float model (``float_trainer.model``, fresh weights: no checkpoint, no conversion
pipeline) is trained with the float trainer's batch processor (its loss) and plain AdamW at a
constant ``--lr`` for ``--steps`` steps on the first ``--batches`` batches of the float
predictor's validation loader (fixed batches, evaluation transforms: nothing changes between
steps), then scored with the float predictor's metrics on those very batches; the same score
of the untrained model is reported beside it, and the loss of the first step and the mean of
the last tenth of the steps (augmentations inside the model, e.g. BEV rotation, still draw anew
every step). Writes ``{ckpt_dir}/overfit-check.json``.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from hat.callbacks.metric_updater import MetricUpdater
from hat.engine.predictor import Predictor
from hat.registry import build_from_registry
from hat.tools.deploy_common import write_json
from hat.utils.cli import ToolError, add_config_args, run_cli
from hat.utils.run_config import RunConfig

OUTPUT_FILE = "overfit-check.json"


def _fresh(batch: Any) -> Any:
    """A copy of the batch's containers (models and batch transforms may add, replace or pop
    entries): every use of a fixed batch sees it as the loader gave it."""
    if isinstance(batch, dict):
        return {k: _fresh(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return (
            type(batch)(_fresh(v) for v in batch)
            if type(batch) in (list, tuple)
            else copy.copy(batch)
        )
    return batch


def first_batches(config: RunConfig, count: int) -> list[Any]:
    """The first ``count`` batches of ``float_predictor.data_loader`` (its first loader)."""
    spec = config.predictor("float")["data_loader"]
    spec = spec[0] if isinstance(spec, (list, tuple)) else spec
    batches: list[Any] = []
    for batch in build_from_registry(spec, "float_predictor.data_loader"):
        batches.append(batch)
        if len(batches) == count:
            return batches
    raise ToolError(f"float_predictor.data_loader gave {len(batches)} batches, {count} asked for")


class _FixedBatches:
    """``batches`` as one loader (a plain list would be read as a list of loaders)."""

    def __init__(self, batches: Sequence[Any]) -> None:
        self.batches = batches

    def __iter__(self):
        return (_fresh(b) for b in self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def fit_batches(
    model: nn.Module,
    batches: Sequence[Any],
    batch_processor: Callable[..., Any],
    steps: int,
    lr: float,
    log: Callable[[int, float], None] | None = None,
) -> list[float]:
    """``steps`` AdamW steps at constant ``lr`` cycling over ``batches``; the loss of each."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    model.train()
    for step in range(steps):
        batch_processor(
            step, _fresh(batches[step % len(batches)]), model, None, optimizer=optimizer
        )
        loss = float(batch_processor.last_loss)
        if not math.isfinite(loss):
            raise ToolError(f"step {step}: the loss is {loss}")
        losses.append(loss)
        if log is not None:
            log(step, loss)
    return losses


def score(config: RunConfig, model: nn.Module, batches: Sequence[Any]) -> dict[str, float]:
    """``float_predictor``'s metrics of ``model`` on ``batches`` (its batch processor and
    ``update_metric``)."""
    spec = config.predictor("float")
    metrics = build_from_registry(list(spec["metrics"]), "float_predictor.metrics")
    update_metric = config.update_metric()
    Predictor(
        model=model,
        data_loader=_FixedBatches(batches),
        batch_processor=build_from_registry(
            spec["batch_processor"], "float_predictor.batch_processor"
        ),
        device=None,
        metrics=metrics,
        callbacks=[
            MetricUpdater(
                lambda _m, batch, outs: update_metric(list(metrics), batch, outs),
                metrics=[], step_log_freq=0, epoch_log_freq=0,
            )
        ],
    ).fit()  # fmt: skip
    values: dict[str, float] = {}
    for m in metrics:
        values.update({k: float(v) for k, v in m.get_dict().items()})
    return values


def overfit_check(config: RunConfig, batches: int, steps: int, lr: float, seed: int = 0) -> dict:
    """Untrained and fitted scores of the float model on ``batches`` fixed batches."""
    if batches < 1 or steps < 1 or not lr > 0:
        raise ToolError(
            f"--batches and --steps must be >= 1 and --lr > 0 ({batches}, {steps}, {lr})"
        )
    torch.manual_seed(seed)
    np.random.seed(seed)
    trainer = config.trainer("float")
    model = build_from_registry(trainer["model"], "float_trainer.model")
    processor = build_from_registry(trainer["batch_processor"], "float_trainer.batch_processor")
    data = first_batches(config, batches)
    before = score(config, model, data)
    started = time.perf_counter()
    every = max(1, steps // 10)

    def log(step: int, loss: float) -> None:
        if step % every == 0 or step == steps - 1:
            print(
                f"step {step + 1}/{steps} loss {loss:.4f} ({time.perf_counter() - started:.0f} s)"
            )

    losses = fit_batches(model, data, processor, steps, lr, log)
    after = score(config, model, data)
    return dict(
        batches=batches, steps=steps, lr=lr, seed=seed, first_loss=losses[0],
        last_loss=statistics.fmean(losses[-max(1, steps // 10) :]),
        seconds=round(time.perf_counter() - started, 1),
        untrained=before, fitted=after,
    )  # fmt: skip


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_args(parser)
    parser.add_argument("--batches", type=int, default=1, help="fixed batches to fit")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = RunConfig.load(args.config, stage="float", opts=args.opts)
    result = overfit_check(config, args.batches, args.steps, args.lr, args.seed)
    out = os.path.join(config.ckpt_dir, OUTPUT_FILE)
    os.makedirs(config.ckpt_dir, exist_ok=True)
    write_json(out, result)
    print(
        f"loss {result['first_loss']:.4f} (first step) -> {result['last_loss']:.4f} "
        f"(mean of the last tenth of {args.steps} steps)"
    )
    for key in result["fitted"]:
        print(
            f"{key}: untrained {result['untrained'][key]:.4f}, fitted {result['fitted'][key]:.4f}"
        )
    print(f"-> {out}")
    return 0


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: _main(argv), "overfit_check")


if __name__ == "__main__":
    main()
