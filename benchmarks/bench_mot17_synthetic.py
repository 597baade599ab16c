"""Generation speed of the synthetic MOT17 at the real image sizes.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_mot17_synthetic.py [--frames 60]

1. Per video kind (1920x1080 fixed camera, crowded high view, 640x480 hand-held, 1920x1080
   moving camera): the time to set a scene up, and per frame the rendering (figures, occlusion
   id map, visibility), the JPEG encoding and the three detectors' simulation, on one core.
2. ``make_mot17`` end to end for train video 02 (three detector copies, gt, det; images
   hard-linked between the copies): frames per second and the time a full-length video takes.
All numbers come from this one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from hat.data.synthetic.mot17 import JPEG_QUALITY, make_mot17  # noqa: E402
from hat.data.synthetic.mot17_detections import DETECTOR_MODELS, simulate_detections  # noqa: E402
from hat.data.synthetic.mot17_scene import MOT17_SEQUENCES, SequenceScene  # noqa: E402

KINDS = {"02": "fixed 1080p", "04": "crowded high view", "05": "640x480 hand-held",
         "13": "moving 1080p"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args(argv)
    n = args.frames
    print(f"{'video':28s} {'setup s':>8s} {'render ms':>10s} {'jpeg ms':>8s} {'det ms':>7s} "
          f"{'objects':>8s}")  # fmt: skip
    for spec in MOT17_SEQUENCES:
        if spec.number not in KINDS:
            continue
        t0 = time.perf_counter()
        scene = SequenceScene(spec, spec.width, spec.height, n, np.random.default_rng(0))
        setup = time.perf_counter() - t0
        render = jpeg = det = 0.0
        objects = 0
        rng = np.random.default_rng(1)
        for t in range(n):
            t0 = time.perf_counter()
            image, _, objs = scene.render(t)
            t1 = time.perf_counter()
            cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            t2 = time.perf_counter()
            for model in DETECTOR_MODELS.values():
                simulate_detections(model, objs, spec.width, spec.height, rng)
            t3 = time.perf_counter()
            render, jpeg, det = render + t1 - t0, jpeg + t2 - t1, det + t3 - t2
            objects += len(objs)
        name = f"MOT17-{spec.number} {KINDS[spec.number]}"
        print(f"{name:28s} {setup:8.2f} {render / n * 1e3:10.1f} {jpeg / n * 1e3:8.1f} "
              f"{det / n * 1e3:7.2f} {objects / n:8.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        make_mot17(os.path.join(tmp, "MOT17"), num_seqs=1, num_test_seqs=0, frames=n)
        secs = time.perf_counter() - t0
    full = MOT17_SEQUENCES[0].length
    print(f"make_mot17 MOT17-02 1920x1080, {n} frames x 3 copies: {secs:.1f} s = {n / secs:.1f} "
          f"frames/s (the full {full} frames: ~{full / (n / secs):.0f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
