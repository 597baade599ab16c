"""StereoNet deployment latency at 540x960: ORT int8 vs ORT fp32 vs torch eager fp32, one run.

    python benchmarks/bench_stereo_latency.py [--threads 2] [--rounds 3] [--seconds 3]
        [--config configs/disparity_pred/stereonet/stereonet_stereonetneck_sceneflow.py]
        [--size 540,960] [--json out.json]

The recipe's StereoNet (HAT's channels: int16 disparity path, every conv a uint8 x int8
QLinearConv) is calibrated on random inputs, converted, exported with our QDQ exporter and run
on ONNX Runtime's integer kernels; the float model is exported with torch's exporter and run on
ORT fp32 and in torch eager mode. Each configuration runs in its own process, round-robin; the
ratios are medians over all runs of this invocation (see ``bench_deploy_latency.py``, which does
the work). Also prints the model's multiply-accumulates at that size.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_deploy_latency  # noqa: E402

DEFAULTS = {
    "--config": "configs/disparity_pred/stereonet/stereonet_stereonetneck_sceneflow.py",
    "--size": "540,960",
}


def _macs(config: str, size: str) -> float:
    """Multiply-accumulates of the float model's eval forward (conv / linear layers), in G."""
    import torch

    from hat.registry import build_from_registry
    from hat.utils.run_config import RunConfig

    model = build_from_registry(RunConfig.load(config).model_spec(), "model").eval()
    total = 0

    def hook(mod, inputs, out):
        nonlocal total
        k = mod.weight[0].numel()  # (Cin / groups) * kh * kw
        total += out.numel() * k

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)
    ]
    h, w = (int(v) for v in size.split(","))
    with torch.no_grad():
        model(dict(img=torch.zeros(1, 6, h, w)))
    for handle in handles:
        handle.remove()
    return total / 1e9


def main() -> None:
    argv = sys.argv[1:]
    if "--worker" not in argv:
        for key, value in DEFAULTS.items():
            if key not in argv:
                argv += [key, value]
        cfg, size = argv[argv.index("--config") + 1], argv[argv.index("--size") + 1]
        print(f"StereoNet conv MACs at {size}: {_macs(cfg, size):.1f} G")
    sys.argv = [os.path.join(os.path.dirname(__file__), "bench_deploy_latency.py"), *argv]
    bench_deploy_latency.main()


if __name__ == "__main__":
    main()
