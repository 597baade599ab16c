"""Set-up of a stage run, shared by ``tools/train.py`` and ``tools/predict.py``.

:func:`stage_run` does, in this order: ``HAT_TRAINING_STEP=stage``, the process group when a
launcher (torchrun, :func:`launch`) started the process, logging to
``.hat_logs/{tool}-{config}-{stage}-{time}.log``, the config with ``--opts``, the seed
(``seed + rank``; one random seed shared by all ranks when the config has none),
``deterministic`` kernels and the run context that checkpoints embed. On leaving it waits for
the other ranks and tears the process group down.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hat.utils.cli import ToolError, parse_device_ids
from hat.utils.config_overrides import ConfigError
from hat.utils.run_config import RunConfig
from hat.utils.run_context import STAGE_ENV, RunContext, set_run_context

__all__ = ["StageRun", "stage_run", "add_launch_args", "launch", "load_quietly"]

logger = logging.getLogger("hat.tools")


@dataclass
class StageRun:
    """What :func:`stage_run` set up."""

    stage: str
    config: RunConfig
    seed: int
    rank: int
    log_file: str


@contextmanager
def stage_run(
    tool: str,
    config_path: str,
    stage: str,
    opts: Sequence[str] = (),
    timestamp: str | None = None,
    check: Callable[[RunConfig], Any] | None = None,
) -> Iterator[StageRun]:
    """Set up a run of ``stage`` (see module docstring); ``check(config)`` validates the config
    before anything else happens (e.g. that the stage has a trainer)."""
    from hat.engine.launcher import init_distributed_if_launched
    from hat.utils.distributed import barrier, destroy_process_group, get_rank, get_world_size
    from hat.utils.logger import default_log_path, init_logger

    if not os.path.isfile(config_path):
        raise ConfigError(f"config file not found: {config_path}")
    os.environ[STAGE_ENV] = stage
    created_group = init_distributed_if_launched()
    try:
        rank = get_rank()
        log_file = default_log_path(tool, config_path, stage, timestamp)
        init_logger(log_file, rank=rank)
        config = RunConfig.load(config_path, stage, opts)
        if check is not None:
            check(config)
        seed = _seed(config, rank)
        _publish(config, stage, opts)
        logger.info(
            "stage=%s config=%s world_size=%d seed=%d log=%s",
            stage, config_path, get_world_size(), seed, log_file,
        )  # fmt: skip
        yield StageRun(stage, config, seed, rank, log_file)
        barrier()  # leave together: a rank tearing down gloo while another still talks aborts
    finally:
        if created_group:
            destroy_process_group()


def load_quietly(config_path: str, stage: str, opts: Sequence[str]) -> RunConfig:
    """Load the config without the ``--opts`` reports (before worker processes start; rank 0
    logs them later)."""
    hat_logger = logging.getLogger("hat")
    level = hat_logger.level
    hat_logger.setLevel(logging.ERROR)
    try:
        return RunConfig.load(config_path, stage, opts)
    finally:
        hat_logger.setLevel(level)


def _seed(config: RunConfig, rank: int) -> int:
    from hat.utils.distributed import broadcast_object
    from hat.utils.seed import seed_everything, set_deterministic

    seed = config.seed
    if seed is None:  # one random seed for all ranks, so they shard the same permutation
        seed = broadcast_object(int.from_bytes(os.urandom(4), "little") >> 1)
    seed_everything(seed, rank)
    if config.deterministic:
        set_deterministic(True)
    return seed


def _publish(config: RunConfig, stage: str, opts: Sequence[str]) -> None:
    cfg = config.cfg
    set_run_context(
        RunContext(
            stage=stage,
            config_path=os.path.abspath(config.path),
            config_text=cfg.pretty_text() if hasattr(cfg, "pretty_text") else "",
            config_source=getattr(cfg, "source_text", ""),
            overrides=list(opts),
        )
    )


def add_launch_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--device-ids a,b`` (one process per id) and ``--launcher torchrun``."""
    parser.add_argument("--device-ids", default=None, help="comma-separated ids, e.g. 0,1")
    parser.add_argument(
        "--launcher",
        choices=["torchrun"],
        default=None,
        help="expect to be started by torchrun (RANK/WORLD_SIZE/LOCAL_RANK set)",
    )
    return parser


def launch(
    args: argparse.Namespace,
    worker: Callable[..., Any],
    worker_args: tuple = (),
    before_spawn: Callable[[], Any] | None = None,
) -> bool:
    """Start ``worker(*worker_args)`` in one process per ``--device-ids`` id when there are
    several (``before_spawn`` validates first) and return True; with one id or none, pin that
    device and return False: the caller runs in this process."""
    from hat.engine.launcher import SpawnedWorkerFailed, spawn_local
    from hat.utils.distributed import torchrun_env_present

    if args.launcher == "torchrun" and not torchrun_env_present():
        raise ToolError("--launcher torchrun: RANK/WORLD_SIZE/LOCAL_RANK are not set")
    device_ids = parse_device_ids(args.device_ids)
    if len(device_ids) > 1 and not torchrun_env_present():
        if before_spawn is not None:
            before_spawn()
        try:
            spawn_local(worker, device_ids, args=worker_args)
        except SpawnedWorkerFailed as exc:
            raise ToolError(f"{exc} (its own message, if any, is above)") from None
        return True
    if len(device_ids) == 1:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", str(device_ids[0]))
    return False
