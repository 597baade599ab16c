"""Generation speed of the synthetic nuScenes: seconds per key frame at full size (1600x900).

    OMP_NUM_THREADS=1 python3 benchmarks/bench_nuscenes_synthetic.py [--scenes 2 --frames 6 \
        --height 900 --width 1600 --num-workers 0]

Generates ``--scenes`` v1.0-trainval scenes of ``--frames`` key frames into a temp dir (one
process unless ``--num-workers``) and reports: the whole run's wall time, the fixed part (the 4
map expansions and semantic priors, timed separately), seconds per key frame (6 camera images
+ 1 lidar sweep + tables) and per camera image, the breakdown of one key frame (rendering of
the 6 cameras, JPEG encoding, lidar sweep), and the size on disk (total, per key frame, per
image, per point cloud).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402

from hat.data.readers.nuscenes_constants import NUSCENES_CAMERAS  # noqa: E402
from hat.data.synthetic.nuscenes import _jobs, make_nuscenes  # noqa: E402
from hat.data.synthetic.nuscenes_map import (  # noqa: E402
    write_map_expansion,
    write_semantic_prior,
)
from hat.data.synthetic.nuscenes_scene import SceneGenerator  # noqa: E402
from hat.data.synthetic.nuscenes_world import LOCATIONS, make_world  # noqa: E402


def _tree_size(root: str, suffix: str = "") -> tuple[int, int]:
    total = count = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(suffix):
                total += os.path.getsize(os.path.join(dirpath, name))
                count += 1
    return total, count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=int, default=2)
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--height", type=int, default=900)
    p.add_argument("--width", type=int, default=1600)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cv2.setNumThreads(1)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for location in LOCATIONS:
            world = make_world(location, args.seed)
            write_map_expansion(world, os.path.join(tmp, f"{location}.json"))
            write_semantic_prior(world, os.path.join(tmp, f"{location}.png"))
        maps_s = time.perf_counter() - start

        root = os.path.join(tmp, "nuscenes_raw")
        start = time.perf_counter()
        summary = make_nuscenes(
            root, "v1.0-trainval", num_train_scenes=args.scenes, num_val_scenes=0,
            seed=args.seed, frames_per_scene=args.frames, height=args.height,
            width=args.width, num_workers=args.num_workers,
        )  # fmt: skip
        total_s = time.perf_counter() - start
        frames = summary["samples"]
        per_frame = (total_s - maps_s) / frames

        # one key frame in detail (the first scene's middle frame)
        with open(os.path.join(root, "v1.0-trainval", "scene.json")) as f:
            name = json.load(f)[0]["name"]
        job = _jobs(root, args.seed, [("train", name)], args.frames, args.width, args.height)[1][0]
        gen = SceneGenerator(job)
        k = args.frames // 2
        t0 = time.perf_counter()
        images = [gen.render(k, c).image for c in NUSCENES_CAMERAS]
        t1 = time.perf_counter()
        for img in images:
            cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        t2 = time.perf_counter()
        points, _ = gen.scan(k)
        t3 = time.perf_counter()

        size, _ = _tree_size(root)
        jpg, n_jpg = _tree_size(root, ".jpg")
        pcd, n_pcd = _tree_size(root, ".pcd.bin")
        tables, _ = _tree_size(os.path.join(root, "v1.0-trainval"))

    print(f"synthetic nuScenes, {args.scenes} scenes x {args.frames} key frames, "
          f"{args.width}x{args.height}, {summary['annotations']} annotations, "
          f"workers {args.num_workers}")  # fmt: skip
    print(f"  total {total_s:.1f} s; maps (4 expansions + priors) {maps_s:.1f} s")
    print(f"  {per_frame:.2f} s per key frame ({per_frame / 6:.3f} s per camera image share)")
    print(f"  one key frame: render 6 cameras {t1 - t0:.2f} s, JPEG encode {t2 - t1:.2f} s, "
          f"lidar sweep {t3 - t2:.2f} s ({len(points)} points)")  # fmt: skip
    mb = 1 / 2**20
    jpg_kib, pcd_kib = jpg / max(n_jpg, 1) / 1024, pcd / max(n_pcd, 1) / 1024
    print(f"  on disk {size * mb:.1f} MiB ({size / frames * mb:.2f} MiB per key frame): "
          f"images {jpg * mb:.1f} MiB ({jpg_kib:.0f} KiB each), point clouds {pcd * mb:.1f} MiB "
          f"({pcd_kib:.0f} KiB each), tables {tables * mb:.2f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
