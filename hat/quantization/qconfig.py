"""Quantization configs: what to quantize how (dtype, symmetry, observer) per module.

A :class:`QConfig` holds a :class:`QuantSpec` for activations (module outputs) and one for
weights, plus ``high_precision_output`` (the module's output is left unquantized: float in QAT,
``float32(int32 accumulator * scale)`` in the integer model; meant for final convs).

Presets (``get_default_qconfig(preset=...)``):

=============  =================================  ==========================================
preset         activations                        weights
=============  =================================  ==========================================
``ort_u8s8``   uint8, asymmetric (zero point)     int8 symmetric per output channel (default)
``horizon_s8`` int8 symmetric (zero point 0)      int8 symmetric per output channel
``int16``      int16 symmetric                    int8 symmetric per output channel
=============  =================================  ==========================================

``ort_u8s8`` is the one that runs on ONNX Runtime's integer kernels (QLinearConv, QLinearAdd,
...). Weights are 7-bit (``[-64, 63]``) when ``weight_reduce_range`` resolves to True: ``"auto"``
(the default) does so when ONNX Runtime's u8 x s8 kernels can saturate on the CPU this process
runs on (x86 without VNNI; see :mod:`hat.quantization.cpu_features`). What matters is the CPU
that will *run* the exported model: a model trained here and deployed on another machine should
set ``weight_reduce_range`` explicitly. ``horizon_s8``/``int16`` reproduce Horizon's symmetric
scheme; they export and run on ORT but mostly as DequantizeLinear -> float op -> QuantizeLinear
(see README.md here).

Modules choose their qconfig through a ``qconfig`` attribute; children inherit the parent's
unless they set their own (``qconfig = None`` keeps a module float).
:func:`hat.quantization.model_qconfig.default_set_qconfig` is what a model's ``set_qconfig()``
normally calls.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from hat.quantization.cpu_features import CpuInt8Features, detect_cpu_int8_features
from hat.quantization.qdtypes import get_qdtype

__all__ = [
    "REDUCE_RANGE_CHOICES",
    "resolve_reduce_range",
    "QuantSpec",
    "QConfig",
    "PRESETS",
    "get_default_qconfig",
    "get_high_precision_qconfig",
    "inherited_qconfig",
    "effective_qconfigs",
    "effective_qconfig",
]


REDUCE_RANGE_CHOICES = (False, True, "auto")


def _check_reduce_range(value: object, where: str) -> bool | str:
    if isinstance(value, bool) or value == "auto":
        return value  # type: ignore[return-value]
    raise ValueError(f"{where} must be True, False or 'auto', got {value!r}")


def resolve_reduce_range(value: bool | str, features: CpuInt8Features | None = None) -> bool:
    """``True``/``False`` as given; ``"auto"``: True unless ONNX Runtime's u8 x s8 kernels are
    known to be exact on ``features`` (default: the CPU this process runs on), i.e. True on
    x86 without VNNI (``avx2``, ``avx512bw``) and on CPUs whose ISA is not established."""
    value = _check_reduce_range(value, "reduce_range")
    if value != "auto":
        return bool(value)
    features = features or detect_cpu_int8_features()
    reduce = features.u8s8_saturates is not False
    if reduce:
        _log_auto_reduced(features.isa, features.u8s8_kernel)
    return reduce


@functools.lru_cache(maxsize=8)
def _log_auto_reduced(isa: str, kernel: str) -> None:
    logging.getLogger(__name__).info(
        "weight_reduce_range='auto': 7-bit weights [-64, 63] (CPU ISA %s, ONNX Runtime u8 x s8 "
        "kernel %s); set it explicitly when the model will run on another CPU",
        isa,
        kernel,
    )


@dataclass(frozen=True)
class QuantSpec:
    """How one tensor is quantized.

    Args:
        dtype: ``uint8`` | ``int8`` | ``int16``.
        symmetric: zero point fixed (0 for signed types, 128 for uint8).
        per_channel: one scale per ``ch_axis`` slice (weights).
        ch_axis: channel axis for ``per_channel``.
        observer: ``min_max`` | ``percentile`` | ``mse`` | ``kl``.
        averaging_constant: EMA constant of the observer (0 freezes the scale once set).
        observer_kwargs: extra observer arguments (``percentile``, ``bins``, ...), as a tuple
            of ``(key, value)`` pairs so that the spec stays hashable.
        fixed_scale: use this scale instead of observing (zero point 0, or 128 for uint8,
            unless ``fixed_zero_point`` is given).
        fixed_zero_point: zero point used with ``fixed_scale``.
        reduce_range: quantize to half the dtype's range, one bit less (``int8``:
            ``[-64, 63]``): ``True``, ``False`` or ``"auto"`` (:func:`resolve_reduce_range`,
            resolved when the fake quantizer is built). Weights only (see :class:`QConfig`).
    """

    dtype: str = "uint8"
    symmetric: bool = False
    per_channel: bool = False
    ch_axis: int = 0
    observer: str = "min_max"
    averaging_constant: float = 0.01
    observer_kwargs: tuple[tuple[str, Any], ...] = ()
    fixed_scale: float | None = None
    fixed_zero_point: int | None = None
    reduce_range: bool | str = False

    def __post_init__(self) -> None:
        get_qdtype(self.dtype)
        _check_reduce_range(self.reduce_range, "QuantSpec.reduce_range")
        if isinstance(self.observer_kwargs, dict):
            object.__setattr__(self, "observer_kwargs", tuple(sorted(self.observer_kwargs.items())))

    def replace(self, **changes: Any) -> QuantSpec:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class QConfig:
    """Activation and weight specs of one module (see module doc). ``weight.reduce_range``
    (default ``"auto"``) selects 7-bit weights; activations keep their full range (the
    integer model saturates activations to the storage dtype's range)."""

    activation: QuantSpec = field(default_factory=QuantSpec)
    weight: QuantSpec = field(
        default_factory=lambda: QuantSpec(
            dtype="int8",
            symmetric=True,
            per_channel=True,
            averaging_constant=1.0,
            reduce_range="auto",
        )
    )
    high_precision_output: bool = False

    def __post_init__(self) -> None:
        if self.activation.reduce_range is not False:
            raise ValueError(
                "QConfig.activation.reduce_range must be False: a reduced range applies to "
                f"weights only (got {self.activation.reduce_range!r})"
            )

    def replace(self, **changes: Any) -> QConfig:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, tuple[str, bool]] = {
    "ort_u8s8": ("uint8", False),
    "horizon_s8": ("int8", True),
    "int16": ("int16", True),
}


def get_default_qconfig(
    preset: str = "ort_u8s8",
    activation_observer: str = "min_max",
    weight_observer: str = "min_max",
    averaging_constant: float = 0.01,
    activation_dtype: str | None = None,
    high_precision_output: bool = False,
    observer_kwargs: dict[str, Any] | None = None,
    weight_reduce_range: bool | str = "auto",
) -> QConfig:
    """A :class:`QConfig` from a preset name (``ort_u8s8``, ``horizon_s8``, ``int16``).

    ``activation_dtype`` overrides the preset's activation dtype (mixed precision: e.g.
    ``"int16"`` for one sensitive module); a signed override is symmetric, ``uint8``
    asymmetric. Weights are always int8 symmetric per output channel, observed with
    ``weight_observer`` on the current weights (``averaging_constant=1``), 7-bit
    (``[-64, 63]``) if ``weight_reduce_range`` resolves to True (``"auto"``: on a CPU where
    ONNX Runtime's u8 x s8 kernels can saturate; see :func:`resolve_reduce_range`).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown qconfig preset {preset!r}; choose from {sorted(PRESETS)}")
    dtype, symmetric = PRESETS[preset]
    if activation_dtype is not None:
        dtype = get_qdtype(activation_dtype).name
        symmetric = get_qdtype(dtype).signed
    act = QuantSpec(
        dtype=dtype,
        symmetric=symmetric,
        observer=activation_observer,
        averaging_constant=averaging_constant,
        observer_kwargs=tuple(sorted((observer_kwargs or {}).items())),
    )
    weight = QuantSpec(
        dtype="int8",
        symmetric=True,
        per_channel=True,
        ch_axis=0,
        observer=weight_observer,
        averaging_constant=1.0,
        reduce_range=weight_reduce_range,
    )
    return QConfig(activation=act, weight=weight, high_precision_output=high_precision_output)


def get_high_precision_qconfig(qconfig: QConfig | None = None, **kwargs: Any) -> QConfig:
    """``qconfig`` (default: :func:`get_default_qconfig(**kwargs)`) with a float output."""
    base = qconfig or get_default_qconfig(**kwargs)
    return base.replace(high_precision_output=True)


def inherited_qconfig(module: nn.Module, parent_qconfig: QConfig | None) -> QConfig | None:
    """The qconfig ``module`` gets: its own ``qconfig`` attribute when it has one (``None``
    included: the module stays float), else its parent's effective ``parent_qconfig``."""
    return module.qconfig if hasattr(module, "qconfig") else parent_qconfig


def effective_qconfigs(model: nn.Module) -> dict[str, QConfig | None]:
    """``{submodule name: the qconfig prepare_qat gives it}`` (``""`` is the model itself),
    each inherited from the closest ancestor with a ``qconfig`` attribute."""
    result: dict[str, QConfig | None] = {}
    for name, module in model.named_modules():
        parent = name.rpartition(".")[0] if name else None
        inherited = result.get(parent) if parent is not None else None
        result[name] = inherited_qconfig(module, inherited)
    return result


def effective_qconfig(model: nn.Module, name: str) -> QConfig | None:
    """The qconfig ``prepare_qat`` would give submodule ``name`` (None: it stays float)."""
    qconfigs = effective_qconfigs(model)
    if name not in qconfigs:
        raise KeyError(f"no submodule named {name!r}")
    return qconfigs[name]
