"""Helpers shared by the quantization tests (small nets built from hat.nn blocks)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import hat.nn as hnn
from hat.quantization import (
    FakeQuantState,
    convert,
    default_set_qconfig,
    get_default_qconfig,
    prepare_qat,
    set_fake_quantize,
)
from hat.quantization.qtensor import QTensor, plain


class OpNet(nn.Module):
    """QuantStub per input -> op (-> DeQuantStub if ``dequant``)."""

    def __init__(self, op: nn.Module, n_inputs: int = 1, dequant: bool = False) -> None:
        super().__init__()
        self.stubs = nn.ModuleList(hnn.QuantStub() for _ in range(n_inputs))
        self.op = op
        self.dq = hnn.DeQuantStub() if dequant else None

    def forward(self, *xs: torch.Tensor):
        y = self.op(*[s(x) for s, x in zip(self.stubs, xs)])
        return self.dq(y) if self.dq is not None else y


class SmallNet(nn.Module):
    """conv-bn-relu, strided conv-bn, depthwise, dilated, add, concat, bilinear/nearest up."""

    def __init__(self, c: int = 8, high_precision_head: bool = False) -> None:
        super().__init__()
        bn = lambda n: nn.BatchNorm2d(n)  # noqa: E731
        self.quant = hnn.QuantStub()
        self.c1 = hnn.ConvModule2d(3, c, 3, norm_layer=bn(c), act_layer=nn.ReLU())
        self.c2 = hnn.ConvModule2d(c, c, 3, stride=2, norm_layer=bn(c), act_layer=nn.ReLU())
        self.dw = hnn.ConvModule2d(c, c, 3, groups=c, norm_layer=bn(c), act_layer=nn.ReLU())
        self.pw = hnn.ConvModule2d(c, c, 1, norm_layer=bn(c))
        self.skip = hnn.ConvModule2d(c, c, 1, norm_layer=bn(c))
        self.add = hnn.Add()
        self.dil = hnn.ConvModule2d(c, c, 3, dilation=2, norm_layer=bn(c), act_layer=nn.ReLU())
        self.up = hnn.Interpolate(scale_factor=2, mode="bilinear", align_corners=False)
        self.up_n = hnn.Interpolate(scale_factor=2, mode="nearest")
        self.cat = hnn.Concat(dim=1)
        self.head = hnn.ConvModule2d(3 * c, 4, 1)
        self.dequant = hnn.DeQuantStub()
        self.high_precision_outputs = ["head"] if high_precision_head else []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quant(x)
        a = self.c1(x)
        b = self.c2(a)
        b = self.add(self.pw(self.dw(b)), self.skip(b))
        b = self.dil(b)
        y = self.cat(a, self.up(b), self.up_n(b))
        return self.dequant(self.head(y))

    def fuse_model(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self) -> None:
        default_set_qconfig(self)

    @property
    def num_convs(self) -> int:
        return sum(isinstance(m, nn.Conv2d) for m in self.modules())


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def quantize_model(
    model: nn.Module,
    calib_inputs: list[tuple[torch.Tensor, ...]],
    qconfig=None,
    preset: str = "ort_u8s8",
) -> tuple[nn.Module, nn.Module]:
    """prepare -> calibrate (eval BN) -> VALIDATION; returns (qat_model, int_model)."""
    default_set_qconfig(model, qconfig or get_default_qconfig(preset))
    prepare_qat(model)
    model.eval()
    set_fake_quantize(model, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for xs in calib_inputs:
            model(*xs)
    set_fake_quantize(model, FakeQuantState.VALIDATION)
    return model, convert(model)


def int_values(y: QTensor) -> np.ndarray:
    """Integer codes of a QTensor (fake-quant float data or integer data)."""
    data = plain(y)
    if data.dtype.is_floating_point:
        q = torch.round(data / y.q_scale) + y.q_zero_point
        return q.to(torch.int64).numpy()
    return data.to(torch.int64).numpy()


def lsb_stats(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """(max |a - b|, fraction of differing elements) of two integer arrays."""
    d = np.abs(np.asarray(a, np.int64) - np.asarray(b, np.int64))
    return int(d.max()), float((d > 0).mean())
