"""Raise the most sensitive modules to int16 activations and recalibrate, to show the gain.

The same float model is calibrated twice on the same batches, once as configured and once with
``int16_modules``; both are evaluated on the same batches. Configs keep the choice with
``Float2Calibration(int16_modules=[...])`` / ``Float2QAT(int16_modules=[...])``
(:func:`config_snippet` writes the lines).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hat.quantization.converters import Float2Calibration
from hat.quantization.debug.capture import output_fake_quant, quantized_units
from hat.quantization.debug.evaluation import Evaluation, Evaluator
from hat.quantization.debug.runner import Runner, model_runner
from hat.quantization.debug.sensitivity import SensitivityReport
from hat.quantization.fake_quantize import FakeQuantState, set_fake_quantize

__all__ = [
    "calibrate",
    "int16_eligible",
    "pick_int16_modules",
    "Int16Comparison",
    "compare_int16",
    "config_snippet",
]

logger = logging.getLogger(__name__)


@torch.no_grad()
def calibrate(model: nn.Module, batches: Sequence[Any], run: Runner | None = None) -> nn.Module:
    """Observe ``batches`` in CALIBRATION state (eval mode), then freeze (VALIDATION)."""
    run = run or model_runner()
    model.eval()
    set_fake_quantize(model, FakeQuantState.CALIBRATION)
    for batch in batches:
        run(model, batch)
    set_fake_quantize(model, FakeQuantState.VALIDATION)
    return model


def int16_eligible(unit: nn.Module) -> bool:
    """The unit has its own observed output scale that is not int16 yet."""
    fq = output_fake_quant(unit)
    return fq is not None and fq.fixed_scale is None and fq.qdtype.name != "int16"


def pick_int16_modules(report: SensitivityReport, model: nn.Module, k: int) -> list[str]:
    """The ``k`` highest-ranked modules of ``report`` that :func:`int16_eligible` accepts
    (``model``: the fake-quant model the ranking was made on)."""
    units = dict(quantized_units(model))
    picked = [r.name for r in report.rows if r.name in units and int16_eligible(units[r.name])]
    return picked[:k]


@dataclass
class Int16Comparison:
    """Metric/output SQNR of the float model, the recalibrated baseline and the int16 one."""

    modules: list[str]
    calibration_batches: int
    float_model: dict[str, Any]
    baseline: dict[str, Any]
    int16: dict[str, Any]
    models: dict[str, nn.Module] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "int16_modules": self.modules,
            "calibration_batches": self.calibration_batches,
            "float_model": self.float_model,
            "baseline_recalibrated": self.baseline,
            "int16_recalibrated": self.int16,
        }


def _summary(ev: Evaluation, ref: Evaluation) -> dict[str, Any]:
    return {"metric": ev.metric, "metrics": ev.metrics, "output_sqnr_db": ev.output_sqnr(ref)}


def compare_int16(
    float_model: nn.Module,
    modules: Sequence[str],
    calibration_batches: Sequence[Any],
    evaluator: Evaluator,
    calibration_run: Runner | None = None,
    qat_mode: str = "fuse_bn",
    prepare_kwargs: Mapping[str, Any] | None = None,
) -> Int16Comparison:
    """Calibrate copies of ``float_model`` with and without ``modules`` in int16 and evaluate
    both (``Float2Calibration(qat_mode, **prepare_kwargs)`` does fuse_model/set_qconfig/prepare
    as the calibration stage does; ``int16_modules`` already in ``prepare_kwargs`` stay in
    both)."""
    kwargs = dict(prepare_kwargs or {})
    configured = list(kwargs.pop("int16_modules", None) or [])
    kwargs.setdefault("qat_mode", qat_mode)
    ref = evaluator(float_model)
    models, evals = {}, {}
    raised = configured + [m for m in modules if m not in configured]
    for label, int16 in (("baseline", configured), ("int16", raised)):
        logger.info("calibrating %s (%d int16 modules)", label, len(int16))
        m = Float2Calibration(**kwargs, int16_modules=int16)(copy.deepcopy(float_model))
        models[label] = calibrate(m, calibration_batches, calibration_run)
        evals[label] = evaluator(models[label])
    return Int16Comparison(
        modules=list(modules),
        calibration_batches=len(calibration_batches),
        float_model={"metric": ref.metric, "metrics": ref.metrics},
        baseline=_summary(evals["baseline"], ref),
        int16=_summary(evals["int16"], ref),
        models=models,
    )


def config_snippet(modules: Sequence[str]) -> str:
    """Config lines that give every stage of a HAT-style config the int16 modules."""
    names = ",\n".join(f"    {n!r}" for n in modules)
    return f"""# Mixed precision (quant_analysis): int16 activations for the most sensitive modules.
int16_modules = [
{names},
]
for _name, _value in list(globals().items()):
    _pipe = _value.get("model_convert_pipeline") if isinstance(_value, dict) else None
    for _conv in (_pipe or {{}}).get("converters", []):
        if isinstance(_conv, dict) and _conv.get("type") in ("Float2Calibration", "Float2QAT"):
            _conv["int16_modules"] = int16_modules
"""
