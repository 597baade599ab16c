"""Accuracy debugging of a quantized stage:
``tools/quant_analysis.py --config CFG --stage calibration|qat|int_infer [--max-batches N]
[--sensitivity] [--topk-int16 K] --out-dir DIR``.

1. Feature-map similarity: the float model (``float_predictor`` + float checkpoint, after its
   function-preserving ``fuse_model()``, as the quantized stages are built) and the stage model
   (``{stage}_predictor`` and its checkpoint) run on the first N validation batches through
   the predictor's batch processor; every quantized module is compared with the float module
   of the same name (cosine, SQNR, worst-channel SQNR, max error, max error in output
   LSB). Writes ``similarity.{txt,html,json}``.
2. ``--sensitivity``: the task metric (the predictor's metrics, updated by its MetricUpdater's
   function; ranked by the Checkpoint callback's ``monitor_metric_key``/``mode`` unless
   ``--metric-key``/``--metric-mode``) with one module quantized at a time. For ``int_infer``
   the ranking runs on the QAT model (``qat_predictor``) the integer model is converted from.
   Writes ``sensitivity.{txt,html,json}``.
3. ``--topk-int16 K`` (implies ``--sensitivity``): recalibrates the float model twice on the
   ``calibration_trainer`` data, as configured and with the K most sensitive modules in int16
   activations, and evaluates both. Writes ``int16_topk.{txt,json}``,
   ``similarity_int16.{txt,html,json}`` and ``int16_modules_snippet.py`` (the config lines
   that make every stage use those int16 modules).
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
import os
import time
from typing import Any

import torch

from hat.utils.cli import ToolError, add_config_args, run_cli

__all__ = ["main", "build_parser", "analyse"]

PROG = "hat-quant-analysis"
STAGES = ("calibration", "qat", "int_infer")
logger = logging.getLogger("hat.tools.quant_analysis")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_args(p)
    p.add_argument("--stage", required=True, choices=STAGES, help="quantized stage to analyse")
    p.add_argument("--out-dir", default=None, help="default {ckpt_dir}/quant_analysis_{stage}")
    p.add_argument("--max-batches", type=int, default=4, help="validation batches (default 4)")
    p.add_argument("--sensitivity", action="store_true", help="rank modules by metric damage")
    p.add_argument(
        "--sensitivity-modules",
        nargs="+",
        default=None,
        metavar="GLOB",
        help="only rank modules whose names match these patterns (e.g. 'head.*')",
    )
    p.add_argument("--topk-int16", type=int, default=0, metavar="K", help="int16 for the top K")
    p.add_argument("--calib-steps", type=int, default=None, help="recalibration steps")
    p.add_argument("--float-ckpt", default=None, help="float checkpoint (default from config)")
    p.add_argument("--metric-key", default=None, help="metric to rank by (default: Checkpoint's)")
    p.add_argument("--metric-mode", choices=("min", "max"), default=None, help="metric direction")
    p.add_argument("--threshold", type=float, default=0.99, help="flag rows with cosine below")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    return p


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``hat-quant-analysis``)."""
    run_cli(lambda: analyse(build_parser().parse_args(argv)), PROG)


def analyse(args: argparse.Namespace) -> int:
    from hat.quantization.debug import Evaluator, featuremap_similarity
    from hat.tools import quant_analysis_setup as setup
    from hat.utils.logger import default_log_path, init_logger
    from hat.utils.run_config import RunConfig
    from hat.utils.seed import seed_everything

    if args.max_batches <= 0:
        raise ToolError(f"--max-batches must be positive, got {args.max_batches}")
    if args.topk_int16 < 0:
        raise ToolError(f"--topk-int16 must be >= 0, got {args.topk_int16}")
    init_logger(default_log_path("quant_analysis", args.config, args.stage))
    config = RunConfig.load(args.config, args.stage, args.opts)
    cfg = config.cfg
    seed_everything(config.seed if config.seed is not None else 0)
    out_dir = args.out_dir or os.path.join(config.ckpt_dir, f"quant_analysis_{args.stage}")
    device = torch.device(args.device)
    key = f"{args.stage}_predictor"
    pred = setup.predictor_cfg(cfg, key)
    started = time.perf_counter()

    float_model = setup.build_float_model(cfg, args.float_ckpt).to(device)
    reference = setup.fused_reference(float_model)
    quant_model = setup.build_quant_model(cfg, key).to(device)
    batches = setup.cached_batches(pred, key, args.max_batches)
    run = setup.stage_runner(pred, key, device)
    metrics, update = setup.stage_metrics(cfg, pred, key)
    spec = setup.metric_spec(cfg, metrics, args.metric_key, args.metric_mode)
    evaluator = Evaluator(batches, run, metrics, update, spec)
    logger.info("%d batch(es) of %s; models built in %.1f s", len(batches), key,
                time.perf_counter() - started)  # fmt: skip

    summary: dict[str, Any] = {"stage": args.stage, "batches": len(batches), "out_dir": out_dir}
    summary["metric_key"] = spec.key if spec else None
    summary["float_metric"] = evaluator(reference).metric
    summary["stage_metric"] = evaluator(quant_model).metric
    report = featuremap_similarity(reference, quant_model, batches, run, f"{args.stage} vs float")
    summary["files"] = _write_similarity(report, out_dir, "similarity", args.threshold)
    _print_similarity(report, summary)

    if args.sensitivity or args.topk_int16:
        sens_model = quant_model
        if args.stage == "int_infer":
            logger.info("int_infer: the sensitivity ranking runs on qat_predictor's QAT model")
            sens_model = setup.build_quant_model(cfg, "qat_predictor").to(device)
        models = {"float": float_model, "reference": reference, "quant": sens_model}
        summary.update(_sensitivity(args, cfg, models, evaluator, out_dir))
    summary["seconds"] = round(time.perf_counter() - started, 1)
    from hat.tools.deploy_common import write_json

    write_json(os.path.join(out_dir, "summary.json"), _json_safe(summary))
    print(f"reports written to {out_dir}")
    return 0


def _write_similarity(report: Any, out_dir: str, stem: str, threshold: float) -> list[str]:
    from hat.quantization.debug import similarity_html, similarity_text, write_report_files

    text = similarity_text(report, threshold)
    return write_report_files(
        out_dir, stem, text, report.to_dict(), similarity_html(report, threshold)
    )


def _print_similarity(report: Any, summary: dict[str, Any]) -> None:
    from hat.quantization.debug.text_report import fmt

    print(f"metric {summary['metric_key']}: float {fmt(summary['float_metric'], 6)}, "
          f"{summary['stage']} {fmt(summary['stage_metric'], 6)} on {summary['batches']} "
          "batch(es)")  # fmt: skip
    print("lowest cosine:")
    for r in report.worst(8):
        s = r.stats
        print(f"  {r.name:<40} cos {s.cosine:.6f}  SQNR {fmt(s.sqnr_db, 4)} dB  worst ch "
              f"{fmt(s.min_channel_sqnr_db, 4)} dB  max LSB {fmt(s.max_err_lsb, 4)}")  # fmt: skip
    print("lowest worst-channel SQNR:")
    for r in report.worst(5, key="min_channel_sqnr_db"):
        print(f"  {r.name:<40} {fmt(r.stats.min_channel_sqnr_db, 4)} dB")


def _sensitivity(
    args: argparse.Namespace, cfg: Any, models: dict[str, Any], evaluator: Any, out_dir: str
) -> dict[str, Any]:
    """Rank ``models["quant"]``'s modules; ``--topk-int16`` recalibrates ``models["float"]``."""
    from hat.quantization.debug import (
        pick_int16_modules,
        sensitivity_candidates,
        sensitivity_html,
        sensitivity_ranking,
        sensitivity_text,
        write_report_files,
    )

    model = models["quant"]
    names = sensitivity_candidates(model)
    if args.sensitivity_modules:
        pats = args.sensitivity_modules
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in pats)]
        if not names:
            raise ToolError(f"--sensitivity-modules {' '.join(pats)} matches no quantized module")
    logger.info("sensitivity: %d modules x %d batch(es)", len(names), len(evaluator.batches))
    report = sensitivity_ranking(model, evaluator, names, float_model=models["reference"])
    out: dict[str, Any] = {"sensitivity_top": [r.to_dict() for r in report.top(10)]}
    cmp = None
    if args.topk_int16:
        modules = pick_int16_modules(report, model, args.topk_int16)
        if not modules:
            raise ToolError("--topk-int16: no ranked module has an output scale to raise")
        cmp = _int16(args, cfg, modules, models, evaluator, out_dir)
        out["int16"] = cmp.to_dict()
    text = sensitivity_text(report)
    files = write_report_files(
        out_dir, "sensitivity", text, report.to_dict(), sensitivity_html(report, cmp)
    )
    out["sensitivity_files"] = files
    print(text if len(report.rows) <= 20 else "\n".join(text.splitlines()[:26]) + "\n...")
    return out


def _int16(
    args: argparse.Namespace,
    cfg: Any,
    modules: list[str],
    models: dict[str, Any],
    evaluator: Any,
    out_dir: str,
) -> Any:
    from hat.quantization.debug import (
        compare_int16,
        config_snippet,
        featuremap_similarity,
        int16_text,
        write_report_files,
    )
    from hat.tools import quant_analysis_setup as setup
    from hat.utils.file_io import atomic_write

    trainer, steps = setup.calibration_setup(cfg, args.calib_steps)
    calib = setup.cached_batches(trainer, "calibration_trainer", steps, cycle=True)
    calib_run = setup.stage_runner(trainer, "calibration_trainer", torch.device(args.device))
    prepare_kwargs = setup.calibration_prepare_kwargs(trainer)
    cmp = compare_int16(
        models["float"], modules, calib, evaluator, calib_run, prepare_kwargs=prepare_kwargs
    )
    key = evaluator.spec.key if evaluator.spec else None
    text = int16_text(cmp, key)
    write_report_files(out_dir, "int16_topk", text, cmp.to_dict())
    snippet = config_snippet(modules).encode()
    atomic_write(os.path.join(out_dir, "int16_modules_snippet.py"), lambda f: f.write(snippet))
    sim = featuremap_similarity(
        models["reference"],
        cmp.models["int16"],
        evaluator.batches,
        evaluator.run,
        "int16 top-k vs float",
    )
    _write_similarity(sim, out_dir, "similarity_int16", args.threshold)
    print(text)
    return cmp


def _json_safe(data: Any) -> Any:
    import json

    from hat.quantization.debug import to_json

    return json.loads(to_json(data))


if __name__ == "__main__":
    main()
