"""Run a model of any stage on the user's files and save pictures.

``python3 tools/infer.py --config CFG --model-inputs NAME:PATH,... --save-path DIR [--stage S]``
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from hat.tools.calops import ToolError, build_model, load_config

__all__ = ["build_infer_task", "load_checkpoint", "main", "run", "val_transforms"]

DESCRIPTION = """\
Run the config's model on the user's files and write pictures to --save-path. The config's
`infer_cfg` names the task adapter (e.g. FlowInfer: --model-inputs img1:PATH,img2:PATH[,gt:PATH];
see hat/infer/), which reads the inputs and writes the pictures.

Preprocessing is the validation one (the config's `val_batch_processor.batch_transforms`).
--stage float loads {ckpt_dir}/float-checkpoint-best.pth.tar (or --ckpt) into `model`;
--stage calibration|qat|int_infer builds `{stage}_predictor`'s model with its convert pipeline,
which loads that stage's checkpoint (int_infer: the fixed-point integer model).
"""

STAGES = ("float", "calibration", "qat", "int_infer")


def build_infer_task(cfg: Mapping[str, Any]) -> Any:
    """The config's ``infer_cfg`` task adapter."""
    from hat.infer import InferTask
    from hat.registry import BuildError, build_from_registry

    spec = cfg.get("infer_cfg")
    if not isinstance(spec, Mapping):
        raise ToolError(
            "the config has no 'infer_cfg' (e.g. infer_cfg = dict(type='FlowInfer')); it names "
            "the task adapter that reads --model-inputs and writes the pictures"
        )
    try:
        task = build_from_registry(dict(spec), "infer_cfg")
    except BuildError as exc:
        raise ToolError(str(exc)) from exc
    if not isinstance(task, InferTask):
        raise ToolError(f"infer_cfg builds {type(task).__name__}, not a hat.infer.InferTask")
    return task


def val_transforms(cfg: Mapping[str, Any]) -> list[Callable[[dict], dict]]:
    """The config's validation batch transforms (empty when it has none)."""
    from hat.registry import BuildError, build_from_registry

    proc = cfg.get("val_batch_processor")
    specs = proc.get("batch_transforms") if isinstance(proc, Mapping) else None
    if not specs:
        print("infer: note: no val_batch_processor.batch_transforms in the config", file=sys.stderr)
        return []
    try:
        return list(build_from_registry(list(specs), "val_batch_processor.batch_transforms"))
    except BuildError as exc:
        raise ToolError(str(exc)) from exc


def load_checkpoint(model: nn.Module, path: str) -> None:
    """Load ``state_dict`` from a checkpoint (``{"state_dict": ...}`` or a bare state dict)."""
    if not os.path.isfile(path):
        raise ToolError(f"checkpoint not found: {path} (pass --ckpt PATH, or --no-ckpt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unreadable file is a user error
        raise ToolError(f"cannot read checkpoint {path}: {exc}") from exc
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(state, Mapping):
        raise ToolError(f"{path} holds no state_dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ToolError(
            f"checkpoint {path} does not match the model: {len(result.missing_keys)} missing "
            f"keys (e.g. {result.missing_keys[:3]}), {len(result.unexpected_keys)} unexpected "
            f"(e.g. {result.unexpected_keys[:3]})"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="infer", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", "-c", required=True, help="config file (.py)")
    parser.add_argument(
        "--model-inputs", required=True, help="NAME:PATH,... as the config's infer_cfg task reads"
    )
    parser.add_argument("--save-path", required=True, help="output directory")
    parser.add_argument("--stage", default="float", choices=STAGES)
    parser.add_argument(
        "--ckpt", default=None, help="float checkpoint (default {ckpt_dir}/float-checkpoint-best)"
    )
    parser.add_argument("--no-ckpt", action="store_true", help="keep random weights (smoke tests)")
    return parser.parse_args(argv)


def _build_stage_model(cfg: Mapping[str, Any], args: argparse.Namespace) -> nn.Module:
    if args.stage != "float":
        from hat.tools.deploy_common import build_stage_model

        if args.ckpt:
            raise ToolError("--ckpt applies to --stage float; other stages load their own")
        return build_stage_model(cfg, f"{args.stage}_predictor")
    model = build_model(cfg)
    if not args.no_ckpt:
        ckpt = args.ckpt
        if ckpt is None:
            ckpt_dir = cfg.get("ckpt_dir")
            if not ckpt_dir:
                raise ToolError("the config has no ckpt_dir; pass --ckpt PATH")
            ckpt = os.path.join(ckpt_dir, "float-checkpoint-best.pth.tar")
        load_checkpoint(model, ckpt)
    return model.eval()


def run(args: argparse.Namespace) -> dict[str, str]:
    from hat.infer import flatten_outputs, parse_model_inputs
    from hat.utils.run_context import STAGE_ENV

    os.environ[STAGE_ENV] = args.stage
    cfg = load_config(args.config)
    task = build_infer_task(cfg)
    values = parse_model_inputs(args.model_inputs, task)
    model = _build_stage_model(cfg, args)
    raw = task.load_inputs(values)
    batch, ctx = task.make_batch(raw, None)
    for t in val_transforms(cfg):
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
    from hat.utils.cli import run_cli

    args = parse_args(argv)
    run_cli(lambda: (run(args), 0)[1], "infer")


if __name__ == "__main__":
    main()
