"""Shared pieces of the deployment tools (export_hbir, validation_hbir, infer_hbir,
model_checker, compile_perf_hbir). The config entries they read come from
:class:`hat.utils.run_config.RunConfig`; the functions here that take a ``cfg`` are thin
wrappers over it, kept for the tools that call them.

HBIR/HBM are Horizon's closed formats; these tools write and read open ONNX files instead
(QDQ ONNX of the fixed-point model, run with ONNX Runtime's integer kernels).
"""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from hat.utils.run_config import RunConfig, with_stage_checkpoint

__all__ = [
    "FORMAT_NOTE",
    "load_stage_config",
    "build_stage_model",
    "stage_model",
    "int_onnx_path",
    "deploy_inputs",
    "deploy_model_spec",
    "model_name",
    "write_json",
    "OutputScaleProbe",
]

FORMAT_NOTE = (
    "HBIR and HBM are a vendor's (Horizon Robotics') closed model formats; this open tool writes "
    "and reads open ONNX files instead (a QDQ ONNX model of the fixed-point network, run with "
    "ONNX Runtime's integer kernels on the CPU)."
)


def load_stage_config(path: str, stage: str, opts: list[str] | None = None) -> Any:
    """The config loaded with ``HAT_TRAINING_STEP=stage`` (as train/predict do); see
    :meth:`hat.utils.run_config.RunConfig.load` for the accessor the tools use."""
    return RunConfig.load(path, stage, opts).cfg


def build_stage_model(cfg: Any, key: str, checkpoint: str | None = None) -> nn.Module:
    """Build ``cfg[key]["model"]`` and apply its ``model_convert_pipeline`` (which loads the
    stage's checkpoint), e.g. ``key="int_infer_predictor"`` -> the fixed-point model.
    ``checkpoint`` replaces the weights the stage loads (see
    :func:`hat.utils.run_config.with_stage_checkpoint`)."""
    from hat.registry import build_from_registry
    from hat.utils.checkpoint import CheckpointNotFoundError, load_model_weights

    config = RunConfig.of(cfg)
    spec = config.require(key, "a stage spec with 'model' (and a model_convert_pipeline)", dict)
    if checkpoint is not None:
        spec, _ = with_stage_checkpoint(spec, key, checkpoint)
    model = build_from_registry(config.require(f"{key}.model", "the network"), f"{key}.model")
    pipeline = spec.get("model_convert_pipeline")
    try:
        if pipeline is not None:
            model = build_from_registry(pipeline, f"{key}.model_convert_pipeline")(model)
        if spec.get("checkpoint"):
            load_model_weights(model, spec["checkpoint"])
    except CheckpointNotFoundError as exc:
        raise CheckpointNotFoundError(f"{exc} (train the earlier stages first)") from None
    return model.eval()


def stage_model(
    config: RunConfig, stage: str, checkpoint: str | None = None, load: bool = True
) -> nn.Module:
    """The model of ``stage`` in eval mode with its weights: ``float`` is ``model`` with
    ``checkpoint`` or ``{ckpt_dir}/float-checkpoint-best.pth.tar`` (``load=False``: random
    weights); other stages are ``{stage}_predictor``'s model (:func:`build_stage_model`)."""
    from hat.registry import build_from_registry
    from hat.utils.checkpoint import load_model_weights

    if stage != "float":
        return build_stage_model(config, f"{stage}_predictor", checkpoint)
    model = build_from_registry(config.model_spec(), "model")
    if load:
        load_model_weights(model, checkpoint or config.checkpoint("float", "best"))
    return model.eval()


def deploy_model_spec(cfg: Any) -> tuple[str, Any]:
    """``(key, spec)`` of the network that ships (:meth:`RunConfig.deploy_model_spec`)."""
    return RunConfig.of(cfg).deploy_model_spec()


def model_name(cfg: Any) -> str:
    """``task_name`` or the model's type (:attr:`RunConfig.task_name`)."""
    return RunConfig.of(cfg).task_name


def int_onnx_path(cfg: Any) -> str:
    """``{ckpt_dir}/{task_name}.int.onnx`` (:meth:`RunConfig.int_onnx_path`)."""
    return RunConfig.of(cfg).int_onnx_path()


def deploy_inputs(cfg: Any) -> dict[str, torch.Tensor]:
    """``deploy_inputs`` (:meth:`RunConfig.deploy_inputs`)."""
    return RunConfig.of(cfg).deploy_inputs()


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
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
