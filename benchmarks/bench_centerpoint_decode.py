"""CenterPoint3dDecoder time per sample on random (untrained-like) head outputs.

    python benchmarks/bench_centerpoint_decode.py [--sizes 64,128] [--batch 2] [--repeats 3]

Random logits ~ N(0, 1) put many local maxima above the 0.1 score threshold, as in the
validation of an undertrained BEV model, so every task's NMS sees up to ``pre_max_size``
candidates. The seed's six task groups and NMS settings; times are the minimum over repeats
divided by the batch size.
"""

from __future__ import annotations

import argparse
import time

import torch

from hat.models.task_modules.centerpoint import CenterPoint3dDecoder

TASKS = [
    dict(name="car", num_class=1, class_names=["car"]),
    dict(name="truck", num_class=2, class_names=["truck", "construction_vehicle"]),
    dict(name="bus", num_class=2, class_names=["bus", "trailer"]),
    dict(name="barrier", num_class=1, class_names=["barrier"]),
    dict(name="bicycle", num_class=2, class_names=["motorcycle", "bicycle"]),
    dict(name="pedestrian", num_class=2, class_names=["pedestrian", "traffic_cone"]),
]
CLASSES = [c for t in TASKS for c in t["class_names"]]


def head_outputs(
    batch: int, size: int, dim_offset: float = 0.0, seed: int = 0
) -> list[dict[str, torch.Tensor]]:
    """Random outputs of the seed's heads; ``dim_offset`` is added to the log sizes."""
    g = torch.Generator().manual_seed(seed)

    def r(c: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(batch, c, size, size, generator=g) * scale

    return [
        dict(
            heatmap=r(t["num_class"]),
            reg=r(2),
            height=r(1),
            dim=r(3) + dim_offset,
            rot=r(2),
            vel=r(2),
        )
        for t in TASKS
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64,128")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--dim-offsets",
        default="0,1.5",
        help="log-size offsets: 0 gives ~1 m boxes, 1.5 ~4.5 m boxes (many overlapping pairs)",
    )
    args = p.parse_args()
    decoder = CenterPoint3dDecoder(
        class_names=CLASSES,
        tasks=TASKS,
        bev_size=(51.2, 51.2, 0.8),
        nms_type=["rotate", "rotate", "rotate", "circle", "rotate", "rotate"],
        min_radius=[4, 12, 10, 1, 0.85, 0.175],
        nms_threshold=[0.2, 0.2, 0.2, 0.2, 0.2, 0.5],
    )
    cases = [(int(s), float(d)) for d in args.dim_offsets.split(",") for s in args.sizes.split(",")]
    for size, dim_offset in cases:
        outs = head_outputs(args.batch, size, dim_offset)
        decoder.bev_size = (51.2, 51.2, 102.4 / size)  # the heatmap covers the BEV range
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            res = decoder(outs)
            best = min(best, time.perf_counter() - t0)
        kept = sum(len(r["scores"]) for r in res) / args.batch
        print(
            f"{size}x{size} dim_offset={dim_offset}: {1000 * best / args.batch:8.1f} ms/sample, "
            f"{kept:.0f} boxes/sample"
        )


if __name__ == "__main__":
    main()
