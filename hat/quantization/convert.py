"""``convert``: QAT (fake-quant) model -> fixed-point integer model."""

from __future__ import annotations

import copy

from torch import nn

__all__ = ["convert", "is_int_model"]


def _swap(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        to_int = getattr(child, "to_int", None)
        if getattr(child, "_hat_qat", False) and to_int is not None:
            new = to_int()
            new._hat_int = True
            setattr(module, name, new)
        else:
            _swap(child)


def convert(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Replace every QAT module by its integer module (``to_int()``); returns the model in eval
    mode. Needs calibrated qparams (the input scales recorded by the last forward pass)."""
    if not any(getattr(m, "_hat_qat", False) for m in model.modules()):
        raise RuntimeError("convert: the model has no QAT modules (run prepare_qat first)")
    if not inplace:
        model = copy.deepcopy(model)
    _swap(model)
    return model.eval()


def is_int_model(model: nn.Module) -> bool:
    return any(getattr(m, "_hat_int", False) for m in model.modules())
