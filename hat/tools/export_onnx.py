"""Export a float or QAT model to ONNX: ``tools/export_onnx.py --config CFG [--stage float|qat]``.

``float``: the float model with ``{ckpt_dir}/float-checkpoint-best.pth.tar`` ->
``{ckpt_dir}/{task}.float.onnx`` (torch's exporter). ``qat``: the QAT model from
``qat_predictor`` (qat best) exported through its integer model as QDQ ONNX ->
``{ckpt_dir}/{task}.qat.onnx`` (same graph as export_hbir's). ``--ckpt`` replaces the
stage's checkpoint.
"""

from __future__ import annotations

import argparse
import os

from hat.tools.deploy_common import build_stage_model, deploy_parser, stage_model
from hat.utils.cli import add_config_args, run_cli
from hat.utils.run_config import RunConfig

__all__ = ["main"]
PROG = "hat-export-onnx"


def build_parser() -> argparse.ArgumentParser:
    p = deploy_parser(PROG, __doc__)
    add_config_args(p, ckpt="weights of the stage (default: float best; qat: qat_predictor's)")
    p.add_argument("--stage", default="float", choices=["float", "qat"])
    p.add_argument("--out", default=None)
    return p


def export(args: argparse.Namespace) -> str:
    from hat.quantization.export_onnx import export_float_onnx, export_int_model_to_onnx

    config = RunConfig.load(args.config, args.stage, args.opts)
    inputs = config.deploy_inputs()
    out = args.out or config.onnx_path(args.stage)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if args.stage == "float":
        export_float_onnx(stage_model(config, "float", args.ckpt), inputs, out)
    else:
        model = build_stage_model(config, "qat_predictor", args.ckpt)
        export_int_model_to_onnx(model, inputs, out)
    print(f"exported {out}")
    return out


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (export(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
