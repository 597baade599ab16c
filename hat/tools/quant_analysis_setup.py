"""What ``quant_analysis`` takes from a config: models, cached batches, runner, metrics.

Everything comes from the stage predictors (``float_predictor``, ``calibration_predictor``,
``qat_predictor``, ``int_infer_predictor``: model, ``model_convert_pipeline``, data loader,
batch processor, metrics, the ``MetricUpdater``'s ``metric_update_func``) and from
``calibration_trainer`` (calibration data for the int16 recalibration).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from hat.quantization.debug import MetricSpec, batch_processor_runner, model_runner
from hat.quantization.debug.runner import Runner
from hat.tools.deploy_common import build_stage_model
from hat.utils.checkpoint import CheckpointError
from hat.utils.cli import ToolError
from hat.utils.run_config import ConfigKeyError, RunConfig

__all__ = [
    "predictor_cfg",
    "build_float_model",
    "build_quant_model",
    "cached_batches",
    "stage_runner",
    "stage_metrics",
    "metric_spec",
    "calibration_setup",
    "calibration_prepare_kwargs",
    "fused_reference",
]

logger = logging.getLogger("hat.tools.quant_analysis")


def predictor_cfg(cfg: Any, key: str) -> Mapping[str, Any]:
    """``cfg[key]`` (``key``: ``{stage}_predictor``); the error lists the config's predictors."""
    return RunConfig.of(cfg).predictor(key.removesuffix("_predictor"))


def build_float_model(cfg: Any, checkpoint: str | None = None) -> nn.Module:
    """``float_predictor``'s model with the float weights: ``checkpoint``, else the
    predictor's ``checkpoint``, else ``{ckpt_dir}/float-checkpoint-best.pth.tar``."""
    from hat.registry import build_from_registry
    from hat.utils.checkpoint import load_model_weights

    config = RunConfig.of(cfg)
    key = "float_predictor"
    pred = config.predictor("float")
    if pred.get("model_convert_pipeline") and checkpoint is None:
        return _build(config, key)
    path = checkpoint or pred.get("checkpoint")
    if path is None:
        if not isinstance(config.get("ckpt_dir"), str):
            raise ToolError("no --float-ckpt and the config has no 'ckpt_dir' to find one in")
        path = config.checkpoint("float", "best")
    if not os.path.isfile(path):
        raise ToolError(f"float checkpoint not found: {path} (train the float stage first or "
                        "pass --float-ckpt)")  # fmt: skip
    model = build_from_registry(pred["model"], f"{key}.model")
    load_model_weights(model, path)
    return model.eval()


def fused_reference(float_model: nn.Module) -> nn.Module:
    """A copy of the float model after its ``fuse_model()``: the quantized stages are built
    from fused models, and fusion may reparametrise function-preservingly (e.g. PwcNet scales
    its cost volume up and the convs reading it down), so only the fused float model's
    feature maps are comparable layer by layer."""
    reference = copy.deepcopy(float_model)
    if hasattr(reference, "fuse_model"):
        reference.fuse_model()
    return reference.eval()


def build_quant_model(cfg: Any, key: str) -> nn.Module:
    """The stage model of ``cfg[key]`` (its pipeline loads the stage checkpoint)."""
    predictor_cfg(cfg, key)
    return _build(cfg, key)


def _build(cfg: Any, key: str) -> nn.Module:
    try:
        return build_stage_model(cfg, key)
    except KeyError as exc:  # a converter's bad module name (int16_modules=[...])
        if isinstance(exc, CheckpointError):
            raise
        raise ToolError(f"{key}: {str(exc).strip(chr(34) + chr(39))}") from None


def _loaders(spec: Any, path: str) -> list[Iterable[Any]]:
    from hat.registry import build_from_registry

    if spec is None:
        raise ToolError(f"{path}: no data_loader")
    built = build_from_registry(spec, path)
    return list(built) if isinstance(built, (list, tuple)) else [built]


def cached_batches(pred: Mapping[str, Any], key: str, n: int, cycle: bool = False) -> list[Any]:
    """The first ``n`` batches of the predictor's (or trainer's) data loader(s); ``cycle``
    re-iterates short loaders (as the Calibrator does)."""
    loaders = _loaders(pred.get("data_loader"), f"{key}.data_loader")
    batches: list[Any] = []
    while len(batches) < n:
        before = len(batches)
        for loader in loaders:
            for batch in loader:
                batches.append(batch)
                if len(batches) >= n:
                    return batches
        if len(batches) == before:
            raise ToolError(f"{key}.data_loader yielded no batches")
        if not cycle:
            break
    return batches


def stage_runner(pred: Mapping[str, Any], key: str, device: torch.device | None) -> Runner:
    """The predictor's batch processor as a runner (``model(batch)`` without one)."""
    from hat.registry import build_from_registry

    spec = pred.get("batch_processor")
    if spec is None:
        return model_runner(device)
    return batch_processor_runner(build_from_registry(spec, f"{key}.batch_processor"), device)


def stage_metrics(cfg: Any, pred: Mapping[str, Any], key: str) -> tuple[list[Any], Any]:
    """``(metrics, update_metric)``: the predictor's metrics and its MetricUpdater's
    ``metric_update_func`` (else the config's ``update_metric``)."""
    from hat.registry import build_from_registry

    spec = pred.get("metrics")
    if not spec:
        return [], None
    metrics = build_from_registry(spec, f"{key}.metrics")
    metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
    update = None
    for cb in pred.get("callbacks") or []:
        if isinstance(cb, Mapping) and cb.get("type") == "MetricUpdater":
            update = cb.get("metric_update_func")
            break
    if update is None:
        try:
            update = RunConfig.of(cfg).update_metric()
        except ConfigKeyError as exc:
            raise ToolError(
                f"{key} has metrics but no MetricUpdater callback with metric_update_func, "
                f"and {exc}"
            ) from None
    return metrics, update


def _checkpoint_callbacks(node: Any, depth: int = 0) -> Iterable[Mapping[str, Any]]:
    if depth > 4:
        return
    if isinstance(node, Mapping):
        if node.get("type") == "Checkpoint":
            yield node
        for v in node.values():
            yield from _checkpoint_callbacks(v, depth + 1)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _checkpoint_callbacks(v, depth + 1)


def metric_spec(
    cfg: Any, metrics: list[Any], key: str | None, mode: str | None
) -> MetricSpec | None:
    """Which metric ranks and its direction: ``--metric-key``/``--metric-mode``, else the
    config's Checkpoint callback (``monitor_metric_key``, ``mode``)."""
    if not metrics:
        return None
    for ckpt in _checkpoint_callbacks(dict(cfg)):
        key = key or ckpt.get("monitor_metric_key")
        mode = mode or ckpt.get("mode")
        break
    if key is None:
        name = getattr(metrics[0], "name", None)
        key = name if isinstance(name, str) else None
    if key is None or mode not in ("min", "max"):
        raise ToolError(
            "cannot tell which metric to rank by or its direction: pass --metric-key NAME "
            "--metric-mode min|max (or give the config a Checkpoint callback with "
            "monitor_metric_key and mode)"
        )
    return MetricSpec(key, higher_is_better=(mode == "max"))


def calibration_setup(cfg: Any, steps: int | None) -> tuple[Mapping[str, Any], int]:
    """``calibration_trainer`` and its number of steps (``steps`` overrides)."""
    key = "calibration_trainer"
    trainer = RunConfig.of(cfg).require(
        key, "the calibration stage, which --topk-int16 reruns", dict
    )
    n = int(steps or trainer.get("num_steps") or 0)
    if n <= 0:
        raise ToolError(f"{key}.num_steps must be positive (or pass --calib-steps)")
    return trainer, n


def calibration_prepare_kwargs(trainer: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of ``calibration_trainer``'s ``Float2Calibration`` converter (qat_mode,
    qconfig_params, int16_modules, ...), so the recalibration prepares the model the same way."""
    pipeline = trainer.get("model_convert_pipeline") or {}
    kwargs: dict[str, Any] = {}
    if isinstance(pipeline, Mapping):
        if pipeline.get("qat_mode"):
            kwargs["qat_mode"] = pipeline["qat_mode"]
        for conv in pipeline.get("converters") or []:
            if isinstance(conv, Mapping) and conv.get("type") == "Float2Calibration":
                kwargs.update({k: v for k, v in conv.items() if k != "type"})
    return kwargs
