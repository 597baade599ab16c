"""Per-stage observer choice from the config (HAT's ``qconfig_params``).

HAT configs pick the activation observer of a stage in the convert pipeline::

    model_convert_pipeline=dict(
        type="ModelConvertPipeline",
        qat_mode="fuse_bn",
        qconfig_params=dict(
            activation_calibration_observer="percentile",
            activation_calibration_qkwargs=dict(percentile=99.985, bins=8192),
        ),
        converters=[..., dict(type="Float2Calibration")],
    )

Keys: ``activation_{calibration,qat}_observer`` (``min_max``, ``percentile``, ``mse``, ``kl``)
and ``activation_{calibration,qat}_qkwargs`` (observer arguments such as ``percentile``,
``bins``, plus ``averaging_constant``). ``Float2Calibration`` applies the ``calibration`` keys,
``Float2QAT`` the ``qat`` ones, to the activation spec of every qconfig in the model (after
``set_qconfig()``; weights, dtypes and fixed scales are untouched). Every observer keeps the
same state (``min_val``/``max_val``), so a calibration checkpoint loads into the QAT model
whatever observers the two stages use.

``weight_reduce_range`` (``True``, ``False`` or ``"auto"``; both stages) sets the weight spec's
``reduce_range``: 7-bit weights ``[-64, 63]`` that ONNX Runtime's u8 x s8 kernels cannot
saturate on x86 CPUs without VNNI (see :mod:`hat.quantization.cpu_features`). ``"auto"``
decides from the CPU the process runs on, so a config meant for another deployment CPU should
give ``True``/``False``; give the same value to every stage (calibration, QAT, int_infer).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from hat.quantization.observers import OBSERVERS, ObserverBase
from hat.quantization.qconfig import REDUCE_RANGE_CHOICES, QConfig

__all__ = ["QCONFIG_PARAM_KEYS", "apply_qconfig_params", "check_qconfig_params"]

STAGES = ("calibration", "qat")
WEIGHT_REDUCE_RANGE_KEY = "weight_reduce_range"
QCONFIG_PARAM_KEYS = tuple(
    f"activation_{stage}_{what}" for stage in STAGES for what in ("observer", "qkwargs")
) + (WEIGHT_REDUCE_RANGE_KEY,)
_SPEC_KWARGS = ("averaging_constant",)


def _observer_args(name: str) -> set[str]:
    """Arguments of the observer's own ``__init__`` chain (not those FakeQuantize passes:
    dtype, symmetry, channels, averaging constant)."""
    params: set[str] = set()
    for cls in OBSERVERS[name].__mro__:
        if cls is ObserverBase:
            break
        if "__init__" in cls.__dict__:
            params |= set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    return params


def check_qconfig_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validated copy of ``params``; a clear error for unknown keys, observers or arguments."""
    out = dict(params or {})
    unknown = sorted(set(out) - set(QCONFIG_PARAM_KEYS))
    if unknown:
        raise KeyError(
            f"qconfig_params: unknown key(s) {unknown}; expected some of {list(QCONFIG_PARAM_KEYS)}"
        )
    if WEIGHT_REDUCE_RANGE_KEY in out:
        value = out[WEIGHT_REDUCE_RANGE_KEY]
        if not (isinstance(value, bool) or value == "auto"):
            raise ValueError(
                f"qconfig_params.{WEIGHT_REDUCE_RANGE_KEY} must be one of "
                f"{list(REDUCE_RANGE_CHOICES)}, got {value!r}"
            )
    for stage in STAGES:
        obs = out.get(f"activation_{stage}_observer")
        if obs is not None and obs not in OBSERVERS:
            raise ValueError(
                f"qconfig_params.activation_{stage}_observer: unknown observer {obs!r}; choose "
                f"from {sorted(OBSERVERS)}"
            )
        kw = out.get(f"activation_{stage}_qkwargs")
        if kw is None:
            continue
        if not isinstance(kw, Mapping):
            raise TypeError(f"qconfig_params.activation_{stage}_qkwargs must be a dict, got {kw!r}")
        allowed = set(_SPEC_KWARGS) | (_observer_args(obs) if obs else set())
        bad = sorted(set(kw) - allowed)
        if bad:
            raise KeyError(
                f"qconfig_params.activation_{stage}_qkwargs: unknown argument(s) {bad} for "
                f"observer {obs or '(unchanged)'}; accepted: {sorted(allowed)}"
            )
    return out


def _updated(qconfig: QConfig, observer: str | None, qkwargs: Mapping[str, Any]) -> QConfig:
    act = qconfig.activation
    changes: dict[str, Any] = {}
    if observer is not None:
        changes["observer"] = observer
        kw = {k: v for k, v in qkwargs.items() if k not in _SPEC_KWARGS}
        changes["observer_kwargs"] = tuple(sorted(kw.items()))
    if "averaging_constant" in qkwargs:
        changes["averaging_constant"] = float(qkwargs["averaging_constant"])
    return qconfig.replace(activation=act.replace(**changes)) if changes else qconfig


def apply_qconfig_params(model: nn.Module, params: Mapping[str, Any] | None, stage: str) -> int:
    """Apply the ``stage`` (``"calibration"`` or ``"qat"``) keys of ``params`` and
    ``weight_reduce_range`` to every ``qconfig`` attribute in ``model`` (call after
    ``set_qconfig()``, before ``prepare_qat``). Returns the number of qconfigs changed."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    params = check_qconfig_params(params)
    observer = params.get(f"activation_{stage}_observer")
    qkwargs = dict(params.get(f"activation_{stage}_qkwargs") or {})
    reduce_range = params.get(WEIGHT_REDUCE_RANGE_KEY)
    if observer is None and not qkwargs and reduce_range is None:
        return 0
    if observer is None and set(qkwargs) - set(_SPEC_KWARGS):
        raise KeyError(
            f"qconfig_params.activation_{stage}_qkwargs sets observer arguments without "
            f"activation_{stage}_observer"
        )
    changed = 0
    for m in model.modules():
        qc = getattr(m, "qconfig", None)
        if isinstance(qc, QConfig):
            new = _updated(qc, observer, qkwargs)
            if reduce_range is not None:
                new = new.replace(weight=new.weight.replace(reduce_range=reduce_range))
            m.qconfig = new
            changed += 1
    return changed
