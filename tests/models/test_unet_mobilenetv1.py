"""MobileNetV1: widths, strides, parameter and MAC counts against the paper's table."""

import pytest
import torch

from hat.models.backbones import MobileNetV1
from hat.utils.op_count import count_ops


def closed_form_counts(alpha: float, size: int = 224, classes: int = 1000) -> tuple[int, int]:
    """(parameters, MACs) of MobileNetV1 from the paper's Table 1, by hand.

    Stem: 3x3 stride-2 conv 3 -> 32a, no bias, BN (2 parameters per channel). Each of the 13
    blocks: 3x3 depthwise conv (9 weights per channel) + BN, 1x1 pointwise conv + BN, no
    biases. Top: global average pool + 1x1 conv to ``classes`` with bias. MACs count one
    multiply-add per weight per output pixel (biases, BN, ReLU and pooling count 0).
    """
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    blocks += [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    c_in, hw = int(32 * alpha), size // 2
    params = 27 * c_in + 2 * c_in
    macs = hw * hw * 27 * c_in
    for c, s in blocks:
        c_out, hw = int(c * alpha), hw // s
        params += 9 * c_in + 2 * c_in + c_in * c_out + 2 * c_out
        macs += hw * hw * (9 * c_in + c_in * c_out)
        c_in = c_out
    params += c_in * classes + classes
    macs += c_in * classes
    return params, macs


@pytest.mark.parametrize(
    "alpha, params, macs, paper_params_m, paper_macs_m",
    # Exact counts of this implementation (224x224, 1000 classes), equal to the closed form
    # above; e.g. x0.25 parameters: stem 216 + depthwise 11,160 + pointwise 196,224 +
    # classifier 257,000 = 464,600 weights, + 5,472 BN affine parameters = 470,072.
    # x0.25 MACs: stem 2,709,504 + blocks 38,064,768 + classifier 256,000 = 41,030,272.
    # Howard et al. 2017, Table 6 (rounded): 0.47 M / 41 M (x0.25) and 4.2 M / 569 M (x1.0).
    [
        (0.25, 470_072, 41_030_272, 0.47, 41),
        (1.0, 4_231_976, 568_740_352, 4.2, 569),
    ],
)
def test_params_and_macs_are_exact_and_match_the_paper(
    alpha, params, macs, paper_params_m, paper_macs_m
):
    assert closed_form_counts(alpha) == (params, macs)
    digits = 2 if paper_params_m < 1 else 1
    assert round(params / 1e6, digits) == paper_params_m
    assert round(macs / 1e6) == paper_macs_m
    model = MobileNetV1(num_classes=1000, alpha=alpha).eval()
    assert sum(p.numel() for p in model.parameters()) == params
    assert count_ops(model, torch.randn(1, 3, 224, 224))["Global"] == macs


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
