"""``prepare_qat``: swap float modules for their fake-quant (QAT) counterparts."""

from __future__ import annotations

import copy

import torch
from torch import nn

from hat.quantization.fake_quantize import FakeQuantState, set_fake_quantize
from hat.quantization.mapping import get_qat_factory
from hat.quantization.qat.base import module_device
from hat.quantization.qconfig import QConfig, inherited_qconfig

__all__ = ["prepare_qat", "QAT_MODES", "is_prepared"]

QAT_MODES = ("fuse_bn",)


def _has_qconfig(model: nn.Module) -> bool:
    return any(getattr(m, "qconfig", None) is not None for m in model.modules())


def is_prepared(model: nn.Module) -> bool:
    return any(getattr(m, "_hat_qat", False) for m in model.modules())


def _swap(module: nn.Module, inherited: QConfig | None, device: torch.device) -> int:
    count = 0
    for name, child in list(module.named_children()):
        qconfig = inherited_qconfig(child, inherited)
        if getattr(child, "_hat_qat", False):
            continue
        factory = get_qat_factory(child) if qconfig is not None else None
        if factory is not None:
            new = factory(child, qconfig).to(device)
            new._hat_qat = True
            new.qconfig = qconfig
            setattr(module, name, new)
            count += 1
        else:
            count += _swap(child, qconfig, device)
    return count


def prepare_qat(
    model: nn.Module,
    inplace: bool = True,
    qat_mode: str = "fuse_bn",
    state: FakeQuantState | str = FakeQuantState.QAT,
) -> nn.Module:
    """Swap every mapped module (``hat.nn`` blocks, Conv2d inside or outside ConvModule2d,
    ReLU/Sigmoid/Softmax, ...) whose effective ``qconfig`` is not None for its QAT module,
    recursively, and set the fake-quant ``state`` (HAT: QAT).

    ``qconfig`` is inherited from the closest ancestor with a ``qconfig`` attribute; call
    ``model.set_qconfig()`` (or :func:`hat.quantization.model_qconfig.default_set_qconfig`) first.
    ``qat_mode="fuse_bn"``: ConvModule2d's BN is folded into the conv (see
    :mod:`hat.quantization.qat.conv`).
    """
    if qat_mode not in QAT_MODES:
        raise ValueError(f"qat_mode {qat_mode!r} is not supported; choose from {QAT_MODES}")
    if not _has_qconfig(model):
        raise RuntimeError(
            "prepare_qat: no module has a qconfig; call model.set_qconfig() (or "
            "hat.quantization.default_set_qconfig(model)) first"
        )
    if is_prepared(model):
        raise RuntimeError("prepare_qat: the model is already prepared")
    if not inplace:
        model = copy.deepcopy(model)
    root_q = inherited_qconfig(model, None)
    if get_qat_factory(model) is not None and root_q is not None:
        raise TypeError("prepare_qat: the root module itself is a quantizable op; wrap it")
    n = _swap(model, root_q, module_device(model))
    if n == 0:
        raise RuntimeError("prepare_qat: no quantizable module found")
    set_fake_quantize(model, state)
    return model
