"""Shared helpers of the QAT (fake-quant) modules."""

from __future__ import annotations

import torch
from torch import nn

from hat.quantization.fake_quantize import FakeQuantize
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor, make_qtensor, plain

__all__ = ["QATModule", "expect_qtensor", "module_device", "all_float"]


def all_float(*xs: object) -> bool:
    """True when no input is quantized: functional modules then run the plain float op
    (float post-processing after a DeQuantStub, e.g. PwcnetTask's final resize and x4).
    Mixed float/quantized inputs are an error."""
    flat = []
    for x in xs:
        flat.extend(x if isinstance(x, (list, tuple)) else [x])
    qs = [isinstance(x, QTensor) for x in flat if isinstance(x, torch.Tensor)]
    if any(qs) and not all(qs):
        raise TypeError("a quantized module got both quantized and float inputs")
    return not any(qs)


def expect_qtensor(x: object, module: nn.Module, what: str = "input") -> QTensor:
    """``x`` as a QTensor, or a clear error naming the module."""
    if isinstance(x, QTensor):
        return x
    kind = type(x).__name__
    raise TypeError(
        f"{type(module).__name__}: {what} is a {kind}, not a quantized tensor. Quantized modules "
        "need quantized inputs: put a QuantStub in front of the quantized region (or give the "
        "producing module a qconfig)."
    )


def module_device(module: nn.Module) -> torch.device:
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


class QATModule(nn.Module):
    """Base of QAT modules with one output FakeQuantize ``activation_post_process``."""

    def _init_output(self, qconfig: QConfig) -> None:
        self.qconfig = qconfig
        self.activation_post_process = FakeQuantize(qconfig.activation)

    def _wrap_output(self, y: torch.Tensor) -> QTensor:
        fq = self.activation_post_process
        y = fq(plain(y))
        return make_qtensor(y, fq.scale, fq.zero_point, fq.qdtype)

    def to_int(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no integer counterpart")


def record_input_qparams(module: nn.Module, xs: list[QTensor]) -> None:
    """Copy the inputs' scale/zero point into the module's ``input_scale``/``input_zero_point``
    buffers (shape ``(len(xs),)``); convert needs them for bias/LUT/requant constants."""
    with torch.no_grad():
        for i, x in enumerate(xs):
            module.input_scale[i] = x.q_scale.detach()
            module.input_zero_point[i] = x.q_zero_point.detach()
