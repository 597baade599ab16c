"""StereoNet deployment latency at 540x960: ORT int8 vs ORT fp32 vs torch eager fp32, one run.

    python benchmarks/bench_stereo_latency.py [--threads 2] [--rounds 3] [--seconds 3]
        [--config configs/disparity_pred/stereonet/stereonet_stereonetneck_sceneflow.py]
        [--size 540,960] [--json out.json]

The recipe's StereoNet (HAT's channels: int16 disparity path, every conv a uint8 x int8
QLinearConv) is calibrated on random inputs, converted, exported with our QDQ exporter and run
on ONNX Runtime's integer kernels; the float model is exported with torch's exporter and run on
ORT fp32 and in torch eager mode. Each configuration runs in its own process, round-robin; the
ratios are medians over all runs of this invocation (see ``bench_deploy_latency.py``, which does
the work and also prints the model's multiply-accumulates at that size).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_deploy_latency  # noqa: E402

DEFAULTS = {
    "--config": "configs/disparity_pred/stereonet/stereonet_stereonetneck_sceneflow.py",
    "--size": "540,960",
}

if __name__ == "__main__":
    bench_deploy_latency.main_with_defaults(DEFAULTS)
