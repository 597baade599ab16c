"""Predict/evaluate: ``tools/predict.py --stage float --config CFG [--ckpt PATH] [--opts ...]``.

Builds ``cfg["{stage}_predictor"]`` with the stage's weights, runs it, prints the metrics and
writes ``{ckpt_dir}/{stage}-metrics.json``:
``{metric: value, ..., "dataset_size": N, "stage": ..., "checkpoint": path, "seconds": t}``.

Weights: without ``--ckpt``, a predictor with a ``model_convert_pipeline`` loads what its
pipeline loads; one without loads its ``checkpoint`` or ``{ckpt_dir}/{stage}-checkpoint-best``.
``--ckpt PATH`` replaces the checkpoint the stage loads: the pipeline's ``LoadCheckpoint`` when
it has one (``int_infer``: the QAT checkpoint the integer model is converted from), else the
predictor's ``checkpoint``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from typing import Any

from hat.utils.checkpoint import CheckpointMismatchError
from hat.utils.cli import ToolError, add_config_args, run_cli
from hat.utils.run_config import RunConfig, with_stage_checkpoint

__all__ = ["main", "build_parser", "predict"]

PROG = "hat-predict"
logger = logging.getLogger("hat.tools.predict")

CKPT_HELP = (
    "weights of the stage: the checkpoint its model_convert_pipeline loads (int_infer: the QAT "
    "checkpoint), else the predictor's checkpoint (default {ckpt_dir}/{stage}-checkpoint-best)"
)

_WHAT_LOADS = {
    "calibration": ": a calibration checkpoint",
    "qat": ": a QAT (or calibration) checkpoint",
    "int_infer": ": the QAT checkpoint the integer model is converted from",
    "align_bpu": ": the QAT checkpoint the integer model is converted from",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Evaluate one stage of a hat config.")
    parser.add_argument("--stage", default="float", help="float, calibration, qat, ...")
    add_config_args(parser, ckpt=CKPT_HELP)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``hat-predict``)."""
    run_cli(lambda: predict(build_parser().parse_args(argv)), PROG)


def predict(args: argparse.Namespace) -> int:
    from hat.registry import build_from_registry
    from hat.utils.distributed import is_main_process
    from hat.utils.run_setup import stage_run

    def check(config: RunConfig) -> None:
        config.predictor(args.stage)

    with stage_run("predict", args.config, args.stage, args.opts, check=check) as run:
        key = f"{args.stage}_predictor"
        predictor_cfg, checkpoint = stage_predictor(run.config, args.stage, args.ckpt)
        started = time.perf_counter()
        try:
            predictor = build_from_registry(predictor_cfg, path=key)
            predictor.fit()
        except CheckpointMismatchError as exc:
            if args.ckpt is None:
                raise
            raise CheckpointMismatchError(
                f"{exc} (--ckpt of --stage {args.stage} must hold the weights that {key} loads"
                f"{_WHAT_LOADS.get(args.stage, '')})"
            ) from None
        seconds = time.perf_counter() - started
        report = dict(predictor.metric_results())
        report.update(
            dataset_size=_dataset_size(predictor.data_loader),
            stage=args.stage,
            checkpoint=checkpoint,
            seconds=round(seconds, 3),
        )
        if is_main_process():
            _report(report, run.config, args.stage)
    return 0


def stage_predictor(
    config: RunConfig, stage: str, ckpt: str | None
) -> tuple[dict[str, Any], str | None]:
    """``({stage}_predictor spec with its weights set, checkpoint path or None)``."""
    key = f"{stage}_predictor"
    spec = config.predictor(stage)
    if ckpt is not None:
        if not os.path.isfile(ckpt):
            raise ToolError(f"--ckpt: checkpoint not found: {ckpt}")
        spec, where = with_stage_checkpoint(spec, key, ckpt)
        logger.info("--ckpt %s replaces %s", ckpt, where)
        return spec, ckpt
    if spec.get("model_convert_pipeline"):
        return spec, None  # the pipeline loads its own weights
    if spec.get("checkpoint"):
        return spec, spec["checkpoint"]
    if not isinstance(config.get("ckpt_dir"), str):
        raise ToolError(
            f"no --ckpt given and config {config.path} has no 'ckpt_dir' to find one in"
        )
    best = config.checkpoint(stage, "best")
    if not os.path.isfile(best):
        raise ToolError(f"no checkpoint at {best}: train the stage first or pass --ckpt")
    return dict(spec, checkpoint=best), best


def _dataset_size(loader: Any) -> int | None:
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        return None


def _report(report: dict[str, Any], config: RunConfig, stage: str) -> None:
    from hat.utils.file_io import atomic_write

    for name, value in report.items():
        print(f"{name}: {value}")
    if isinstance(config.get("ckpt_dir"), str):
        path = config.stage_file(stage, "metrics.json")
        text = json.dumps(report, indent=2, default=str).encode()
        atomic_write(path, lambda f: f.write(text))
        logger.info("metrics written to %s", path)


if __name__ == "__main__":
    main()
