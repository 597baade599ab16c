"""A model's qconfigs: HAT's default ``set_qconfig`` (:func:`default_set_qconfig`).

The whole model gets one :class:`~hat.quantization.qconfig.QConfig`; named submodules then get a
high-precision output, stay float, or get int16 activations
(:mod:`hat.quantization.mixed_precision`). Children inherit their parent's qconfig unless they
set their own (:func:`hat.quantization.qconfig.inherited_qconfig`).
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from hat.quantization.mixed_precision import set_int16_modules
from hat.quantization.qconfig import QConfig, get_default_qconfig

__all__ = ["default_set_qconfig"]


def default_set_qconfig(
    model: nn.Module,
    qconfig: QConfig | None = None,
    high_precision_outputs: Iterable[str] | None = None,
    float_modules: Iterable[str] | None = None,
    int16_modules: Iterable[str] | None = None,
) -> nn.Module:
    """HAT's default ``set_qconfig``: whole model gets ``qconfig`` (default preset
    ``ort_u8s8``); the submodules named in ``high_precision_outputs`` (or in the model attribute
    ``high_precision_outputs``, e.g. ``["head.conv_out"]``) get a high-precision output; those in
    ``float_modules`` (or attribute ``float_modules``) stay float (``qconfig=None``); those in
    ``int16_modules`` (or attribute ``int16_modules``) get int16 activations."""
    qconfig = qconfig or get_default_qconfig()
    model.qconfig = qconfig
    names = list(high_precision_outputs or getattr(model, "high_precision_outputs", ()) or ())
    modules = dict(model.named_modules())
    for name in names:
        if name not in modules:
            raise KeyError(f"high_precision_outputs: no submodule named {name!r}")
        modules[name].qconfig = qconfig.replace(high_precision_output=True)
    for name in list(float_modules or getattr(model, "float_modules", ()) or ()):
        if name not in modules:
            raise KeyError(f"float_modules: no submodule named {name!r}")
        modules[name].qconfig = None
    int16 = list(int16_modules or getattr(model, "int16_modules", ()) or ())
    if int16:
        set_int16_modules(model, int16)
    return model
