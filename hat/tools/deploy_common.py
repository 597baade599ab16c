"""Shared pieces of the deployment tools (export_hbir, validation_hbir, infer_hbir,
model_checker, compile_perf_hbir).

HBIR/HBM are Horizon's closed formats; these tools write and read open ONNX files instead
(QDQ ONNX of the fixed-point model, run with ONNX Runtime's integer kernels).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hat.utils.cli import ToolError

__all__ = [
    "FORMAT_NOTE",
    "load_stage_config",
    "build_stage_model",
    "int_onnx_path",
    "deploy_inputs",
    "deploy_model_spec",
    "write_json",
    "OutputScaleProbe",
]

FORMAT_NOTE = (
    "HBIR and HBM are a vendor's (Horizon Robotics') closed model formats; this open tool writes "
    "and reads open ONNX files instead (a QDQ ONNX model of the fixed-point network, run with "
    "ONNX Runtime's integer kernels on the CPU)."
)


def load_stage_config(path: str, stage: str, opts: list[str] | None = None) -> Any:
    """Load the config with ``HAT_TRAINING_STEP=stage`` (as train/predict do)."""
    from hat.utils.config import load_config
    from hat.utils.run_context import STAGE_ENV

    if not os.path.isfile(path):
        raise ToolError(f"config file not found: {path}")
    os.environ[STAGE_ENV] = stage
    return load_config(path, opts or [])


def build_stage_model(cfg: Any, key: str) -> nn.Module:
    """Build ``cfg[key]["model"]`` and apply its ``model_convert_pipeline`` (which loads the
    stage's checkpoint), e.g. ``key="int_infer_predictor"`` -> the fixed-point model."""
    from hat.registry import build_from_registry

    if key not in cfg:
        raise ToolError(f"the config has no '{key}'")
    spec = cfg[key]
    model = build_from_registry(spec["model"], f"{key}.model")
    pipeline = spec.get("model_convert_pipeline")
    if pipeline is not None:
        pipeline = build_from_registry(pipeline, f"{key}.model_convert_pipeline")
        try:
            model = pipeline(model)
        except FileNotFoundError as exc:
            raise ToolError(f"{exc} (train the earlier stages first)") from None
    return model.eval()


def deploy_model_spec(cfg: Any) -> tuple[str, Any]:
    """``(key, spec)`` of the network that ships: the config's ``deploy_model`` when it has one
    (e.g. the segmentation recipe's stride-4 argmax model), else ``model``."""
    for key in ("deploy_model", "model"):
        spec = cfg.get(key)
        if isinstance(spec, Mapping):
            return key, spec
    raise ToolError("the config defines no `model` (nor `deploy_model`)")


def model_name(cfg: Any) -> str:
    return str(cfg.get("task_name") or cfg.get("model", {}).get("type", "model"))


def int_onnx_path(cfg: Any) -> str:
    ckpt_dir = cfg.get("ckpt_dir")
    if not isinstance(ckpt_dir, str):
        raise ToolError("the config has no 'ckpt_dir'")
    return os.path.join(ckpt_dir, f"{model_name(cfg)}.int.onnx")


def deploy_inputs(cfg: Any) -> dict[str, torch.Tensor]:
    inputs = cfg.get("deploy_inputs")
    if not isinstance(inputs, Mapping) or not inputs:
        raise ToolError("the config has no 'deploy_inputs' (e.g. dict(img=torch.randn(1,6,H,W)))")
    return {k: v for k, v in inputs.items()}


def write_json(path: str, data: Any) -> None:
    from hat.utils.file_io import atomic_write

    text = json.dumps(data, indent=2, default=str).encode()
    atomic_write(path, lambda f: f.write(text))


class OutputScaleProbe:
    """Records the quantization scale of the tensor entering each ``DeQuantStub`` of an int
    model, i.e. the LSB of the model's quantized outputs before dequantization."""

    def __init__(self, model: nn.Module) -> None:
        self.scales: dict[str, float] = {}
        self.handles = []
        for name, m in model.named_modules():
            if "dequant" in type(m).__name__.lower():
                self.handles.append(m.register_forward_pre_hook(self._hook(name)))

    def _hook(self, name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            x = args[0] if args else None
            scale = getattr(x, "q_scale", None)
            if scale is not None:
                self.scales[name] = float(torch.as_tensor(scale).reshape(-1)[0])

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
