"""Render time of the synthetic generators at their default (real-data) sizes.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_synthetic_render.py [--repeats 3]

Times one FlyingChairs pair at 384x512 and two SceneFlow samples per subset at 320x576 (the
sizes the demo writes), reporting each sample's best time over the repeats against the goal the
generators were written for (a pair in under 2 s, a stereo sample in under 3 s on one core), so
that generating the demo's data stays a small part of its wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.data.synthetic.flyingchairs import pair_rng, render_pair  # noqa: E402
from hat.data.synthetic.sceneflow import SUBSETS, render_sample, sample_plan  # noqa: E402


def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = [
        (
            "FlyingChairs pair 384x512",
            _best_time(lambda: render_pair(pair_rng(0, 1), 384, 512), args.repeats),
            2.0,
        )
    ]
    plan = sample_plan(30, 0)["train"]
    for subset in SUBSETS:
        for i, sample in enumerate([s for s in plan if s.subset == subset][:2]):
            took = _best_time(lambda s=sample: render_sample(0, s, 320, 576, 64.0), args.repeats)
            rows.append((f"SceneFlow {subset} #{i} 320x576", took, 3.0))
    print(f"{'sample':<40} {'best s':>8} {'goal s':>8}  ok")
    for name, took, goal in rows:
        print(f"{name:<40} {took:8.3f} {goal:8.1f}  {'yes' if took < goal else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
