"""Export the fixed-point model: ``tools/export_hbir.py --config CFG``.

The int model (``int_infer_predictor``: float model -> QAT -> qat best checkpoint -> QAT2Quantize)
is exported with static shapes from the config's ``deploy_inputs`` to
``{ckpt_dir}/{task_name}.int.onnx`` (QDQ ONNX), plus ``{task_name}.int.export.json``.
A model deployed as several graphs (``extra_deploy_graphs()``, e.g. MOTR's query interaction
module) gets one more file per graph, ``{task_name}.{graph}.int.onnx``.
``--ckpt`` replaces the QAT checkpoint the integer model is converted from.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

from hat.tools.deploy_common import build_stage_model, deploy_parser, write_json
from hat.utils.cli import add_config_args, run_cli
from hat.utils.run_config import RunConfig

__all__ = ["main", "export_hbir"]
PROG = "hat-export-hbir"
logger = logging.getLogger("hat.tools.export_hbir")


def extra_graph_path(base_path: str, name: str) -> str:
    """The file of an extra deployed graph beside the base model's: ``{task}.int.onnx`` ->
    ``{task}.{name}.int.onnx``."""
    stem = (
        base_path[: -len(".int.onnx")]
        if base_path.endswith(".int.onnx")
        else (os.path.splitext(base_path)[0])
    )
    return f"{stem}.{name}.int.onnx"


def deployed_graph_paths(model, base_path: str) -> dict[str, str]:
    """``{"base": base_path, name: extra graph file}`` of a model deployed as several graphs;
    a :class:`ToolError` naming the first exported file that is missing."""
    from hat.utils.cli import ToolError

    paths = {"base": base_path}
    for name in model.extra_deploy_graphs():
        paths[name] = extra_graph_path(base_path, name)
        if not os.path.isfile(paths[name]):
            raise ToolError(
                f"no exported {name} graph at {paths[name]}: run tools/export_hbir.py first"
            )
    return paths


def build_parser() -> argparse.ArgumentParser:
    p = deploy_parser(PROG, __doc__)
    add_config_args(p, ckpt="QAT checkpoint the integer model is converted from (default: the one "
                    "int_infer_predictor loads)")  # fmt: skip
    p.add_argument("--out", default=None, help="output .onnx (default {ckpt_dir}/{task}.int.onnx)")
    return p


def export_hbir(args: argparse.Namespace) -> dict:
    from hat.quantization.export_onnx import export_int_model_to_onnx
    from hat.quantization.ort_runner import classify_ops, optimized_op_counts

    config = RunConfig.load(args.config, "int_infer", args.opts)
    model = build_stage_model(config, "int_infer_predictor", args.ckpt)
    inputs = config.deploy_inputs()
    path = args.out or config.int_onnx_path()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    t0 = time.perf_counter()
    rep = export_int_model_to_onnx(model, inputs, path)
    ort_counts = dict(optimized_op_counts(path))
    info = {
        "path": path,
        "format": "ONNX (QDQ), opset from hat.quantization.export_onnx",
        "inputs": {k: list(v.shape) for k, v in inputs.items()},
        "outputs": rep.outputs,
        "exported_op_counts": rep.op_counts,
        "ort_extended_op_counts": ort_counts,
        "ort_op_classes": classify_ops(ort_counts),
        "float_islands": rep.float_islands,
        "unused_modules": rep.unused_modules,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    extra = getattr(model, "extra_deploy_graphs", None)
    if callable(extra):  # e.g. MOTR's query interaction module: one more file per graph
        info["extra_graphs"] = {}
        for name, (graph, graph_inputs) in extra().items():
            graph_path = extra_graph_path(path, name)
            graph_rep = export_int_model_to_onnx(graph, graph_inputs, graph_path)
            info["extra_graphs"][name] = {
                "path": graph_path,
                "inputs": {k: list(v.shape) for k, v in graph_inputs.items()},
                "outputs": graph_rep.outputs,
                "exported_op_counts": graph_rep.op_counts,
            }
            print(f"exported {graph_path} ({name}: outputs {graph_rep.outputs})")
        info["seconds"] = round(time.perf_counter() - t0, 3)
    write_json(os.path.splitext(path)[0] + ".export.json", info)
    print(f"exported {path}")
    print(f"inputs: {info['inputs']}  outputs: {rep.outputs}")
    print(f"QLinearConv after ORT optimisation: {ort_counts.get('QLinearConv', 0)}")
    print(f"float islands: {', '.join(rep.float_islands) or 'none'}")
    return info


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (export_hbir(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
