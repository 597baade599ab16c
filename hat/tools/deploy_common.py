"""Shared pieces of the deployment tools (export_hbir, export_onnx, validation_hbir, infer,
infer_hbir, model_checker, compile_perf_hbir, quant_analysis): a stage's model with its weights
(:func:`build_stage_model`, :func:`stage_model`), the format note of their ``--help`` and the JSON
report writer. The config entries they read come from :class:`hat.utils.run_config.RunConfig`.

HBIR/HBM are Horizon's closed formats; these tools write and read open ONNX files instead
(QDQ ONNX of the fixed-point model, run with ONNX Runtime's integer kernels).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from torch import nn

from hat.utils.cli import ToolError
from hat.utils.run_config import RunConfig, with_stage_checkpoint

__all__ = [
    "FORMAT_NOTE",
    "add_exported_model_arg",
    "build_stage_model",
    "deploy_parser",
    "exported_model_path",
    "stage_model",
    "write_json",
]

FORMAT_NOTE = (
    "HBIR and HBM are a vendor's (Horizon Robotics') closed model formats; this open tool writes "
    "and reads open ONNX files instead (a QDQ ONNX model of the fixed-point network, run with "
    "ONNX Runtime's integer kernels on the CPU)."
)


def deploy_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The argument parser of a deployment tool: its ``doc`` and :data:`FORMAT_NOTE` as the
    description (kept as written)."""
    return argparse.ArgumentParser(
        prog=prog,
        description=doc + "\n" + FORMAT_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_exported_model_arg(parser: argparse.ArgumentParser) -> None:
    """``--model``: the exported ONNX file a tool reads (see :func:`exported_model_path`)."""
    parser.add_argument(
        "--model", default=None, help="ONNX file (default {ckpt_dir}/{task}.int.onnx)"
    )


def exported_model_path(config: RunConfig, model: str | None) -> str:
    """``model`` (``--model``) or the config's ``{ckpt_dir}/{task}.int.onnx``; a
    :class:`ToolError` when that file does not exist (export_hbir writes it)."""
    path = model or config.int_onnx_path()
    if not os.path.isfile(path):
        raise ToolError(f"no exported model at {path}: run tools/export_hbir.py first")
    return path


def build_stage_model(cfg: RunConfig | Any, key: str, checkpoint: str | None = None) -> nn.Module:
    """Build ``cfg[key]["model"]`` (``cfg``: a :class:`RunConfig` or a loaded config) and
    apply its ``model_convert_pipeline`` (which loads the stage's checkpoint), e.g.
    ``key="int_infer_predictor"`` -> the fixed-point model. ``checkpoint`` replaces the weights
    the stage loads (see :func:`hat.utils.run_config.with_stage_checkpoint`)."""
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


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    from hat.utils.file_io import atomic_write

    text = json.dumps(data, indent=2, default=str).encode()
    atomic_write(path, lambda f: f.write(text))
