"""Train: ``tools/train.py --stage float --config CFG [--opts k v ...] [--device-ids 0,1]
[--resume [PATH] | --overwrite] [--launcher torchrun]``.

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

One training at a time per ``ckpt_dir``: the launching process (rank 0 under torchrun) locks the
stage's checkpoint folders for the whole run (:mod:`hat.utils.stage_outputs`); a second training
into them is refused at once, naming the holder. A folder that already has checkpoints of the
stage is refused unless ``--resume`` (continue) or ``--overwrite`` (remove them, start over).
SIGTERM is handled like Ctrl-C: one line, exit code 143.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import time
from contextlib import AbstractContextManager, nullcontext

from hat.utils.cli import ToolError, add_config_args, run_cli
from hat.utils.distributed import torchrun_env_present
from hat.utils.run_config import RunConfig
from hat.utils.run_setup import add_launch_args, launch, load_quietly, stage_run
from hat.utils.stage_outputs import claim_stage_outputs
from hat.utils.termination import (
    exit_stopped_rank,
    handle_sigterm,
    run_rank_quietly,
    termination_requested,
)

__all__ = ["main", "build_parser", "train"]

PROG = "hat-train"
SIGTERM_FORCE_S = 5.0  # a training not gone this long after SIGTERM exits without clean-up
logger = logging.getLogger("hat.tools.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Train one stage of a hat config.")
    parser.add_argument("--stage", default="float", help="float, calibration, qat, ...")
    add_config_args(parser)
    add_launch_args(parser)
    parser.add_argument(
        "--resume",
        nargs="?",
        const="last",
        default=None,
        metavar="PATH",
        help="resume from PATH (default: the stage's last checkpoint)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start over: remove the stage's existing checkpoints in ckpt_dir first",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``hat-train``)."""
    run_cli(lambda: train(build_parser().parse_args(argv)), PROG)


def train(args: argparse.Namespace) -> int:
    timestamp = time.strftime("%Y%m%d-%H%M%S")
    handle_sigterm()
    if args.resume is not None and args.overwrite:
        raise ToolError("--resume continues the stage's checkpoints, --overwrite removes them: "
                        "give one of them")  # fmt: skip

    def validate() -> None:  # config, stage and --opts, before any process starts
        _require_ddp_trainer(load_quietly(args.config, args.stage, args.opts), args.stage)

    with _claim_outputs(args):
        if not launch(args, _worker, (args, timestamp), before_spawn=validate):
            run_training(args, timestamp)
    return 0


def _claim_outputs(args: argparse.Namespace) -> AbstractContextManager:
    """Lock the stage's checkpoint folders for the run and check them (see module docstring);
    under torchrun only global rank 0 does (the others start without looking)."""
    if torchrun_env_present() and int(os.environ["RANK"]) != 0:
        return nullcontext()
    config = load_quietly(args.config, args.stage, args.opts)
    return claim_stage_outputs(
        config, args.stage, resume=args.resume is not None, overwrite=args.overwrite
    )


def _worker(args: argparse.Namespace, timestamp: str) -> None:
    """Entry of a spawned process: user errors become one line and exit code 1; a stop by the
    launcher (or Ctrl-C) exits silently, the launcher reports."""
    try:
        run_cli(lambda: run_rank_quietly(lambda: run_training(args, timestamp)), PROG)
    except SystemExit as exc:
        if termination_requested() or exc.code == 128 + signal.SIGINT:
            exit_stopped_rank(int(exc.code or 0))
        raise


def run_training(args: argparse.Namespace, timestamp: str) -> int:
    """Set up the run (see :mod:`hat.utils.run_setup`), dump the config, build and fit."""
    from hat.registry import build_from_registry

    handle_sigterm(force_after_s=SIGTERM_FORCE_S, prog=PROG)  # a rank stuck in a collective

    def check(config: RunConfig) -> None:
        config.trainer(args.stage)

    with stage_run("train", args.config, args.stage, args.opts, timestamp, check) as run:
        trainer_cfg = run.config.trainer(args.stage)
        if args.resume is not None:
            _request_resume(trainer_cfg, run.config, args)
        if run.rank == 0:
            _dump_config(run.config, args.stage)
        trainer = build_from_registry(trainer_cfg, path=f"{args.stage}_trainer")
        trainer.fit()
        logger.info("training of stage %s finished", args.stage)
    return 0


def _require_ddp_trainer(config: RunConfig, stage: str) -> None:
    from hat.engine.ddp_trainer import DistributedDataParallelTrainer
    from hat.registry import OBJECT_REGISTRY, BuildError

    type_ = config.trainer(stage)["type"]
    try:
        target = OBJECT_REGISTRY.get(type_) if isinstance(type_, str) else type_
    except KeyError as exc:
        raise BuildError(f"{stage}_trainer.type: {exc.args[0]}") from None
    if not (isinstance(target, type) and issubclass(target, DistributedDataParallelTrainer)):
        raise ToolError(
            f"--device-ids with several ids needs a distributed trainer; {stage}_trainer has "
            f"type {type_!r} (use 'distributed_data_parallel_trainer')"
        )


def _request_resume(trainer_cfg: dict, config: RunConfig, args: argparse.Namespace) -> None:
    path = args.resume
    if path == "last" and isinstance(config.get("ckpt_dir"), str):
        default = config.checkpoint(args.stage, "last")
        if os.path.isfile(default):
            path = default
    if path != "last" and not os.path.isfile(path):
        raise ToolError(f"--resume: checkpoint not found: {path}")
    trainer_cfg["resume_checkpoint"] = path
    trainer_cfg["resume_optimizer"] = True
    trainer_cfg["resume_epoch_or_step"] = True


def _dump_config(config: RunConfig, stage: str) -> None:
    """Write the resolved and the original config text into ``ckpt_dir``."""
    from hat.utils.file_io import atomic_write
    from hat.utils.run_context import get_run_context

    if not isinstance(config.get("ckpt_dir"), str):
        return
    context = get_run_context()
    resolved = config.stage_file(stage, "config.py")
    source = config.stage_file(stage, "config-source.py")
    atomic_write(resolved, lambda f: f.write(context.config_text.encode()))
    atomic_write(source, lambda f: f.write(context.config_source.encode()))
    logger.info("config dumped to %s (original text: %s)", resolved, source)


if __name__ == "__main__":
    main()
