"""BevSegDecoder quantized: float -> calibration -> integer model, close to float; the class
maps agree; the integer head exports to ONNX and ORT matches it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import hat.nn as hnn
from hat.models.losses.cross_entropy_loss import CrossEntropyLossV2
from hat.models.task_modules.fcn import (
    BevSegDecoder,
    DepthwiseSeparableFCNHead,
    FCNDecoder,
    FCNTarget,
)
from hat.quantization import (
    FakeQuantState,
    convert,
    default_set_qconfig,
    prepare_qat,
    set_fake_quantize,
)


class SegNet(nn.Module):
    """QuantStub on the BEV feature, then the seed's map-segmentation branch."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.seg = BevSegDecoder(
            "bev_seg",
            DepthwiseSeparableFCNHead(0, 48, 48, 4, dropout_ratio=0.1, num_convs=2),
            FCNTarget(),
            CrossEntropyLossV2("decode", "mean", -1, False, [1.0, 5.0, 5.0, 5.0]),
            FCNDecoder(1, False, -1),
            bev_size=(12.8, 12.8, 0.8),
            task_size=(6.0, 9.0, 0.15),
            task_weight=10.0,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seg([self.quant(x)])

    def fuse_model(self) -> None:
        self.seg.fuse_model()

    def set_qconfig(self) -> None:
        default_set_qconfig(self)
        self.seg.set_qconfig()


def _trained_like(net: SegNet) -> SegNet:
    """Weights of a unit-gain network (the head's HAT init, std 0.01, gives near-zero logits)
    and non-trivial BN statistics."""
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5
            if m.bias is not None:
                m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return net.eval()


def _feats(n: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 48, 32, 32, generator=g).relu() for _ in range(n)]


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    float_net = _trained_like(SegNet())
    qat = copy.deepcopy(float_net)
    qat.fuse_model()
    qat.set_qconfig()
    prepare_qat(qat, inplace=True)
    qat.eval()
    set_fake_quantize(qat, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for x in _feats(4, 1):
            qat(x)
    set_fake_quantize(qat, FakeQuantState.VALIDATION)
    return float_net, qat, convert(qat)


def test_int_model_close_to_float(models):
    float_net, qat, int_net = models
    (x,) = _feats(1, 2)
    with torch.no_grad():
        y_f = float_net(x)
        y_q = qat(x)
        y_i = int_net(x)
    assert y_i.shape == y_f.shape == (2, 4, 32, 32)
    assert type(y_i) is torch.Tensor and y_i.dtype == torch.float32  # after the DeQuantStub
    # the classifier's high-precision output: the integer model is the fake-quant model
    assert (y_i - y_q).abs().max().item() <= 1e-4 * y_f.abs().max().item()
    rel = ((y_i - y_f).norm() / y_f.norm()).item()
    assert rel < 0.035, rel  # measured 0.028
    m_f = float_net.seg.post_process(y_f)
    m_i = int_net.seg.post_process(y_i)
    assert m_i.shape == (2, 80, 120) and m_i.dtype == torch.int64
    agree = (m_f == m_i).float().mean().item()
    assert agree > 0.97, agree  # measured 0.981


def test_int_model_loss_matches_float(models):
    float_net, _, int_net = models
    (x,) = _feats(1, 3)
    with torch.no_grad():
        y_f, y_i = float_net(x), int_net(x)
    gt = float_net.seg.post_process(y_f)  # the float model's own map: small loss
    l_f = float_net.seg.loss(y_f, {"gt_seg_mask": gt})["bev_seg_loss"].item()
    l_i = int_net.seg.loss(y_i, {"gt_seg_mask": gt})["bev_seg_loss"].item()
    assert l_i == pytest.approx(l_f, rel=0.01)  # measured 0.2 %


def test_integer_convs_and_ort_match(models, tmp_path):
    from hat.quantization.export_onnx import export_int_model_to_onnx
    from hat.quantization.ort_runner import EXACT_INT_CONV_OP, optimized_op_counts, run_onnx

    _, _, int_net = models
    (x,) = _feats(1, 4)
    path = tmp_path / "seg.onnx"
    export_int_model_to_onnx(int_net, {"x": x}, str(path))
    with torch.no_grad():
        y_i = int_net(x).numpy()
    (y_o,) = run_onnx(str(path), {"x": x.numpy()}, level="all").values()
    np.testing.assert_allclose(y_o, y_i, rtol=0, atol=1e-5 * np.abs(y_i).max())
    ops = optimized_op_counts(str(path), level="all")
    # 2 separable blocks (dw + pw) as QLinearConv, the high-precision classifier as an exact
    # int32 conv
    assert "Conv" not in ops and ops["QLinearConv"] == 4 and ops[EXACT_INT_CONV_OP] == 1, dict(ops)
