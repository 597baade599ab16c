"""Tiny nets for the accuracy-debugging tests, with a layer whose uint8 output is known bad."""

from __future__ import annotations

import torch
from torch import nn

import hat.nn as hnn
from hat.metrics.epe import EndPointError
from hat.quantization import default_set_qconfig, prepare_qat
from hat.quantization.debug import Evaluator, MetricSpec, calibrate

OUTLIER = 300.0


class OutlierNet(nn.Module):
    """quant -> c1 (conv-ReLU) -> c2 (1x1 conv) -> c3 (1x1 conv, 2 ch) -> dequant.

    ``c2``'s channel 0 carries a constant ``OUTLIER`` that ``c3`` ignores, so c2's per-tensor
    uint8 output scale is ~``OUTLIER / 255`` and crushes the small channels c3 reads: c2 is the
    layer quantization hurts, and int16 activations cure it. No BN, so with fake quant off the
    prepared net computes bit for bit what the float net computes.
    """

    def __init__(self, c: int = 8, outlier: float = OUTLIER) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.quant = hnn.QuantStub()
        self.c1 = hnn.ConvModule2d(3, c, 3, padding=1, act_layer=nn.ReLU())
        self.c2 = hnn.ConvModule2d(c, c, 1)
        self.c3 = hnn.ConvModule2d(c, 2, 1)
        self.dequant = hnn.DeQuantStub()
        with torch.no_grad():
            for conv in (self.c1.conv, self.c2.conv, self.c3.conv):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.3)
                conv.bias.zero_()
            self.c2.conv.weight[0].mul_(0.01)
            self.c2.conv.bias[0] = outlier
            self.c3.conv.weight[:, 0].zero_()

    def forward(self, data: dict) -> torch.Tensor:
        x = self.quant(data["img"])
        return self.dequant(self.c3(self.c2(self.c1(x))))

    def set_qconfig(self) -> None:
        default_set_qconfig(self)


def make_batches(n: int = 3, size: int = 12, outlier: float = OUTLIER) -> list[dict]:
    """Random image batches; ``gt`` is the float net's own output (EPE vs float)."""
    g = torch.Generator().manual_seed(1)
    net = OutlierNet(outlier=outlier).eval()
    batches = []
    for _ in range(n):
        img = torch.randn(2, 3, size, size, generator=g)
        with torch.no_grad():
            batches.append({"img": img, "gt": net({"img": img})})
    return batches


def calibrated_outlier_net(batches: list[dict], outlier: float = OUTLIER) -> nn.Module:
    """OutlierNet prepared and calibrated on ``batches`` (VALIDATION state)."""
    model = OutlierNet(outlier=outlier)
    model.set_qconfig()
    prepare_qat(model)
    return calibrate(model, batches)


def epe_evaluator(batches: list[dict]) -> Evaluator:
    """EPE of the model output against the float output (lower is better)."""

    def update(metrics, batch, outs) -> None:
        for m in metrics:
            m.update(batch["gt"], outs)

    return Evaluator(batches, metrics=[EndPointError()], update_metric=update,
                     spec=MetricSpec("EPE", higher_is_better=False))  # fmt: skip


class RescaledNet(OutlierNet):
    """OutlierNet whose ``fuse_model()`` reparametrises function-preservingly, as PwcNet's
    cost-volume gain does: c2's output is scaled up by ``GAIN``, c3's weights down by it."""

    GAIN = 8.0

    def fuse_model(self) -> None:
        if getattr(self, "_rescaled", False):
            return
        with torch.no_grad():
            self.c2.conv.weight.mul_(self.GAIN)
            self.c2.conv.bias.mul_(self.GAIN)
            self.c3.conv.weight.div_(self.GAIN)
        self._rescaled = True
