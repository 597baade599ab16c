"""Correlation cost: hat.nn.Correlation vs the textbook loop, and its share of a PwcNet step.

    python benchmarks/bench_correlation.py [--batch 4] [--size 256,448] [--threads 2]

1. Forward+backward time of the cost volume at every PwcNet level (default channels, the
   training crop) for ``hat.nn.Correlation`` (banded matmuls), a per-displacement loop with a
   hand-written backward (the first implementation, kept here for comparison) and
   ``correlation_reference`` (the common implementation: a Python loop over the 81
   displacements slicing a padded map, plain autograd).
2. A full PwcNet training step (forward, multi-level loss, backward, Adam) with timers around
   the correlation's forward and backward, so its share of the step is measured in the step
   itself; the same step with the reference correlation swapped in.
All numbers come from this one run. Variants are timed alternately (other processes' load hits
both alike); cost-volume times are minima, step times medians (minima in brackets).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import torch

import hat.nn.correlation as corr_mod
from hat.registry import build_from_registry
from hat.utils.run_config import RunConfig

RECIPE = (
    Path(__file__).resolve().parents[1]
    / "configs/opticalflow_pred/pwcnet/pwcnet_pwcnetneck_flyingchairs.py"
)

DEFAULT_CHANNELS = [16, 32, 64, 96, 128, 196]
DEMO_CHANNELS = [8, 16, 24, 32, 48, 64]


def times_ms(fn, repeats: int, warmup: int = 0) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def interleaved(fns: dict, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Time several functions alternately so that load from other processes hits all alike."""
    for fn in fns.values():
        times_ms(fn, 0, warmup)
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            out[k] += times_ms(fn, 1)
    return out


class _LoopCorrelation(torch.autograd.Function):
    """Alternative kept for comparison: one multiply + channel-sum per displacement (162
    kernels forward, 162 backward) with an in-place hand-written backward."""

    @staticmethod
    def forward(ctx, f1, f2, md):
        b, c, h, w = f1.shape
        k = 2 * md + 1
        f2p = torch.nn.functional.pad(f2, [md, md, md, md])
        out = f1.new_empty(b, k * k, h, w)
        for i in range(k * k):
            dy, dx = divmod(i, k)
            torch.sum(f1 * f2p[:, :, dy : dy + h, dx : dx + w], dim=1, out=out[:, i])
        ctx.save_for_backward(f1, f2p)
        ctx.md = md
        return out.mul_(1.0 / c)

    @staticmethod
    def backward(ctx, grad):
        f1, f2p = ctx.saved_tensors
        md = ctx.md
        _, c, h, w = f1.shape
        k = 2 * md + 1
        grad = grad * (1.0 / c)
        g1, g2p = torch.zeros_like(f1), torch.zeros_like(f2p)
        for i in range(k * k):
            dy, dx = divmod(i, k)
            gd = grad[:, i : i + 1]
            g1.addcmul_(gd, f2p[:, :, dy : dy + h, dx : dx + w])
            g2p[:, :, dy : dy + h, dx : dx + w].addcmul_(gd, f1)
        return g1, g2p[:, :, md : md + h, md : md + w], None


def loop_correlation(f1, f2, md):
    return _LoopCorrelation.apply(f1, f2, md)


def _fwd_bwd(fn, f1: torch.Tensor, f2: torch.Tensor, g: torch.Tensor, md: int):
    return lambda: torch.autograd.grad(fn(f1, f2, md), (f1, f2), g)


def bench_levels(batch: int, size: tuple[int, int], md: int, repeats: int) -> None:
    print(f"== cost volume fwd+bwd, batch {batch}, input {size[0]}x{size[1]}, md={md}, min ms ==")
    print(
        f"{'level':>5} {'shape (C,H,W)':>16} {'hat ms':>8} {'loop ms':>8} {'reference ms':>13} "
        f"{'ref/hat':>8} {'loop/hat':>9}"
    )
    tot_hat = tot_ref = tot_loop = 0.0
    for lvl in range(6, 1, -1):
        c = DEFAULT_CHANNELS[lvl - 1]
        h, w = -(-size[0] // 2**lvl), -(-size[1] // 2**lvl)
        f1 = torch.randn(batch, c, h, w, requires_grad=True)
        f2 = torch.randn(batch, c, h, w, requires_grad=True)
        g = torch.randn(batch, (2 * md + 1) ** 2, h, w)

        t = interleaved(
            {
                "hat": _fwd_bwd(corr_mod.correlation, f1, f2, g, md),
                "loop": _fwd_bwd(loop_correlation, f1, f2, g, md),
                "ref": _fwd_bwd(corr_mod.correlation_reference, f1, f2, g, md),
            },
            repeats,
        )
        t_hat, t_loop, t_ref = min(t["hat"]), min(t["loop"]), min(t["ref"])
        tot_hat += t_hat
        tot_loop += t_loop
        tot_ref += t_ref
        print(
            f"{lvl:>5} {str((c, h, w)):>16} {t_hat:>8.2f} {t_loop:>8.2f} {t_ref:>13.2f} "
            f"{t_ref / t_hat:>7.2f}x {t_loop / t_hat:>8.2f}x"
        )
    print(
        f"{'all':>5} {'':>16} {tot_hat:>8.2f} {tot_loop:>8.2f} {tot_ref:>13.2f} "
        f"{tot_ref / tot_hat:>7.2f}x {tot_loop / tot_hat:>8.2f}x"
    )


class CorrTimer:
    """Accumulates wall time spent inside the correlation's forward and backward."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def installed(self, use_reference: bool):
        fn_orig = corr_mod.correlation
        fwd, bwd = corr_mod._CorrelationFunction.forward, corr_mod._CorrelationFunction.backward
        timer = self

        def timed(f):
            def wrapper(*args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return f(*args, **kwargs)
                finally:
                    timer.seconds += time.perf_counter() - t0

            return wrapper

        if use_reference:
            # forward timed here; the reference's backward is spread over autograd nodes, so
            # its share is derived from step-time differences instead
            corr_mod.correlation = timed(corr_mod.correlation_reference)
        else:
            corr_mod._CorrelationFunction.forward = staticmethod(timed(fwd))
            corr_mod._CorrelationFunction.backward = staticmethod(timed(bwd))
        try:
            yield self
        finally:
            corr_mod.correlation = fn_orig
            corr_mod._CorrelationFunction.forward = staticmethod(fwd)
            corr_mod._CorrelationFunction.backward = staticmethod(bwd)


def model_cfg(channels, decoder=None, context=None) -> dict:
    """The PwcNet recipe's model (:data:`RECIPE`) with other channel widths."""
    cfg = copy.deepcopy(dict(RunConfig.load(str(RECIPE)).model_spec()))
    cfg["backbone"]["out_channels"] = channels
    cfg["head"].update(in_channels=channels, decoder_channels=decoder, context_channels=context)
    return cfg


def bench_step(name: str, cfg: dict, batch: int, size: tuple[int, int], repeats: int) -> None:
    torch.manual_seed(0)
    model = build_from_registry(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    h, w = size
    data = {
        "img": torch.randn(batch, 6, h, w),
        "gt_flow": [torch.randn(batch, 2, h // s, w // s) for s in (4, 8, 16, 32, 64)],
    }

    def step() -> None:
        loss = sum(model(data)["losses"].values())
        opt.zero_grad()
        loss.backward()
        opt.step()

    timers = {"hat": CorrTimer(), "reference": CorrTimer()}

    def timed_step(variant: str):
        def run() -> None:
            with timers[variant].installed(variant == "reference"):
                step()

        return run

    fns = {k: timed_step(k) for k in timers}
    interleaved(fns, 0, warmup=1)
    for t in timers.values():
        t.seconds = 0.0
    res = interleaved(fns, repeats, warmup=0)
    t_hat, t_ref = statistics.median(res["hat"]), statistics.median(res["reference"])
    m_hat, m_ref = min(res["hat"]), min(res["reference"])
    c_hat = timers["hat"].seconds * 1e3 / repeats
    c_ref_fwd = timers["reference"].seconds * 1e3 / repeats
    print(f"== {name}: training step, batch {batch}, {h}x{w}, {repeats} interleaved steps ==")
    print(
        f"  step with hat.nn.Correlation : median {t_hat:7.1f} ms (min {m_hat:7.1f}); correlation "
        f"fwd+bwd {c_hat:6.1f} ms/step = {100 * c_hat / t_hat:4.1f}% of the median step"
    )
    est_ref = c_hat + (t_ref - t_hat)
    print(
        f"  step with reference          : median {t_ref:7.1f} ms (min {m_ref:7.1f}); correlation "
        f"fwd {c_ref_fwd:6.1f} ms/step, fwd+bwd ~{est_ref:6.1f} ms (hat's + step difference)"
    )
    print(
        f"  step speed-up from hat.nn.Correlation: {t_ref / t_hat:.2f}x "
        f"(min/min {m_ref / m_hat:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", default="256,448", help="H,W of the input (training crop)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-default", action="store_true", help="skip the full-size model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.split(","))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_levels(args.batch, size, 4, max(args.repeats, 5) * 2)
    if not args.skip_default:
        bench_step("default PwcNet", model_cfg(DEFAULT_CHANNELS), args.batch, size, args.repeats)
    demo = model_cfg(DEMO_CHANNELS, [32, 32, 24, 16, 8], [32, 32, 32, 24, 16, 8])
    bench_step("demo PwcNet", demo, args.batch, size, args.repeats)


if __name__ == "__main__":
    main()
