"""Run a model of any stage on the user's files and save pictures.

``python3 tools/infer.py --config CFG --model-inputs NAME:PATH,... --save-path DIR [--stage S]
[--ckpt PATH] [--opts KEY VALUE ...]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch

from hat.utils.cli import add_config_args, run_cli
from hat.utils.run_config import RunConfig

__all__ = ["main", "run", "val_transforms"]

PROG = "infer"
DESCRIPTION = """\
Run the config's model on the user's files and write pictures to --save-path. The config's
`infer_cfg` names the task adapter (e.g. FlowInfer: --model-inputs img1:PATH,img2:PATH[,gt:PATH];
see hat/infer/), which reads the inputs and writes the pictures.

Preprocessing is the validation one (the config's `val_batch_processor.batch_transforms`).
--stage float loads {ckpt_dir}/float-checkpoint-best.pth.tar (or --ckpt) into `model`;
--stage calibration|qat|int_infer builds `{stage}_predictor`'s model with its convert pipeline,
which loads that stage's checkpoint (int_infer: the QAT checkpoint, converted to the fixed-point
integer model); --ckpt replaces that checkpoint. --opts changes config values, e.g.
--opts ckpt_dir /path/to/checkpoints.
"""

STAGES = ("float", "calibration", "qat", "int_infer")


def val_transforms(config: RunConfig) -> list[Callable[[dict], dict]]:
    """The config's validation batch transforms (empty when it has none)."""
    from hat.registry import build_from_registry

    specs = config.val_batch_transforms()
    if not specs:
        print("infer: note: no val_batch_processor.batch_transforms in the config", file=sys.stderr)
        return []
    return list(build_from_registry(specs, "val_batch_processor.batch_transforms"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_args(
        parser, ckpt="weights of the stage (default: the stage's own, float: float best)"
    )
    parser.add_argument(
        "--model-inputs", required=True, help="NAME:PATH,... as the config's infer_cfg task reads"
    )
    parser.add_argument("--save-path", required=True, help="output directory")
    parser.add_argument("--stage", default="float", choices=STAGES)
    parser.add_argument("--no-ckpt", action="store_true", help="keep random weights (smoke tests)")
    return parser


def run(args: argparse.Namespace) -> dict[str, str]:
    from hat.infer import flatten_outputs, parse_model_inputs
    from hat.tools.deploy_common import stage_model

    config = RunConfig.load(args.config, args.stage, args.opts)
    task = config.infer_task()
    values = parse_model_inputs(args.model_inputs, task)
    model = stage_model(config, args.stage, args.ckpt, load=not args.no_ckpt)
    raw = task.load_inputs(values)
    if getattr(task, "sequential", False):  # a tracker: the whole sequence, frame by frame
        result = task.track(model, raw)
    else:
        batch, ctx = task.make_batch(raw, None)
        for t in val_transforms(config):
            batch = t(batch)
        with torch.no_grad():
            outputs = flatten_outputs(model(batch))
        result = task.postprocess(outputs, ctx)
    paths = task.save(result, raw, args.save_path)
    line = task.summary(result)
    if line:
        print(f"{args.stage} model: {line}")
    for p in paths.values():
        print(f"wrote {p}")
    return paths


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run_cli(lambda: (run(args), 0)[1], PROG)


if __name__ == "__main__":
    main()
