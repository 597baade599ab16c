"""Export a float or QAT model to ONNX: ``tools/export_onnx.py --config CFG [--stage float|qat]``.

``float``: the float model with ``{ckpt_dir}/float-checkpoint-best.pth.tar`` ->
``{ckpt_dir}/{task}.float.onnx`` (torch's exporter). ``qat``: the QAT model from
``qat_predictor`` (qat best) exported through its integer model as QDQ ONNX ->
``{ckpt_dir}/{task}.qat.onnx`` (same graph as export_hbir's).
"""

from __future__ import annotations

import argparse
import os

from hat.tools.deploy_common import (
    FORMAT_NOTE,
    build_stage_model,
    deploy_inputs,
    load_stage_config,
    model_name,
)
from hat.utils.cli import ToolError, run_cli

__all__ = ["main"]
PROG = "hat-export-onnx"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__ + "\n" + FORMAT_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", "-c", required=True)
    p.add_argument("--stage", default="float", choices=["float", "qat"])
    p.add_argument("--ckpt", default=None, help="float checkpoint (default: float best)")
    p.add_argument("--out", default=None)
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE")
    return p


def export(args: argparse.Namespace) -> str:
    cfg = load_stage_config(args.config, args.stage, args.opts)
    inputs = deploy_inputs(cfg)
    out = args.out or os.path.join(cfg["ckpt_dir"], f"{model_name(cfg)}.{args.stage}.onnx")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if args.stage == "float":
        from hat.quantization.export_onnx import export_float_onnx
        from hat.tools.calops import build_model
        from hat.tools.infer import load_checkpoint

        model = build_model(cfg)
        ckpt = args.ckpt or os.path.join(cfg["ckpt_dir"], "float-checkpoint-best.pth.tar")
        load_checkpoint(model, ckpt)
        export_float_onnx(model.eval(), inputs, out)
    else:
        from hat.quantization.export_onnx import export_int_model_to_onnx

        if args.ckpt:
            raise ToolError("--ckpt applies to --stage float; qat uses qat_predictor's pipeline")
        model = build_stage_model(cfg, "qat_predictor")
        export_int_model_to_onnx(model, inputs, out)
    print(f"exported {out}")
    return out


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (export(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
