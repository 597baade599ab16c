"""Stereo cost volume cost: hat.nn.CostVolume vs the textbook loop and a loop-free version.

    python benchmarks/bench_cost_volume.py [--threads 1] [--repeats 7]

Forward+backward time of the group-wise correlation volume for

- ``hat``: ``hat.nn.CostVolume`` (per disparity one slice product into a reused buffer and one
  group sum written into the volume; hand-written backward with two in-place ``addcmul_`` per
  disparity);
- ``reference``: GwcNet's loop (``gwc_volume_reference``: slice product, group mean, slice
  assignment into a zero volume, plain autograd);
- ``vectorised``: no Python loop over disparities (``unfold`` of the padded right features into
  all ``D`` shifts, one broadcast product, one group mean, a mask; plain autograd).

Shapes: HAT's recipe (256 matching channels, 32 groups, 12 disparities at stride 16 of a
256x512 training crop) and the demo's (64 channels, 8 groups, 6 disparities, 128x256 crop), plus
the no-grad forward at the recipe's deploy size (540x960). Variants are timed alternately so
that load from other processes hits all alike; the table gives minima and medians (ms) and the
ratios of the medians to ``hat``. The 1-minute load average is printed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.nn.cost_volume import gwc_volume, gwc_volume_reference  # noqa: E402


def gwc_volume_vectorised(left, right, max_disp: int, groups: int) -> torch.Tensor:
    """All disparities at once: (B, C, H, D, W) product, no loop over disparities."""
    b, c, h, w = left.shape
    rp = torch.nn.functional.pad(right, [max_disp - 1, 0])
    shifts = rp.unfold(3, w, 1).flip(3)  # (B, C, H, D, W): shift d = right[..., x - d]
    prod = left.unsqueeze(3) * shifts
    vol = prod.view(b, groups, c // groups, h, max_disp, w).mean(2)  # (B, G, H, D, W)
    x = torch.arange(w, device=left.device)
    valid = (x[None, :] >= torch.arange(max_disp, device=left.device)[:, None]).to(vol.dtype)
    return (vol * valid).permute(0, 1, 3, 2, 4).reshape(b, groups * max_disp, h, w)


VARIANTS = {
    "hat": gwc_volume,
    "reference": gwc_volume_reference,
    "vectorised": gwc_volume_vectorised,
}


def interleaved(fns: dict, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[k].append((time.perf_counter() - t0) * 1e3)
    return out


def bench(name: str, shape, max_disp: int, groups: int, repeats: int, grad: bool) -> None:
    g = torch.Generator().manual_seed(0)
    left = torch.randn(shape, generator=g).requires_grad_(grad)
    right = torch.randn(shape, generator=g).requires_grad_(grad)
    ref = gwc_volume_reference(left.detach(), right.detach(), max_disp, groups)
    for fn in VARIANTS.values():
        with torch.no_grad():
            torch.testing.assert_close(fn(left.detach(), right.detach(), max_disp, groups), ref)
    grad_out = torch.randn_like(ref)

    def run(fn):
        if not grad:
            return lambda: fn(left, right, max_disp, groups)
        return lambda: torch.autograd.grad(
            fn(left, right, max_disp, groups), (left, right), grad_out
        )

    with torch.set_grad_enabled(grad):
        t = interleaved({k: run(fn) for k, fn in VARIANTS.items()}, repeats)
    med = {k: statistics.median(v) for k, v in t.items()}
    what = "fwd+bwd" if grad else "forward (no grad)"
    print(f"== {name}: {what}, features {tuple(shape)}, D={max_disp}, groups={groups} ==")
    for k in VARIANTS:
        print(
            f"  {k:10s} min {min(t[k]):8.2f} ms  median {med[k]:8.2f} ms  "
            f"median / hat {med[k] / med['hat']:5.2f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=4, help="training batch for the recipe shape")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    bench("recipe 256x512 crop", (args.batch, 256, 16, 32), 12, 32, args.repeats, True)
    bench("demo 128x256 crop", (8, 64, 8, 16), 6, 8, args.repeats, True)
    bench("recipe deploy 540x960", (1, 256, 34, 60), 12, 32, args.repeats, False)
    print(f"1-min load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
