"""Mixed precision: give chosen modules a wider activation dtype (e.g. int16) before prepare.

``set_activation_dtype(model, ["head.levels.l2.res_add"], "int16")`` replaces the activation
spec of each named module's effective qconfig (its own, or the closest ancestor's) by the same
spec with ``dtype="int16"`` (symmetric for signed types); observers and weights are unchanged.
Converters expose it as ``Float2Calibration(int16_modules=[...])`` /
``Float2QAT(int16_modules=[...])``, so every stage built from a config follows.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from hat.quantization.qconfig import effective_qconfig
from hat.quantization.qdtypes import get_qdtype

__all__ = ["effective_qconfig", "set_activation_dtype", "set_int16_modules"]


def set_activation_dtype(model: nn.Module, names: Iterable[str], dtype: str = "int16") -> list[str]:
    """Give the modules ``names`` activations of ``dtype`` (mixed precision); call after
    ``set_qconfig()`` and before ``prepare_qat``. Returns the names changed.

    Raises ``KeyError`` for an unknown name and ``ValueError`` for a module that stays float
    (no effective qconfig) or is already prepared.
    """
    qdtype = get_qdtype(dtype)
    modules = dict(model.named_modules())
    changed = []
    for name in names:
        if name not in modules:
            raise KeyError(f"{dtype} modules: no submodule named {name!r}")
        if getattr(modules[name], "_hat_qat", False):
            raise ValueError(f"{dtype} modules: {name!r} is already prepared; set it before")
        qconfig = effective_qconfig(model, name)
        if qconfig is None:
            raise ValueError(f"{dtype} modules: {name!r} has no qconfig (it stays float)")
        act = qconfig.activation.replace(dtype=qdtype.name, symmetric=qdtype.signed)
        modules[name].qconfig = qconfig.replace(activation=act)
        changed.append(name)
    return changed


def set_int16_modules(model: nn.Module, names: Iterable[str]) -> list[str]:
    """:func:`set_activation_dtype` with ``dtype="int16"``."""
    return set_activation_dtype(model, names, "int16")
