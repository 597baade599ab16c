"""Model conversion stages as config objects (HAT's ``model_convert_pipeline``).

Example config::

    model_convert_pipeline = dict(
        type="ModelConvertPipeline",
        qat_mode="fuse_bn",
        converters=[
            dict(type="Float2QAT"),
            dict(type="LoadCheckpoint", checkpoint_path="calib-checkpoint-best.pth.tar"),
        ],
    )
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from hat.quantization.convert import convert
from hat.quantization.fake_quantize import FakeQuantState, set_fake_quantize
from hat.quantization.mixed_precision import set_int16_modules
from hat.quantization.model_qconfig import default_set_qconfig
from hat.quantization.prepare import QAT_MODES, is_prepared, prepare_qat
from hat.quantization.qconfig_params import apply_qconfig_params, check_qconfig_params
from hat.quantization.utils import set_observer_averaging_constant
from hat.registry import OBJECT_REGISTRY
from hat.utils.checkpoint import load_model_weights, summarise_keys

__all__ = [
    "ModelConvertPipeline",
    "LoadCheckpoint",
    "Float2Calibration",
    "Float2QAT",
    "Calibration2QAT",
    "QAT2Quantize",
    "SetFakeQuantState",
]

logger = logging.getLogger(__name__)


@OBJECT_REGISTRY.register
class ModelConvertPipeline:
    """Apply ``converters`` in order: ``model = pipeline(model)``.

    ``qat_mode`` is handed to the converters that prepare the model (Float2Calibration,
    Float2QAT) unless they set their own; so is ``qconfig_params``, the per-stage activation
    observer choice (see :mod:`hat.quantization.qconfig_params`).
    """

    def __init__(
        self,
        converters: Sequence[Callable[[nn.Module], nn.Module]],
        qat_mode: str = "fuse_bn",
        qconfig_params: dict[str, Any] | None = None,
    ) -> None:
        if qat_mode not in QAT_MODES:
            raise ValueError(f"qat_mode {qat_mode!r} is not supported; choose from {QAT_MODES}")
        self.qat_mode = qat_mode
        self.qconfig_params = check_qconfig_params(qconfig_params)
        self.converters = list(converters)
        for c in self.converters:
            if hasattr(c, "qat_mode") and c.qat_mode is None:
                c.qat_mode = qat_mode
            if self.qconfig_params and getattr(c, "qconfig_params", False) is None:
                c.qconfig_params = self.qconfig_params

    def __call__(self, model: nn.Module) -> nn.Module:
        for c in self.converters:
            model = c(model)
        return model

    def __repr__(self) -> str:
        return f"ModelConvertPipeline(qat_mode={self.qat_mode!r}, converters={self.converters!r})"


@OBJECT_REGISTRY.register
class LoadCheckpoint:
    """Load ``checkpoint["state_dict"]`` from ``checkpoint_path`` into the model
    (:func:`hat.utils.checkpoint.load_model_weights`).

    Args:
        checkpoint_path: a ``.pth.tar`` written by the checkpoint callback (a dict with
            ``state_dict``; a bare state dict is accepted too). Loaded with
            ``torch.load(..., weights_only=True)`` on CPU.
        allow_miss: accept keys the model has but the checkpoint lacks (e.g. fake-quant
            buffers when loading a float checkpoint into a QAT model).
        ignore_extra: accept checkpoint keys the model does not have.
        verbose: log missing/unexpected keys.
        state_dict_key: the checkpoint entry holding the weights.
        strip_prefix: removed when every key starts with it (DDP's ``module.``); None keeps keys.

    Errors are :class:`hat.utils.checkpoint.CheckpointError` subclasses naming the file
    (``CheckpointNotFoundError`` is also a ``FileNotFoundError``, ``CheckpointMismatchError``
    a ``KeyError``, ``CheckpointReadError`` a ``RuntimeError``).
    """

    def __init__(
        self,
        checkpoint_path: str | os.PathLike,
        allow_miss: bool = False,
        ignore_extra: bool = False,
        verbose: bool = True,
        state_dict_key: str = "state_dict",
        strip_prefix: str | None = "module.",
    ) -> None:
        self.checkpoint_path = os.fspath(checkpoint_path)
        self.allow_miss = allow_miss
        self.ignore_extra = ignore_extra
        self.verbose = verbose
        self.state_dict_key = state_dict_key
        self.strip_prefix = strip_prefix

    def __call__(self, model: nn.Module) -> nn.Module:
        report = load_model_weights(
            model,
            self.checkpoint_path,
            allow_missing=self.allow_miss,
            allow_unexpected=self.ignore_extra,
            strip_prefix=self.strip_prefix,
            state_dict_key=self.state_dict_key,
        )
        if self.verbose:
            logger.info(
                "LoadCheckpoint %s: %d tensors, %d missing, %d unexpected",
                report.path,
                report.loaded,
                len(report.missing_keys),
                len(report.unexpected_keys),
            )
            if report.missing_keys:
                logger.info("missing keys: %s", summarise_keys(report.missing_keys, 8))
            if report.unexpected_keys:
                logger.info("unexpected keys: %s", summarise_keys(report.unexpected_keys, 8))
        self.missing_keys, self.unexpected_keys = report.missing_keys, report.unexpected_keys
        return model

    def __repr__(self) -> str:
        return f"LoadCheckpoint({self.checkpoint_path!r})"


def _fuse_and_qconfig(model: nn.Module) -> None:
    if hasattr(model, "fuse_model"):
        model.fuse_model()
    if hasattr(model, "set_qconfig"):
        model.set_qconfig()
    if not hasattr(model, "qconfig"):
        # HAT default: the whole model gets the default qconfig; submodule qconfigs set by
        # set_qconfig() (high-precision outputs, float parts) are kept.
        default_set_qconfig(model)


class _Prepare:
    state = FakeQuantState.QAT

    def __init__(
        self,
        qat_mode: str | None = None,
        int16_modules: Sequence[str] | None = None,
        qconfig_params: dict[str, Any] | None = None,
    ) -> None:
        self.qat_mode = qat_mode
        self.int16_modules = list(int16_modules or [])
        self.qconfig_params = check_qconfig_params(qconfig_params) if qconfig_params else None

    def __call__(self, model: nn.Module) -> nn.Module:
        if is_prepared(model):
            raise RuntimeError(f"{type(self).__name__}: the model is already prepared")
        _fuse_and_qconfig(model)
        if self.int16_modules:
            try:
                set_int16_modules(model, self.int16_modules)
            except (KeyError, ValueError) as exc:
                reason = exc.args[0] if exc.args else exc
                raise type(exc)(f"{type(self).__name__}(int16_modules=...): {reason}") from None
        if self.qconfig_params:
            stage = "calibration" if self.state is FakeQuantState.CALIBRATION else "qat"
            apply_qconfig_params(model, self.qconfig_params, stage)
        prepare_qat(model, inplace=True, qat_mode=self.qat_mode or "fuse_bn", state=self.state)
        return model

    def __repr__(self) -> str:
        extra = f", int16_modules={self.int16_modules!r}" if self.int16_modules else ""
        return f"{type(self).__name__}(qat_mode={self.qat_mode!r}{extra})"


@OBJECT_REGISTRY.register
class Float2Calibration(_Prepare):
    """Float model -> calibration model: ``fuse_model()``, ``set_qconfig()``, ``prepare_qat``,
    state CALIBRATION (observers on, no fake quant). ``int16_modules``: submodule names whose
    activations become int16 (mixed precision, applied after ``set_qconfig()``)."""

    state = FakeQuantState.CALIBRATION


@OBJECT_REGISTRY.register
class Float2QAT(_Prepare):
    """Float model -> QAT model (state QAT). Same module tree (and state-dict keys) as
    Float2Calibration, so calibration checkpoints load into it; give it the same
    ``int16_modules`` as the calibration stage."""

    state = FakeQuantState.QAT


@OBJECT_REGISTRY.register
class Calibration2QAT:
    """Calibration model -> QAT: state QAT; ``averaging_constant`` (e.g. 0 to keep the
    calibrated activation scales fixed during QAT) is applied to the activation observers."""

    def __init__(self, averaging_constant: float | None = None) -> None:
        self.averaging_constant = averaging_constant

    def __call__(self, model: nn.Module) -> nn.Module:
        if not is_prepared(model):
            raise RuntimeError("Calibration2QAT: the model is not a calibration/QAT model")
        if self.averaging_constant is not None:
            set_observer_averaging_constant(model, self.averaging_constant)
        set_fake_quantize(model, FakeQuantState.QAT)
        return model


@OBJECT_REGISTRY.register
class QAT2Quantize:
    """QAT (or calibration) model -> fixed-point integer model (:func:`convert`)."""

    def __call__(self, model: nn.Module) -> nn.Module:
        set_fake_quantize(model, FakeQuantState.VALIDATION)
        return convert(model, inplace=True)

    def __repr__(self) -> str:
        return "QAT2Quantize()"


@OBJECT_REGISTRY.register
class SetFakeQuantState:
    """Put a prepared model's fake quantizers into ``state`` (``"validation"`` to evaluate a
    calibration/QAT checkpoint with frozen qparams, as ``tools/predict.py`` does)."""

    def __init__(self, state: str = "validation") -> None:
        self.state = FakeQuantState(state) if not isinstance(state, FakeQuantState) else state

    def __call__(self, model: nn.Module) -> nn.Module:
        if not is_prepared(model):
            raise RuntimeError("SetFakeQuantState: the model is not a calibration/QAT model")
        set_fake_quantize(model, self.state)
        return model

    def __repr__(self) -> str:
        return f"SetFakeQuantState({self.state.value!r})"
