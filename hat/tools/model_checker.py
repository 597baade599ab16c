"""Check that a model can run as an integer model: ``tools/model_checker.py --config CFG``.

Builds the quantized deploy model from the config's float ``model`` (fuse_model, set_qconfig,
prepare, one calibration pass on ``deploy_inputs``, convert), exports it to QDQ ONNX in a
temporary folder and lets ONNX Runtime optimise it (EXTENDED). Prints every module with how it
will run (integer kernel, data movement, or named float island with the reason), and flags:
Conv-BN pairs left unfused, modules called more than once per forward (they would share one
output scale), quantizable ops without a qconfig, model inputs/outputs that are not quantized,
and convolutions that ORT does not run as integer kernels. Prints the share of MACs on integer
kernels. Exit status 0: integer model; 2: it cannot run as one (reasons printed).
No checkpoint is needed (structure only).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from typing import Any

import torch
from torch import nn

from hat.tools.deploy_common import (
    FORMAT_NOTE,
    deploy_inputs,
    deploy_model_spec,
    load_stage_config,
)
from hat.utils.cli import run_cli

__all__ = ["main", "check_model"]
PROG = "hat-model-checker"

# why a module runs as a float island (ORT 1.x has no integer kernel for it)
FLOAT_ISLAND_REASONS = {
    "Warp": (
        "bilinear warp: ORT has no integer GridSample; DQ -> explicit float32 bilinear formula "
        "(Floor/Mul/Add/GatherElements, bit-exact with the int model) -> Q island"
    ),
    "Interpolate(bilinear)": "ORT has no integer linear Resize; DQ -> Resize -> Q island",
}
QUANTIZABLE = (
    "ConvModule2d",
    "Conv2d",
    "Add",
    "Mul",
    "MulScalar",
    "Concat",
    "Interpolate",
    "Correlation",
    "Warp",
    "QuantStub",
    "DeQuantStub",
    "Sigmoid",
    "Softmax",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__ + "\n" + FORMAT_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", "-c", required=True)
    p.add_argument(
        "--min-integer-share",
        type=float,
        default=0.95,
        help="fail below this share of MACs on integer kernels (default 0.95)",
    )
    p.add_argument("--quiet", action="store_true", help="do not list every module")
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE")
    return p


def _call(model: nn.Module, inputs: dict[str, Any]) -> Any:
    from hat.quantization.export_onnx import _call_model

    return _call_model(model, inputs, "auto")


def _leaf_macs(model: nn.Module, inputs: dict[str, Any]) -> tuple[dict[str, int], int]:
    from hat.tools.calops import count_ops

    macs = count_ops(model, inputs if _wants_dict(model) else inputs)
    root = type(model).__name__
    leaves = {n for n, m in model.named_modules() if n and not list(m.children())}
    out = {}
    for key, v in macs.items():
        name = key[len(root) + 1 :] if key.startswith(root + ".") else None
        if name in leaves:
            out[name] = int(v)
    return out, int(macs.get("Global", sum(out.values())))


def _warp_macs(model: nn.Module, inputs: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    handles = [
        m.register_forward_hook(lambda mod, a, o, n=n: out.__setitem__(n, 4 * int(o.numel())))
        for n, m in model.named_modules()
        if type(m).__name__ == "Warp"
    ]
    with torch.no_grad():
        _call(model, inputs)
    for h in handles:
        h.remove()
    return out


def _wants_dict(model: nn.Module) -> bool:
    return True


def check_model(cfg: Any, min_integer_share: float = 0.95, quiet: bool = False) -> dict:
    from hat.engine.calibrator import Calibrator
    from hat.quantization import (
        FakeQuantState,
        convert,
        prepare_qat,
        set_fake_quantize,
    )
    from hat.quantization.export_onnx import export_int_model_to_onnx
    from hat.quantization.ort_runner import classify_ops, optimized_op_counts
    from hat.registry import build_from_registry

    problems: list[str] = []
    warnings: list[str] = []
    inputs = deploy_inputs(cfg)
    key, spec = deploy_model_spec(cfg)  # the network that ships
    float_model = build_from_registry(spec, key).eval()

    # 1. calls per module (shared modules share one output scale)
    calls: collections.Counter = collections.Counter()
    handles = [
        m.register_forward_hook(lambda mod, a, o, n=n: calls.update([n]))
        for n, m in float_model.named_modules()
        if n
    ]
    with torch.no_grad():
        _call(float_model, inputs)
    for h in handles:
        h.remove()
    for n, c in sorted(calls.items()):
        m = float_model.get_submodule(n)
        if c > 1 and type(m).__name__ in QUANTIZABLE:
            problems.append(
                f"module {n} ({type(m).__name__}) is called {c} times per forward: "
                "its calls would share one output scale; use one module per call"
            )

    # 2. Conv-BN pairs that fusion cannot fold (BN not inside a ConvModule2d)
    for n, m in float_model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            parent = float_model.get_submodule(n.rsplit(".", 1)[0]) if "." in n else float_model
            if type(parent).__name__ != "ConvModule2d":
                problems.append(
                    f"unfused BatchNorm {n}: not part of a ConvModule2d "
                    "(conv-bn-act); it cannot be folded into a conv"
                )

    macs, total_macs = _leaf_macs(float_model, inputs)
    # grid_sample is not counted by torch's flop counter: bilinear warp = 4 MACs per output
    warp_macs = _warp_macs(float_model, inputs)
    macs.update(warp_macs)
    total_macs += sum(warp_macs.values())
    n_convs = sum(isinstance(m, nn.Conv2d) for m in float_model.modules())

    # 3. prepare, qconfig coverage, calibrate on the deploy input, convert
    model = build_from_registry(spec, key).eval()
    if hasattr(model, "fuse_model"):
        model.fuse_model()
    if hasattr(model, "set_qconfig"):
        model.set_qconfig()
    if getattr(model, "qconfig", None) is None:
        from hat.quantization import default_set_qconfig

        default_set_qconfig(model)
    qconfig_of = {}
    for n, m in model.named_modules():
        qconfig_of[n] = getattr(m, "qconfig", None)
    inherited: dict[str, Any] = {}
    for n, m in model.named_modules():
        parent = n.rsplit(".", 1)[0] if "." in n else ""
        q = m.qconfig if hasattr(m, "qconfig") else inherited.get(parent) if n else None
        inherited[n] = q
        if n and type(m).__name__ in QUANTIZABLE and q is None:
            warnings.append(f"{n} ({type(m).__name__}) has no qconfig: it stays float")
    try:
        prepare_qat(model, inplace=True, state=FakeQuantState.CALIBRATION)
        Calibrator(
            model,
            [inputs],
            num_steps=1,
            device="cpu",  # the deploy inputs, conversion and export stay on the CPU
            batch_processor=lambda s, b, m, d=None, **k: _call(m, b),
        ).fit()
        set_fake_quantize(model, FakeQuantState.VALIDATION)
        int_model = convert(model)
    except Exception as exc:  # noqa: BLE001 - reported as a checker finding
        problems.append(f"conversion to an integer model failed: {type(exc).__name__}: {exc}")
        return _finish(problems, warnings, {}, None, quiet)

    # 4. export and what ORT makes of it
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check.int.onnx")
        try:
            rep = export_int_model_to_onnx(int_model, inputs, path)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"ONNX export failed: {type(exc).__name__}: {exc}")
            return _finish(problems, warnings, {}, None, quiet)
        counts = dict(optimized_op_counts(path))
        import onnx

        graph = onnx.load(path).graph
    classes = classify_ops(counts)
    n_int_convs = counts.get("QLinearConv", 0) + counts.get("ConvInteger", 0)
    if n_int_convs < n_convs:
        problems.append(
            f"only {n_int_convs} of {n_convs} convolutions run as integer kernels "
            f"in ORT (float convs: {counts.get('Conv', 0) + counts.get('FusedConv', 0)})"
        )
    islands = set(rep.float_islands)
    unexpected_float = {
        k: v for k, v in classes.get("float_compute", {}).items() if k not in ("GridSample",)
    }
    if unexpected_float:
        problems.append(
            f"float compute ops in the ORT graph outside named islands: {unexpected_float}"
        )
    consumers = collections.defaultdict(list)
    producers = {}
    for node in graph.node:
        for i in node.input:
            consumers[i].append(node.op_type)
        for o in node.output:
            producers[o] = node.op_type
    for inp in graph.input:
        ops = consumers.get(inp.name, [])
        if not ops or any(op != "QuantizeLinear" for op in ops):
            problems.append(f"model input {inp.name} is not quantized first (consumers: {ops})")

    # 5. per-module listing and the integer share of MACs
    rows = []
    float_macs = 0
    float_after_dequant = _float_post(int_model)
    for name, im in int_model.named_modules():
        if not name or (list(im.children()) and name not in islands):
            continue
        if any(name.startswith(i + ".") for i in islands):
            continue
        kind = type(im).__name__
        mac = sum(v for k, v in macs.items() if k == name or k.startswith(name + "."))
        if name in islands:
            base = type(float_model.get_submodule(name)).__name__
            how = "float island: " + FLOAT_ISLAND_REASONS.get(base, "no integer ORT kernel")
            float_macs += mac
        elif name in float_after_dequant:
            how = "float post-processing after DeQuantStub (model output)"
            float_macs += mac
        elif "Conv" in kind:
            how = "integer kernel (QLinearConv / ConvInteger)"
        elif kind in ("IntAdd", "IntMul", "IntMulScalar", "IntConcat", "IntSigmoid", "IntSoftmax"):
            dtype = str(getattr(im, "out_qdtype", ""))
            if "16" in dtype:
                how = "int16 activations: DQ -> op -> Q (float elementwise in ORT)"
                float_macs += mac
            else:
                how = "integer kernel (QLinear*)"
        elif kind == "IntCorrelation":
            how = "integer elementwise ONNX ops (int32 Mul/ReduceSum)"
        elif kind == "IntInterpolate":
            mode = getattr(im, "mode", "")
            if mode == "bilinear":
                how = "float island: " + FLOAT_ISLAND_REASONS["Interpolate(bilinear)"]
                float_macs += mac
            else:
                how = "integer (Resize on uint8)"
        elif kind in ("IntQuantStub", "IntDeQuantStub"):
            how = "QuantizeLinear / DequantizeLinear"
        else:
            how = "data movement / not mapped (float)" if mac == 0 else "float"
            float_macs += mac
        rows.append((name, kind, how, mac))
    share = 1.0 - float_macs / total_macs if total_macs else 1.0
    if share < min_integer_share:
        problems.append(f"integer MAC share {share:.4f} is below {min_integer_share}")
    if not quiet:
        w = max(len(r[0]) for r in rows) if rows else 10
        print(f"{'module'.ljust(w)}  {'int module'.ljust(18)}  {'MACs':>12}  how it runs")
        for name, kind, how, mac in rows:
            print(f"{name.ljust(w)}  {kind.ljust(18)}  {mac:>12}  {how}")
    print(f"\nORT (EXTENDED) op classes: {classes}")
    print(f"convolutions: {n_convs}, integer conv kernels in ORT: {n_int_convs}")
    print(f"float islands: {', '.join(sorted(islands)) or 'none'}")
    for name in sorted(islands):
        base = type(float_model.get_submodule(name)).__name__
        print(f"  {name}: {FLOAT_ISLAND_REASONS.get(base, 'no integer ORT kernel')}")
    print(
        f"MACs total {total_macs}, on integer kernels {total_macs - float_macs} "
        f"({100 * share:.2f} %)"
    )
    summary = dict(
        integer_mac_share=share,
        total_macs=total_macs,
        convs=n_convs,
        integer_convs=n_int_convs,
        float_islands=sorted(islands),
        ort_ops=counts,
    )
    return _finish(problems, warnings, summary, share, quiet)


def _float_post(int_model: nn.Module) -> set[str]:
    """Modules that only see float inputs (after the last DeQuantStub), e.g. PwcnetTask's
    final resize and x stride."""
    names = set()
    for n in ("out_resize", "out_scale"):
        if hasattr(int_model, n):
            names.add(n)
    return names


def _finish(problems, warnings, summary, share, quiet) -> dict:
    for w in warnings:
        print(f"warning: {w}")
    for p in problems:
        print(f"problem: {p}")
    ok = not problems
    print(
        "RESULT: "
        + (
            "the model runs as an integer model"
            if ok
            else "the model CANNOT run as an integer model"
        )
    )
    summary.update(ok=ok, problems=problems, warnings=warnings)
    return summary


def run(args: argparse.Namespace) -> int:
    cfg = load_stage_config(args.config, "int_infer", args.opts)
    deploy_model_spec(cfg)  # a clear error when the config has no model
    result = check_model(cfg, args.min_integer_share, args.quiet)
    if not result["ok"]:
        print(
            f"{PROG}: error: the model cannot run as an integer model "
            f"({len(result['problems'])} problem(s), see above)",
            file=sys.stderr,
        )
        return 2
    return 0


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: run(build_parser().parse_args(argv)), PROG)


if __name__ == "__main__":
    main()
