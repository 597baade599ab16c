"""On-board style accuracy check: ``tools/validation_hbir.py --stage align_bpu --config CFG``.

Runs the exported fixed-point ONNX file (``{ckpt_dir}/{task}.int.onnx``, from export_hbir) with
ONNX Runtime (ENABLE_ALL: the integer QLinear* kernels) over the validation set at batch 1, with
the deployment preprocessing (the config's ``val_batch_processor.batch_transforms``), reports
the task metrics (``align_bpu_predictor.metrics`` updated by the config's top-level
``update_metric(metrics, batch, model_outs)``), and compares every output with the PyTorch
integer model (``int_infer``) on the same inputs: fraction of bit-identical elements, fraction
identical at LSB resolution (|diff| < 0.01 LSB) and max difference in LSBs. The LSB of an output
is the scale of the quantized tensor it is dequantized from (times any float post-processing
gain the model declares with ``deploy_output_lsb``; PwcNet: the stride of its final resize).
Writes ``{ckpt_dir}/align_bpu-metrics.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from hat.tools.deploy_common import (
    FORMAT_NOTE,
    OutputScaleProbe,
    build_stage_model,
    int_onnx_path,
    load_stage_config,
    write_json,
)
from hat.utils.cli import ToolError, run_cli

__all__ = ["main", "validate"]
PROG = "hat-validation-hbir"
LSB_TOLERANCE = 0.01


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__ + "\n" + FORMAT_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stage", default="align_bpu", choices=["align_bpu"])
    p.add_argument("--config", "-c", required=True)
    p.add_argument("--model", default=None, help="ONNX file (default {ckpt_dir}/{task}.int.onnx)")
    p.add_argument("--level", default="all", help="ORT optimisation level (default all)")
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (default 1)")
    p.add_argument("--max-samples", type=int, default=0, help="0: the whole validation set")
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE")
    return p


def _output_lsbs(model: torch.nn.Module, probe: OutputScaleProbe, n: int) -> list[float | None]:
    """The LSB of each output: ``model.deploy_output_lsb(scales)`` when the model defines it
    (e.g. PwcNet: its quantized flow's scale times the stride of the float post-processing),
    else the scale of the model's single DeQuantStub; None when unknown (integer outputs such
    as class maps count differences in their own units)."""
    fn = getattr(model, "deploy_output_lsb", None)
    if callable(fn):
        lsbs = list(fn(dict(probe.scales)))
    elif len(probe.scales) == 1:
        lsbs = [next(iter(probe.scales.values()))] * n
    else:
        lsbs = [None] * n
    return (lsbs + [None] * n)[:n]


def _like(ort_outs: list[np.ndarray], y_int: Any, names: list[str]) -> Any:
    """ORT's outputs arranged like the int model's (tensor, list or dict)."""
    ts = [torch.from_numpy(o) for o in ort_outs]
    if isinstance(y_int, torch.Tensor):
        return ts[0]
    if isinstance(y_int, Mapping):
        return dict(zip(y_int.keys(), ts))
    return type(y_int)(ts) if isinstance(y_int, (list, tuple)) else ts


def validate(args: argparse.Namespace) -> dict[str, Any]:
    from hat.infer import flatten_outputs
    from hat.quantization.ort_runner import make_session
    from hat.registry import build_from_registry

    cfg = load_stage_config(args.config, args.stage, args.opts)
    path = args.model or int_onnx_path(cfg)
    if not os.path.isfile(path):
        raise ToolError(f"no exported model at {path}: run tools/export_hbir.py first")
    key = "align_bpu_predictor" if "align_bpu_predictor" in cfg else "int_infer_predictor"
    update_metric = cfg.get("update_metric")
    if not callable(update_metric):
        raise ToolError(
            "the config has no top-level update_metric(metrics, batch, model_outs) function"
        )
    metric_specs = cfg[key].get("metrics") or []
    if not metric_specs:
        raise ToolError(f"{key}.metrics is empty: nothing to report")
    model = build_stage_model(cfg, key)
    loaders = cfg[key]["data_loader"]
    loader_cfg = dict(loaders[0] if isinstance(loaders, (list, tuple)) else loaders)
    loader_cfg["batch_size"] = 1
    loader_cfg["shuffle"] = False
    loader = build_from_registry(loader_cfg, f"{key}.data_loader")
    specs = cfg["val_batch_processor"].get("batch_transforms") or []
    transforms = list(build_from_registry(list(specs), "val_batch_processor.batch_transforms"))
    metrics_ort = build_from_registry(list(metric_specs), f"{key}.metrics")
    metrics_int = build_from_registry(list(metric_specs), f"{key}.metrics")
    sess = make_session(path, args.level, threads=args.threads)
    in_names = [i.name for i in sess.get_inputs()]
    out_names = [o.name for o in sess.get_outputs()]
    probe = OutputScaleProbe(model)
    stats = {
        n: dict(n=0, bit_identical=0, lsb_identical=0, max_abs=0.0, max_lsb=0.0) for n in out_names
    }
    lsbs: list[float | None] | None = None
    t0 = time.perf_counter()
    count = 0
    for batch in loader:
        for t in transforms:
            batch = t(batch)
        missing = [n for n in in_names if n not in batch]
        if missing:
            raise ToolError(f"the validation batch lacks the model inputs {missing}")
        feeds = {n: batch[n].detach().cpu().numpy().astype(np.float32) for n in in_names}
        ort_outs = sess.run(None, feeds)
        with torch.no_grad():
            y_int = model({n: batch[n] for n in in_names})
        int_outs = flatten_outputs(y_int)
        if lsbs is None:
            lsbs = _output_lsbs(model, probe, len(out_names))
        for name, yo, yi, lsb in zip(out_names, ort_outs, int_outs, lsbs):
            yi = yi.detach().cpu().numpy()
            if yo.shape != yi.shape:
                raise ToolError(f"output {name}: ORT shape {yo.shape} vs int model {yi.shape}")
            d = np.abs(yo.astype(np.float64) - yi.astype(np.float64))
            s = stats[name]
            s["n"] += d.size
            s["bit_identical"] += int((yo == yi).sum())
            s["max_abs"] = max(s["max_abs"], float(d.max()))
            dl = d / (lsb or 1.0)
            s["lsb_identical"] += int((dl < LSB_TOLERANCE).sum())
            s["max_lsb"] = max(s["max_lsb"], float(dl.max()))
        update_metric(metrics_ort, batch, _like(ort_outs, y_int, out_names))
        update_metric(metrics_int, batch, y_int)
        count += 1
        if args.max_samples and count >= args.max_samples:
            break
    probe.remove()
    if count == 0:
        raise ToolError("the validation loader yielded no samples")
    outputs = {}
    for (name, s), lsb in zip(stats.items(), lsbs or []):
        outputs[name] = {
            "elements": s["n"],
            "identical_fraction_bitwise": s["bit_identical"] / s["n"],
            "identical_fraction": s["lsb_identical"] / s["n"],
            "max_diff_lsb": s["max_lsb"],
            "max_abs_diff": s["max_abs"],
            "lsb": lsb,
        }
    ort_values = _metric_values(metrics_ort)
    int_values = _metric_values(metrics_int)
    report = {
        "stage": args.stage,
        "model": path,
        "ort_level": args.level,
        "ort_threads": args.threads,
        "samples": count,
        "batch_size": 1,
        **ort_values,
        "metrics_ort": ort_values,
        "metrics_int_infer_same_inputs": int_values,
        "outputs": outputs,
        "identical_fraction": min(o["identical_fraction"] for o in outputs.values()),
        "identical_fraction_bitwise": min(
            o["identical_fraction_bitwise"] for o in outputs.values()
        ),
        "max_diff_lsb": max(o["max_diff_lsb"] for o in outputs.values()),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    out = os.path.join(cfg["ckpt_dir"], f"{args.stage}-metrics.json")
    write_json(out, report)
    print(f"samples: {count} (batch 1, ORT level {args.level}, {args.threads} thread(s))")
    for k, v in ort_values.items():
        print(f"{k} (ORT): {v}    {k} (int_infer, same inputs): {int_values.get(k)}")
    for name, o in outputs.items():
        unit = "LSB" if o["lsb"] else "(output units)"
        print(
            f"output {name}: identical {o['identical_fraction']:.6f} (bitwise "
            f"{o['identical_fraction_bitwise']:.6f}), max diff {o['max_diff_lsb']:.4g} {unit} "
            f"(LSB {o['lsb']}), max abs {o['max_abs_diff']:.3g}"
        )
    print(f"metrics written to {out}")
    return report


def _metric_values(metrics: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in metrics if isinstance(metrics, (list, tuple)) else [metrics]:
        for k, v in m.get_dict().items():
            out[k] = float(v) if isinstance(v, (int, float, np.floating)) else v
    return out


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (validate(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
