"""Segmentation deploy latency: ORT int8 (our QDQ export) vs ORT fp32 vs torch eager fp32.

    python benchmarks/bench_seg_latency.py [--threads 2] [--rounds 3] [--seconds 3]
        [--config configs/segmentation/unet_mobilenetv1_cityscapes_demo.py]
        [--size "deploy;1024,2048"] [--json out.json]

The config's ``deploy_model`` (UNet-MobileNetV1: stride-4 argmax class map) at the config's
deploy size and at 1024x2048 (Cityscapes), with 2 intra-op threads unless told otherwise; see
``bench_deploy_latency.py``, which does the work (and prints the MACs and how much of the class
map the integer model and ORT agree on).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_deploy_latency  # noqa: E402

DEFAULTS = {
    "--config": "configs/segmentation/unet_mobilenetv1_cityscapes_demo.py",
    "--size": "deploy;1024,2048",
    "--threads": "2",
}


if __name__ == "__main__":
    bench_deploy_latency.main_with_defaults(DEFAULTS)
