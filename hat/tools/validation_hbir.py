"""On-board style accuracy check: ``tools/validation_hbir.py --stage align_bpu --config CFG``.

Runs the exported fixed-point ONNX file (``{ckpt_dir}/{task}.int.onnx``, from export_hbir) with
ONNX Runtime (ENABLE_ALL: the integer QLinear* kernels) as the config's ``align_bpu_predictor``
(a Predictor, :func:`hat.quantization.ort_alignment.align_on_ort`) over its data at batch 1, with
the deployment preprocessing (the predictor's batch processor), reports
the task metrics (``align_bpu_predictor.metrics`` updated by the config's top-level
``update_metric(metrics, batch, model_outs)``), and compares every output with the PyTorch
integer model (``int_infer``) on the same inputs: fraction of bit-identical elements, fraction
identical at LSB resolution (|diff| < 0.01 LSB) and max difference in LSBs. The LSB of an output
is the scale of the quantized tensor it is dequantized from (times any float post-processing
gain the model declares with ``deploy_output_lsb``; PwcNet: the stride of its final resize).
A model deployed as several graphs with host code between them (``extra_deploy_graphs()`` and
``track(data, graphs)``, e.g. MOTR: base model, runtime tracker, query interaction module) is
run as a whole loop with every graph on ORT (``{task}.{graph}.int.onnx`` from export_hbir),
each graph call compared with the integer graph on the same inputs, frame after frame
(:func:`hat.quantization.ort_graphs_alignment.align_graphs_on_ort`).
Writes ``{ckpt_dir}/align_bpu-metrics.json``.
"""

from __future__ import annotations

import argparse
from typing import Any

from hat.tools.deploy_common import (
    add_exported_model_arg,
    build_stage_model,
    deploy_parser,
    exported_model_path,
    write_json,
)
from hat.utils.cli import ToolError, add_config_args, run_cli
from hat.utils.run_config import RunConfig

__all__ = ["main", "validate"]
PROG = "hat-validation-hbir"


def build_parser() -> argparse.ArgumentParser:
    p = deploy_parser(PROG, __doc__)
    p.add_argument("--stage", default="align_bpu", choices=["align_bpu"])
    add_config_args(p)
    add_exported_model_arg(p)
    p.add_argument("--level", default="all", help="ORT optimisation level (default all)")
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (default 1)")
    p.add_argument("--max-samples", type=int, default=0, help="0: the whole validation set")
    return p


def validate(args: argparse.Namespace) -> dict[str, Any]:
    from hat.quantization.deploy_platform import deploy_platform_info
    from hat.quantization.ort_alignment import align_on_ort
    from hat.quantization.ort_graphs_alignment import align_graphs_on_ort, supports_graph_alignment
    from hat.registry import build_from_registry
    from hat.tools.export_hbir import deployed_graph_paths

    config = RunConfig.load(args.config, args.stage, args.opts)
    path = exported_model_path(config, args.model)
    stage = "align_bpu" if "align_bpu" in config.stages_with("predictor") else "int_infer"
    key = f"{stage}_predictor"
    spec = config.predictor(stage)
    update_metric = config.update_metric()
    metric_specs = spec.get("metrics") or []
    if not metric_specs:
        raise ToolError(f"config {config.path}: {key}.metrics is empty: nothing to report")
    model = build_stage_model(config, key)
    loaders = config.require(f"{key}.data_loader", "the predictor's data loader (or a list)")
    loader_cfg = dict(loaders[0] if isinstance(loaders, (list, tuple)) else loaders)
    loader_cfg["batch_size"] = 1
    loader_cfg["shuffle"] = False
    loader = build_from_registry(loader_cfg, f"{key}.data_loader")
    processor_spec = spec.get("batch_processor") or config.require(
        "val_batch_processor", f"a batch processor (when {key} has none)"
    )
    run_args = (
        loader,
        build_from_registry(processor_spec, f"{key}.batch_processor"),
        config.deploy_inputs(),
        update_metric,
        build_from_registry(list(metric_specs), f"{key}.metrics"),
        build_from_registry(list(metric_specs), f"{key}.metrics"),
    )
    run_kwargs = dict(level=args.level, threads=args.threads, max_samples=args.max_samples)
    try:
        if supports_graph_alignment(model):  # several graphs and a host loop (MOTR)
            paths = deployed_graph_paths(model, path)
            result = align_graphs_on_ort(model, paths, *run_args, **run_kwargs)
        else:
            result = align_on_ort(model, path, *run_args, **run_kwargs)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ToolError(f"{path}: {exc}") from exc
    ort_values = result["metrics_ort"]
    report = {
        "stage": args.stage,
        "model": path,
        "ort_level": args.level,
        "ort_threads": args.threads,
        "samples": result["samples"],
        "batch_size": 1,
        **ort_values,
        **result,
        "deploy_platform": deploy_platform_info(path),  # CPU ISA, weight range
    }
    out = config.stage_file(args.stage, "metrics.json")
    write_json(out, report)
    _print(report)
    print(f"metrics written to {out}")
    return report


def _print(report: dict[str, Any]) -> None:
    print(
        f"samples: {report['samples']} (batch 1, ORT level {report['ort_level']}, "
        f"{report['ort_threads']} thread(s))"
    )
    int_values = report["metrics_int_infer_same_inputs"]
    for k, v in report["metrics_ort"].items():
        print(f"{k} (ORT): {v}    {k} (int_infer, same inputs): {int_values.get(k)}")
    for name, o in report["outputs"].items():
        unit = "LSB" if o["lsb"] else "(output units)"
        print(
            f"output {name}: identical {o['identical_fraction']:.6f} (bitwise "
            f"{o['identical_fraction_bitwise']:.6f}), max diff {o['max_diff_lsb']:.4g} {unit} "
            f"(LSB {o['lsb']}), max abs {o['max_abs_diff']:.3g}"
        )


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (validate(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
