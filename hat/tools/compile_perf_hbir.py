"""Compile/perf report of the fixed-point model: ``tools/compile_perf_hbir.py --config CFG``.

Instead of compiling a closed HBM file, ONNX Runtime optimises the exported QDQ ONNX file
(``{ckpt_dir}/{task}.int.onnx``, from export_hbir) and saves the optimised graph at EXTENDED
(``{task}.int.opt.onnx``, hardware independent). Reports op-type counts (integer vs float),
MACs, parameters, weight bytes, the measured ORT latency (median of N runs after warm-up, intra-op
threads stated), FPS, and an analytical latency ESTIMATE for an accelerator described in the
config's ``compile_cfg`` (``tops``, ``bandwidth_gbps``, ``efficiency``; defaults if absent):
``max(MACs*2 / (TOPS*efficiency), bytes / bandwidth)``. Writes ``{task}.perf.json`` and
``{task}.perf.html`` into ckpt_dir. The report itself is
:func:`hat.quantization.perf_report.measure_perf`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from hat.tools.deploy_common import (
    FORMAT_NOTE,
    add_exported_model_arg,
    deploy_parser,
    exported_model_path,
    write_json,
)
from hat.utils.cli import ToolError, add_config_args, run_cli
from hat.utils.run_config import RunConfig

__all__ = ["main", "perf"]
PROG = "hat-compile-perf-hbir"


def build_parser() -> argparse.ArgumentParser:
    p = deploy_parser(PROG, __doc__)
    add_config_args(p)
    add_exported_model_arg(p)
    p.add_argument("--runs", type=int, default=None, help="timed runs (compile_cfg perf_runs)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up runs (compile_cfg)")
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (default 1)")
    return p


def perf(args: argparse.Namespace) -> dict:
    from hat.quantization.perf_report import PerfSettings, measure_perf
    from hat.registry import build_from_registry
    from hat.utils.file_io import atomic_write

    config = RunConfig.load(args.config, "int_infer", args.opts)
    path = exported_model_path(config, args.model)
    settings = PerfSettings.from_mapping(config.compile_cfg(), f"config {config.path}: compile_cfg")
    if args.runs is not None:
        settings = dataclasses.replace(settings, perf_runs=args.runs)
    if args.warmup is not None:
        settings = dataclasses.replace(settings, warmup_runs=args.warmup)
    if settings.perf_runs < 1 or settings.warmup_runs < 0:
        raise ToolError("--runs must be >= 1 and --warmup >= 0")
    key, spec = config.deploy_model_spec()  # the network the file was exported from
    model = build_from_registry(spec, key)
    report = measure_perf(path, model, config.deploy_inputs(), settings, threads=args.threads)
    stem = os.path.splitext(path)[0].removesuffix(".int")
    write_json(stem + ".perf.json", report.to_dict())
    page = report.render_html(FORMAT_NOTE).encode()
    atomic_write(stem + ".perf.html", lambda f: f.write(page))
    print(report.render_text())
    return report.to_dict()


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (perf(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
