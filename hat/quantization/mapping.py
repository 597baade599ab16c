"""Mapping tables: float module type -> QAT factory (and QAT -> integer via ``to_int()``).

Extend with :func:`register_qat_module` (e.g. a model package registering its own op).
``hat.nn.Correlation`` and ``hat.nn.Warp`` are looked up lazily, so this module works before
they exist.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hat.quantization.qconfig import QConfig

__all__ = ["register_qat_module", "get_qat_factory", "qat_mapping"]

QATFactory = Callable[[nn.Module, QConfig], nn.Module]

_MAPPING: dict[type, QATFactory] = {}
_DEFAULTS_LOADED = False


def register_qat_module(float_cls: type, factory: QATFactory, force: bool = False) -> None:
    """Swap instances of ``float_cls`` with ``factory(module, qconfig)`` in ``prepare_qat``."""
    _load_defaults()
    if float_cls in _MAPPING and not force and _MAPPING[float_cls] is not factory:
        raise KeyError(f"{float_cls.__name__} already has a QAT mapping")
    _MAPPING[float_cls] = factory


def _load_defaults() -> None:
    global _DEFAULTS_LOADED
    if _DEFAULTS_LOADED:
        return
    _DEFAULTS_LOADED = True
    import hat.nn as hnn
    from hat.quantization.qat import (
        activations,
        conv,
        correlation,
        functional,
        group_norm,
        interpolate,
        layer_norm,
        linear,
        masked_softmax,
        stubs,
    )

    _MAPPING.update(
        {
            hnn.ConvModule2d: conv.QATConvModule2d.from_float,
            nn.Conv2d: conv.QATConv2d.from_float,
            nn.Linear: linear.QATLinear.from_float,
            nn.LayerNorm: layer_norm.QATLayerNorm.from_float,
            nn.GroupNorm: group_norm.QATGroupNorm.from_float,
            hnn.Add: functional.QATAdd.from_float,
            hnn.Mul: functional.QATMul.from_float,
            hnn.MatMul: functional.QATMatMul.from_float,
            hnn.MaskedSoftmax: masked_softmax.QATMaskedSoftmax.from_float,
            hnn.MulScalar: functional.QATMulScalar.from_float,
            hnn.Concat: functional.QATConcat.from_float,
            hnn.Interpolate: interpolate.QATInterpolate.from_float,
            hnn.QuantStub: stubs.QATQuantStub.from_float,
            hnn.DeQuantStub: stubs.QATDeQuantStub.from_float,
            nn.ReLU: functional.QATReLU.from_float,
            nn.Sigmoid: activations.QATSigmoid.from_float,
            nn.Softmax: activations.QATSoftmax.from_float,
        }
    )
    corr = getattr(hnn, "Correlation", None)
    if corr is None:
        try:
            from hat.nn.correlation import Correlation as corr  # type: ignore[no-redef]
        except ImportError:
            corr = None
    if corr is not None:
        _MAPPING.setdefault(corr, correlation.QATCorrelation.from_float)
    from hat.nn.cost_volume import CostVolume
    from hat.nn.soft_argmin import SoftArgmin
    from hat.quantization.qat import cost_volume, soft_argmin

    _MAPPING.setdefault(CostVolume, cost_volume.QATCostVolume.from_float)
    _MAPPING.setdefault(SoftArgmin, soft_argmin.QATSoftArgmin.from_float)
    warp = getattr(hnn, "Warp", None)
    if warp is None:
        try:
            from hat.nn.warp import Warp as warp  # type: ignore[no-redef]
        except ImportError:
            warp = None
    if warp is not None:
        _MAPPING.setdefault(warp, correlation.QATFloatIsland.from_float)
    from hat.models.view_transformers.ipm_sample import IpmSample
    from hat.quantization.qat.ipm_sample import QATIpmSample

    _MAPPING.setdefault(IpmSample, QATIpmSample.from_float)


def get_qat_factory(module: nn.Module) -> QATFactory | None:
    """The factory for ``type(module)`` (exact type first, then the MRO)."""
    _load_defaults()
    for cls in type(module).__mro__:
        if cls in _MAPPING:
            return _MAPPING[cls]
    return None


def qat_mapping() -> dict[type, QATFactory]:
    """A copy of the current float -> QAT table."""
    _load_defaults()
    return dict(_MAPPING)
