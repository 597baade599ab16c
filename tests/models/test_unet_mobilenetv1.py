"""MobileNetV1: widths, strides, parameter and MAC counts against the paper's table."""

import pytest
import torch

from hat.models.backbones import MobileNetV1
from hat.tools.calops import count_ops


@pytest.mark.parametrize(
    "alpha, params, macs",
    # Howard et al. 2017, Table 6 (224x224, 1000 classes): 0.47M / 41M and 4.2M / 569M
    [(0.25, 0.47e6, 41e6), (1.0, 4.2e6, 569e6)],
)
def test_params_and_macs_match_the_paper(alpha, params, macs):
    model = MobileNetV1(num_classes=1000, alpha=alpha).eval()
    n = sum(p.numel() for p in model.parameters())  # x0.25: 470,072 (464,600 without BN)
    assert abs(n - params) / params < 0.01, n
    counted = count_ops(model, torch.randn(1, 3, 224, 224))["Global"]
    assert abs(counted - macs) / macs < 0.01, counted


def test_features_strides_and_widths():
    model = MobileNetV1(num_classes=-1, alpha=0.25, include_top=False).eval()
    with torch.no_grad():
        feats = model(torch.randn(2, 3, 64, 128))
    shapes = [tuple(f.shape) for f in feats]
    assert shapes == [
        (2, 16, 32, 64),
        (2, 32, 16, 32),
        (2, 64, 8, 16),
        (2, 128, 4, 8),
        (2, 256, 2, 4),
    ]
    assert model.out_channels == [16, 32, 64, 128, 256]
    # DwUnet(base_channels=8) expects 8 * stride channels at every stride
    assert all(c == 8 * s for c, s in zip(model.out_channels, model.out_strides))


def test_dw_with_relu_switches_the_depthwise_activation():
    with_relu = MobileNetV1(num_classes=-1, alpha=0.25, include_top=False)
    linear = MobileNetV1(num_classes=-1, alpha=0.25, include_top=False, dw_with_relu=False)
    block = with_relu.stages[1][0]
    assert isinstance(block.dw.act, torch.nn.ReLU) and isinstance(block.pw.act, torch.nn.ReLU)
    assert linear.stages[1][0].dw.act is None and block.dw.conv.groups == 16


def test_classifier_top():
    model = MobileNetV1(num_classes=10, alpha=0.25).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 96, 96)).shape == (2, 10)
    with pytest.raises(ValueError, match="num_classes"):
        MobileNetV1(num_classes=-1, include_top=True)
