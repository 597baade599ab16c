"""Train: ``tools/train.py --stage float --config CFG [--opts k v ...] [--device-ids 0,1]
[--resume [PATH]] [--launcher torchrun]``.

Builds ``cfg["{stage}_trainer"]`` and calls ``fit()``. ``HAT_TRAINING_STEP`` is set to the stage
before the config executes. ``--device-ids a,b`` spawns one process per id (gloo on CPU, nccl on
GPU); under torchrun the process group comes from the environment. ``--resume`` without a path
continues from ``{ckpt_dir}/{stage}-checkpoint-last.pth.tar`` (or the Checkpoint callback's
``last`` file); weights, optimizer, LR/callback states, epoch/step, RNG and sampler position are
restored. Logs: ``.hat_logs/train-{config}-{stage}-{time}.log``.

Top-level config keys read by the tool: ``seed`` (each process uses ``seed + rank``; random but
shared by all ranks when missing), ``deterministic`` (``torch.use_deterministic_algorithms``) and
``ckpt_dir`` (where ``{stage}-config.py``, the resolved config, and ``{stage}-config-source.py``
are written, and where ``--resume`` looks first).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from typing import Any

from hat.utils.cli import ToolError, parse_device_ids, run_cli
from hat.utils.run_context import STAGE_ENV

__all__ = ["main", "build_parser", "train"]

PROG = "hat-train"
logger = logging.getLogger("hat.tools.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Train one stage of a hat config.")
    parser.add_argument("--stage", default="float", help="float, calibration, qat, ...")
    parser.add_argument("--config", "-c", required=True, help="path to the Python config file")
    parser.add_argument(
        "--opts",
        nargs="+",
        default=[],
        metavar="KEY VALUE",
        help="override config values: dotted keys, list indices, Python literals",
    )
    parser.add_argument("--device-ids", default=None, help="comma-separated ids, e.g. 0,1")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="last",
        default=None,
        metavar="PATH",
        help="resume from PATH (default: the stage's last checkpoint)",
    )
    parser.add_argument(
        "--launcher",
        choices=["torchrun"],
        default=None,
        help="expect to be started by torchrun (RANK/WORLD_SIZE/LOCAL_RANK set)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``hat-train``)."""
    run_cli(lambda: train(build_parser().parse_args(argv)), PROG)


def train(args: argparse.Namespace) -> int:
    from hat.engine.launcher import SpawnedWorkerFailed, spawn_local
    from hat.utils.distributed import torchrun_env_present

    os.environ[STAGE_ENV] = args.stage
    if not os.path.isfile(args.config):
        raise ToolError(f"config file not found: {args.config}")
    if args.launcher == "torchrun" and not torchrun_env_present():
        raise ToolError("--launcher torchrun: RANK/WORLD_SIZE/LOCAL_RANK are not set")
    device_ids = parse_device_ids(args.device_ids)
    timestamp = time.strftime("%Y%m%d-%H%M%S")
    if len(device_ids) > 1 and not torchrun_env_present():
        hat_logger = logging.getLogger("hat")
        level = hat_logger.level
        hat_logger.setLevel(logging.ERROR)  # override reports: rank 0 logs them later
        try:
            cfg = _load(args)  # validate config, stage and --opts before any process starts
        finally:
            hat_logger.setLevel(level)
        _require_ddp_trainer(cfg, args.stage)
        try:
            spawn_local(_worker, device_ids, args=(args, timestamp))
        except SpawnedWorkerFailed as exc:
            raise ToolError(f"{exc} (its own message, if any, is above)") from None
        return 0
    if len(device_ids) == 1:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", str(device_ids[0]))
    run_training(args, timestamp)
    return 0


def _worker(args: argparse.Namespace, timestamp: str) -> None:
    """Entry of a spawned process: user errors become one line and exit code 1."""
    run_cli(lambda: run_training(args, timestamp), PROG)


def run_training(args: argparse.Namespace, timestamp: str) -> int:
    """Set up logging, seed, config dump and process group, then build and fit the trainer."""
    from hat.engine.launcher import init_distributed_if_launched
    from hat.registry import build_from_registry
    from hat.utils.distributed import (
        barrier,
        broadcast_object,
        destroy_process_group,
        get_rank,
        get_world_size,
    )
    from hat.utils.logger import default_log_path, init_logger
    from hat.utils.seed import seed_everything, set_deterministic

    os.environ[STAGE_ENV] = args.stage
    created_group = init_distributed_if_launched()
    try:
        rank = get_rank()
        log_file = default_log_path("train", args.config, args.stage, timestamp)
        init_logger(log_file, rank=rank)
        cfg = _load(args)
        key = f"{args.stage}_trainer"
        seed = cfg.get("seed")
        if seed is None:  # one random seed for all ranks, so they shard the same permutation
            seed = broadcast_object(int.from_bytes(os.urandom(4), "little") >> 1)
        seed_everything(seed, rank)
        if cfg.get("deterministic"):
            set_deterministic(True)
        logger.info(
            "stage=%s config=%s world_size=%d seed=%d log=%s",
            args.stage, args.config, get_world_size(), seed, log_file,
        )  # fmt: skip
        trainer_cfg = cfg[key]
        if args.resume is not None:
            _request_resume(trainer_cfg, cfg, args)
        _publish_config(cfg, args, dump=rank == 0)
        trainer = build_from_registry(trainer_cfg, path=key)
        trainer.fit()
        logger.info("training of stage %s finished", args.stage)
        barrier()  # leave together: a rank tearing down gloo while another still talks aborts
    finally:
        if created_group:
            destroy_process_group()
    return 0


def _load(args: argparse.Namespace) -> Any:
    from hat.utils.config import load_config

    cfg = load_config(args.config, args.opts)
    key = f"{args.stage}_trainer"
    if key not in cfg:
        stages = sorted(k[: -len("_trainer")] for k in cfg if k.endswith("_trainer"))
        raise ToolError(
            f"{args.config} has no '{key}'; stages with a trainer: {', '.join(stages) or 'none'}"
        )
    if not isinstance(cfg[key], dict) or "type" not in cfg[key]:
        raise ToolError(f"{args.config}: '{key}' must be a dict with a 'type'")
    return cfg


def _require_ddp_trainer(cfg: Any, stage: str) -> None:
    from hat.engine.ddp_trainer import DistributedDataParallelTrainer
    from hat.registry import OBJECT_REGISTRY, BuildError

    type_ = cfg[f"{stage}_trainer"]["type"]
    try:
        target = OBJECT_REGISTRY.get(type_) if isinstance(type_, str) else type_
    except KeyError as exc:
        raise BuildError(f"{stage}_trainer.type: {exc.args[0]}") from None
    if not (isinstance(target, type) and issubclass(target, DistributedDataParallelTrainer)):
        raise ToolError(
            f"--device-ids with several ids needs a distributed trainer; {stage}_trainer has "
            f"type {type_!r} (use 'distributed_data_parallel_trainer')"
        )


def _request_resume(trainer_cfg: dict, cfg: Any, args: argparse.Namespace) -> None:
    path = args.resume
    if path == "last" and cfg.get("ckpt_dir"):
        default = os.path.join(cfg["ckpt_dir"], f"{args.stage}-checkpoint-last.pth.tar")
        if os.path.isfile(default):
            path = default
    if path != "last" and not os.path.isfile(path):
        raise ToolError(f"--resume: checkpoint not found: {path}")
    trainer_cfg["resume_checkpoint"] = path
    trainer_cfg["resume_optimizer"] = True
    trainer_cfg["resume_epoch_or_step"] = True


def _publish_config(cfg: Any, args: argparse.Namespace, dump: bool) -> None:
    """Make the config text available to checkpoints and dump it into ``ckpt_dir``."""
    from hat.utils.file_io import atomic_write
    from hat.utils.run_context import RunContext, set_run_context

    text = cfg.pretty_text()
    set_run_context(
        RunContext(
            stage=args.stage,
            config_path=os.path.abspath(args.config),
            config_text=text,
            config_source=cfg.source_text,
            overrides=list(args.opts),
        )
    )
    ckpt_dir = cfg.get("ckpt_dir")
    if dump and isinstance(ckpt_dir, str):
        resolved = os.path.join(ckpt_dir, f"{args.stage}-config.py")
        source = os.path.join(ckpt_dir, f"{args.stage}-config-source.py")
        atomic_write(resolved, lambda f: f.write(text.encode()))
        atomic_write(source, lambda f: f.write(cfg.source_text.encode()))
        logger.info("config dumped to %s (original text: %s)", resolved, source)


if __name__ == "__main__":
    main()
