"""Cost of quantization in torch: QAT training step vs float step, integer-model eval vs float.

Model: ``BenchNet`` from ``bench_quant_latency.py`` (hat.nn blocks). The QAT model is prepared
with the default ``ort_u8s8`` qconfig (BN folded with batch statistics, per-channel weight fake
quant, output fake quant after every op) and calibrated first. Float and quantized rounds
alternate call by call to cancel machine drift; medians (and minima) over calls.

With ``--config CFG`` the model is the config's task model instead: the training step runs
on one real batch of the config's ``data_loader`` (its data must be packed) with the
``batch_processor``'s batch transforms and the task's losses; the QAT model comes from
``Float2Calibration`` (the task's own ``fuse_model``/``set_qconfig``), calibrated on that batch;
evaluation runs at the config's ``deploy_inputs`` size.

Goals: QAT step / float step <= 1.5; integer-model eval / float eval <= 3.

    python benchmarks/bench_quant_step.py [--threads 2] [--rounds 5] [--steps 5]
    python benchmarks/bench_quant_step.py --threads 1 --clock cpu   # stable on a busy machine
    python benchmarks/bench_quant_step.py --config configs/.../pwcnet_..._demo.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_quant_latency import build  # noqa: E402

from hat.quantization import (  # noqa: E402
    FakeQuantState,
    convert,
    default_set_qconfig,
    prepare_qat,
    set_fake_quantize,
)

CLOCK = time.perf_counter


def _per_call(fn, n: int) -> float:
    t = CLOCK()
    for _ in range(n):
        fn()
    return (CLOCK() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--train-shape", default="4,3,192,256")
    ap.add_argument("--eval-shape", default="1,3,384,512")
    ap.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "cpu"],
        help="cpu: process CPU time (robust on a shared machine; use with --threads 1)",
    )
    ap.add_argument("--config", default=None, help="benchmark this config's task model")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    fns = config_fns(args.config) if args.config else benchnet_fns(args)
    report(fns, args, args.config or f"BenchNet, train {args.train_shape}, eval {args.eval_shape}")


def config_fns(path: str) -> dict:
    """Step and eval callables for a config's task model (see module doc)."""
    import copy

    from hat.quantization.converters import Calibration2QAT, Float2Calibration, QAT2Quantize
    from hat.registry import build_from_registry
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(path)
    loader_cfg = dict(config.require("data_loader", "the training data loader", dict))
    loader_cfg.update(num_workers=0, shuffle=False)
    loader_cfg.pop("sampler", None)
    batch = next(iter(build_from_registry(loader_cfg, "data_loader")))
    transforms = config.get("batch_processor.batch_transforms") or []
    for t in build_from_registry(list(transforms), "batch_processor.batch_transforms"):
        batch = t(batch)
    inputs = {k: torch.rand(v.shape) * 2 - 1 for k, v in config.deploy_inputs().items()}

    def losses(model) -> torch.Tensor:
        out = model(batch)["losses"]
        vals = out.values() if isinstance(out, dict) else out
        return sum(v.sum() for v in vals)

    float_model = build_from_registry(config.model_spec(), "model").train()
    qat_model = Float2Calibration()(copy.deepcopy(float_model)).eval()
    with torch.no_grad():
        qat_model(dict(batch))
    qat_model = Calibration2QAT()(qat_model).train()

    def step_fn(model, opt):
        def step():
            opt.zero_grad(set_to_none=True)
            losses(model).backward()
            opt.step()

        return step

    eval_float = copy.deepcopy(float_model).eval()
    int_model = QAT2Quantize()(copy.deepcopy(qat_model).eval())
    qat_model = Calibration2QAT()(qat_model).train()

    def evaluator(model):
        def run():
            with torch.no_grad():
                model(dict(inputs))

        return run

    return {
        "float_step": step_fn(float_model, torch.optim.SGD(float_model.parameters(), lr=1e-6)),
        "qat_step": step_fn(qat_model, torch.optim.SGD(qat_model.parameters(), lr=1e-6)),
        "float_eval": evaluator(eval_float),
        "int_eval": evaluator(int_model),
    }


def benchnet_fns(args: argparse.Namespace) -> dict:
    """Step and eval callables for ``BenchNet``."""
    tshape = tuple(int(v) for v in args.train_shape.split(","))
    eshape = tuple(int(v) for v in args.eval_shape.split(","))
    g = torch.Generator().manual_seed(0)
    xt = torch.rand(*tshape, generator=g) * 2 - 1
    xe = torch.rand(*eshape, generator=g) * 2 - 1

    float_model = build().train()
    with torch.no_grad():
        target = float_model(xt).detach() * 0.5
    qat_model = build()
    default_set_qconfig(qat_model)
    prepare_qat(qat_model)
    qat_model.eval()
    set_fake_quantize(qat_model, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        qat_model(xt)
    set_fake_quantize(qat_model, FakeQuantState.QAT)
    qat_model.train()

    def step_fn(model, opt):
        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(xt), target)
            loss.backward()
            opt.step()

        return step

    f_step = step_fn(float_model, torch.optim.SGD(float_model.parameters(), lr=1e-4))
    q_step = step_fn(qat_model, torch.optim.SGD(qat_model.parameters(), lr=1e-4))

    # eval: float model vs integer model (same weights after QAT steps)
    eval_float = build().eval()
    set_fake_quantize(qat_model, FakeQuantState.VALIDATION)
    qat_model.eval()
    int_model = convert(qat_model)
    set_fake_quantize(qat_model, FakeQuantState.QAT)
    qat_model.train()

    def f_eval():
        with torch.no_grad():
            eval_float(xe)

    def i_eval():
        with torch.no_grad():
            int_model(xe)

    return {"float_step": f_step, "qat_step": q_step, "float_eval": f_eval, "int_eval": i_eval}


def report(fns: dict, args: argparse.Namespace, what: str) -> None:
    for fn in fns.values():  # warm-up
        fn()
    res: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(args.rounds * args.steps):  # interleaved call by call: drift cancels
        for k, fn in fns.items():
            res[k].append(_per_call(fn, 1))
    med = {k: 1e3 * statistics.median(v) for k, v in res.items()}
    mins = {k: 1e3 * min(v) for k, v in res.items()}
    print(
        f"{what}: threads={args.threads}, clock={args.clock}, "
        f"{args.rounds * args.steps} interleaved calls each"
    )
    for k in fns:
        print(f"{k:11s} median {med[k]:8.1f} ms   min {mins[k]:8.1f} ms")
    for a, b, goal in (("qat_step", "float_step", 1.5), ("int_eval", "float_eval", 3.0)):
        print(
            f"{a} / {b} = {med[a] / med[b]:.2f} (median), {mins[a] / mins[b]:.2f} (min)"
            f"  (goal <= {goal})"
        )


if __name__ == "__main__":
    main()
