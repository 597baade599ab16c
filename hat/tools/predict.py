"""Predict/evaluate: ``tools/predict.py --stage float --config CFG [--ckpt PATH] [--opts ...]``.

Builds ``cfg["{stage}_predictor"]``, loads the checkpoint into its model (``--ckpt``, else
``{ckpt_dir}/{stage}-checkpoint-best.pth.tar``; when the predictor has a
``model_convert_pipeline`` and no ``--ckpt`` is given, the pipeline loads the weights), runs it,
prints the metrics and writes ``{ckpt_dir}/{stage}-metrics.json``:
``{metric: value, ..., "dataset_size": N, "stage": ..., "checkpoint": path, "seconds": t}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from typing import Any

from hat.utils.cli import ToolError, run_cli
from hat.utils.run_context import STAGE_ENV

__all__ = ["main", "build_parser", "predict"]

PROG = "hat-predict"
logger = logging.getLogger("hat.tools.predict")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Evaluate one stage of a hat config.")
    parser.add_argument("--stage", default="float", help="float, calibration, qat, ...")
    parser.add_argument("--config", "-c", required=True, help="path to the Python config file")
    parser.add_argument("--ckpt", default=None, help="checkpoint to evaluate")
    parser.add_argument(
        "--opts", nargs="+", default=[], metavar="KEY VALUE", help="override config values"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``hat-predict``)."""
    run_cli(lambda: predict(build_parser().parse_args(argv)), PROG)


def predict(args: argparse.Namespace) -> int:
    from hat.engine.launcher import init_distributed_if_launched
    from hat.registry import build_from_registry
    from hat.utils.config import load_config
    from hat.utils.distributed import barrier, destroy_process_group, get_rank, is_main_process
    from hat.utils.logger import default_log_path, init_logger
    from hat.utils.run_context import RunContext, set_run_context
    from hat.utils.seed import seed_everything

    os.environ[STAGE_ENV] = args.stage
    if not os.path.isfile(args.config):
        raise ToolError(f"config file not found: {args.config}")
    created_group = init_distributed_if_launched()
    try:
        init_logger(default_log_path("predict", args.config, args.stage), rank=get_rank())
        cfg = load_config(args.config, args.opts)
        key = f"{args.stage}_predictor"
        if key not in cfg:
            stages = sorted(k[: -len("_predictor")] for k in cfg if k.endswith("_predictor"))
            raise ToolError(
                f"{args.config} has no '{key}'; stages with a predictor: "
                f"{', '.join(stages) or 'none'}"
            )
        seed_everything(cfg.get("seed"), get_rank())
        set_run_context(RunContext(stage=args.stage, config_path=args.config))
        predictor_cfg = cfg[key]
        checkpoint = _checkpoint_to_load(args, cfg, predictor_cfg)
        if checkpoint is not None:
            predictor_cfg["checkpoint"] = checkpoint
        predictor = build_from_registry(predictor_cfg, path=key)
        started = time.perf_counter()
        predictor.fit()
        seconds = time.perf_counter() - started
        results = predictor.metric_results()
        report = dict(results)
        report.update(
            dataset_size=_dataset_size(predictor.data_loader),
            stage=args.stage,
            checkpoint=checkpoint,
            seconds=round(seconds, 3),
        )
        if is_main_process():
            _report(report, cfg, args.stage)
        barrier()  # leave together (see hat.tools.train)
    finally:
        if created_group:
            destroy_process_group()
    return 0


def _checkpoint_to_load(args: argparse.Namespace, cfg: Any, predictor_cfg: Any) -> str | None:
    if args.ckpt is not None:
        if not os.path.isfile(args.ckpt):
            raise ToolError(f"--ckpt: checkpoint not found: {args.ckpt}")
        return args.ckpt
    if isinstance(predictor_cfg, dict) and predictor_cfg.get("model_convert_pipeline"):
        return None  # the pipeline loads its own weights
    if predictor_cfg.get("checkpoint"):
        return predictor_cfg["checkpoint"]
    ckpt_dir = cfg.get("ckpt_dir")
    if not isinstance(ckpt_dir, str):
        raise ToolError("no --ckpt given and the config has no 'ckpt_dir' to find one in")
    best = os.path.join(ckpt_dir, f"{args.stage}-checkpoint-best.pth.tar")
    if not os.path.isfile(best):
        raise ToolError(f"no checkpoint at {best}: train the stage first or pass --ckpt")
    return best


def _dataset_size(loader: Any) -> int | None:
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        return None


def _report(report: dict[str, Any], cfg: Any, stage: str) -> None:
    from hat.utils.file_io import atomic_write

    for name, value in report.items():
        print(f"{name}: {value}")
    ckpt_dir = cfg.get("ckpt_dir")
    if isinstance(ckpt_dir, str):
        path = os.path.join(ckpt_dir, f"{stage}-metrics.json")
        text = json.dumps(report, indent=2, default=str).encode()
        atomic_write(path, lambda f: f.write(text))
        logger.info("metrics written to %s", path)


if __name__ == "__main__":
    main()
