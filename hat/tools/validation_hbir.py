"""On-board style accuracy check: ``tools/validation_hbir.py --stage align_bpu --config CFG``.

Runs the exported fixed-point ONNX file (``{ckpt_dir}/{task}.int.onnx``, from export_hbir) with
ONNX Runtime (ENABLE_ALL: the integer QLinear* kernels) over the validation set at batch 1, with
the deployment preprocessing (the config's ``val_batch_processor.batch_transforms``), reports
the EPE, and compares every output with the PyTorch integer model (``int_infer``) on the same
inputs: fraction of identical elements and max difference in LSBs. PwcNet's outputs are the
quantized flow dequantized, resized bilinearly and multiplied by the stride (float
post-processing), so the LSB is ``stride * scale`` of the quantized flow (read from the int
model's DeQuantStub) and "identical" is reported both bit for bit and at LSB resolution
(|diff| < 0.01 LSB: the float post-processing of ORT and torch may differ by float32 rounding).
Writes ``{ckpt_dir}/align_bpu-metrics.json``.
"""

from __future__ import annotations

import argparse
import os
import time
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


def _lsb(model: torch.nn.Module, probe: OutputScaleProbe) -> float | None:
    if not probe.scales:
        return None
    lvl = getattr(model, "flow_pred_lvl", None)
    names = [n for n in probe.scales if lvl is not None and n.endswith(f"l{lvl}")]
    scale = probe.scales[names[0]] if names else min(probe.scales.values())
    return scale * float(getattr(model, "stride", 1))


def validate(args: argparse.Namespace) -> dict[str, Any]:
    from hat.metrics.epe import EndPointError
    from hat.quantization.ort_runner import make_session
    from hat.registry import build_from_registry

    cfg = load_stage_config(args.config, args.stage, args.opts)
    path = args.model or int_onnx_path(cfg)
    if not os.path.isfile(path):
        raise ToolError(f"no exported model at {path}: run tools/export_hbir.py first")
    key = "align_bpu_predictor" if "align_bpu_predictor" in cfg else "int_infer_predictor"
    model = build_stage_model(cfg, key)
    loaders = cfg[key]["data_loader"]
    loader_cfg = dict(loaders[0] if isinstance(loaders, (list, tuple)) else loaders)
    loader_cfg["batch_size"] = 1
    loader_cfg["shuffle"] = False
    loader = build_from_registry(loader_cfg, f"{key}.data_loader")
    specs = cfg["val_batch_processor"].get("batch_transforms") or []
    transforms = list(build_from_registry(list(specs), "val_batch_processor.batch_transforms"))
    sess = make_session(path, args.level, threads=args.threads)
    in_names = [i.name for i in sess.get_inputs()]
    out_names = [o.name for o in sess.get_outputs()]
    probe = OutputScaleProbe(model)
    epe_ort, epe_int = EndPointError(), EndPointError()
    stats = {
        n: dict(n=0, bit_identical=0, lsb_identical=0, max_abs=0.0, max_lsb=0.0) for n in out_names
    }
    lsb_unit = None
    t0 = time.perf_counter()
    count = 0
    for batch in loader:
        for t in transforms:
            batch = t(batch)
        feeds = {n: batch[n].detach().cpu().numpy().astype(np.float32) for n in in_names}
        ort_outs = sess.run(None, feeds)
        with torch.no_grad():
            y_int = model({n: batch[n] for n in in_names})
        int_outs = (
            list(y_int.values())
            if isinstance(y_int, dict)
            else (list(y_int) if isinstance(y_int, (list, tuple)) else [y_int])
        )
        if lsb_unit is None:
            lsb_unit = _lsb(model, probe)
        for name, yo, yi in zip(out_names, ort_outs, int_outs):
            yi = yi.detach().float().cpu().numpy()
            if yo.shape != yi.shape:
                raise ToolError(f"output {name}: ORT shape {yo.shape} vs int model {yi.shape}")
            d = np.abs(yo.astype(np.float64) - yi.astype(np.float64))
            s = stats[name]
            s["n"] += d.size
            s["bit_identical"] += int((yo == yi).sum())
            s["max_abs"] = max(s["max_abs"], float(d.max()))
            if lsb_unit:
                dl = d / lsb_unit
                s["lsb_identical"] += int((dl < LSB_TOLERANCE).sum())
                s["max_lsb"] = max(s["max_lsb"], float(dl.max()))
        if "gt_flow" in batch:
            gt = batch["gt_flow"]
            epe_ort.update(gt, torch.from_numpy(ort_outs[0]))
            epe_int.update(gt, int_outs[0].float())
        count += 1
        if args.max_samples and count >= args.max_samples:
            break
    probe.remove()
    if count == 0:
        raise ToolError("the validation loader yielded no samples")
    outputs = {}
    for name, s in stats.items():
        outputs[name] = {
            "elements": s["n"],
            "identical_fraction_bitwise": s["bit_identical"] / s["n"],
            "identical_fraction": (s["lsb_identical"] / s["n"]) if lsb_unit else None,
            "max_diff_lsb": s["max_lsb"] if lsb_unit else None,
            "max_abs_diff": s["max_abs"],
            "lsb": lsb_unit,
        }
    report = {
        "stage": args.stage,
        "model": path,
        "ort_level": args.level,
        "ort_threads": args.threads,
        "samples": count,
        "batch_size": 1,
        "EPE": epe_ort.get_dict().get("EPE") if epe_ort is not None else None,
        "int_infer_EPE_same_inputs": epe_int.get_dict().get("EPE"),
        "outputs": outputs,
        "identical_fraction": min(o["identical_fraction"] or 0.0 for o in outputs.values()),
        "max_diff_lsb": max(o["max_diff_lsb"] or 0.0 for o in outputs.values()),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    out = os.path.join(cfg["ckpt_dir"], f"{args.stage}-metrics.json")
    write_json(out, report)
    print(f"samples: {count} (batch 1, ORT level {args.level}, {args.threads} thread(s))")
    print(f"EPE (ORT): {report['EPE']}")
    print(f"EPE (int_infer, same inputs): {report['int_infer_EPE_same_inputs']}")
    for name, o in outputs.items():
        print(
            f"output {name}: identical {o['identical_fraction']} (bitwise "
            f"{o['identical_fraction_bitwise']:.6f}), max diff {o['max_diff_lsb']} LSB "
            f"(LSB {o['lsb']}), max abs {o['max_abs_diff']:.3g}"
        )
    print(f"metrics written to {out}")
    return report


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (validate(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
