"""EfficientNet: compound scaling, parameter and MAC counts against the paper and the reference
implementation, HAT's multi-scale outputs, drop connect, activations."""

import math

import pytest
import torch
from torch import nn

from hat.models.backbones import EfficientNet
from hat.models.backbones.efficientnet import (
    EFFICIENTNET_BLOCKS,
    EFFICIENTNET_COEFFICIENTS,
    round_filters,
    round_repeats,
)
from hat.quantization import ModelConvertPipeline
from hat.quantization.converters import Float2Calibration
from hat.registry import build_from_registry
from hat.utils.op_count import count_ops

BN = dict(eps=1e-5, momentum=0.1)


def seed_backbone(model_type="b0", in_channels=3):
    """The BEV and MOTR seeds' backbone dict (ReLU, no SE, no top)."""
    return dict(
        type="efficientnet", bn_kwargs=BN, model_type=model_type, num_classes=1000,
        include_top=False, activation="relu", use_se_block=False, in_channels=in_channels,
    )  # fmt: skip


def closed_form_macs(model_type, h, w, se=False, top=False, in_channels=3, classes=1000):
    """MACs of EfficientNet by hand (one multiply-add per weight per output pixel).

    Stem 3x3 stride 2; per block: 1x1 expand (ratio > 1) at the input size, k x k depthwise
    at the output size (stride-2 sides: ceil(n / 2)), SE's two 1x1 convs at 1x1, 1x1 project;
    top: 1x1 head conv then the classifier at 1x1.
    """
    width, depth, _, _ = EFFICIENTNET_COEFFICIENTS[model_type]
    h, w = math.ceil(h / 2), math.ceil(w / 2)
    c = round_filters(32, width)
    macs = h * w * 9 * in_channels * c
    for g in EFFICIENTNET_BLOCKS:
        c_out = round_filters(g.out_filters, width)
        for i in range(round_repeats(g.num_repeat, depth)):
            mid = c * g.expand_ratio
            if g.expand_ratio != 1:
                macs += h * w * c * mid
            if i == 0 and g.strides == 2:
                h, w = math.ceil(h / 2), math.ceil(w / 2)
            macs += h * w * mid * g.kernel_size**2
            if se:
                macs += 2 * mid * max(1, int(c * g.se_ratio))
            macs += h * w * mid * c_out
            c = c_out
    if top:
        head = round_filters(1280, width)
        macs += h * w * c * head + head * classes
    return macs


@pytest.mark.parametrize(
    "model_type, params, paper_params_m, size, macs, paper_gmacs",
    # Tan & Le 2019, Table 2: B0 5.3M parameters / 0.39B FLOPS (multiply-adds) at 224,
    # B3 12M / 1.8B at 300; the exact parameter counts are the reference PyTorch
    # implementation's (5,288,548 and 12,233,232: torchvision's efficientnet_b0 weights table
    # lists num_params 5288548, its efficientnet_b3 summary 12,233,232 total params).
    [
        ("b0", 5_288_548, 5.3, 224, 385_814_752, 0.39),
        ("b3", 12_233_232, 12, 300, 1_827_141_392, 1.8),
    ],
)
def test_paper_variant_with_se_and_classifier(
    model_type, params, paper_params_m, size, macs, paper_gmacs
):
    model = EfficientNet(model_type, num_classes=1000, use_se_block=True, activation="swish")
    assert sum(p.numel() for p in model.parameters()) == params
    assert round(params / 1e6, 1 if paper_params_m < 10 else 0) == paper_params_m
    assert closed_form_macs(model_type, size, size, se=True, top=True) == macs
    assert round(macs / 1e9, 2 if paper_gmacs < 1 else 1) == paper_gmacs
    if model_type == "b0":  # the counter on the whole network (b3's forward is the slow one)
        assert count_ops(model.eval(), torch.randn(1, 3, size, size))["Global"] == macs
    assert isinstance(model.blocks[0].dw.act, nn.SiLU) and model.blocks[0].se is not None


def test_seed_variant_counts():
    """ReLU, no SE, no top (the BEV and MOTR backbones): B0 2,958,848 parameters, B3 8,223,608
    (the SE gates, the 1x1 head conv and the classifier removed); the BEV encoder's B0 on the
    64-channel BEV features (``in_channels=64``): 2,976,416 (stem conv 3x3x64x32 instead of
    3x3x3x32). MACs at the seeds' inputs."""
    b0 = build_from_registry(seed_backbone("b0"))
    b3 = build_from_registry(seed_backbone("b3"))
    assert sum(p.numel() for p in b0.parameters()) == 2_958_848
    assert sum(p.numel() for p in b3.parameters()) == 8_223_608
    # BEV image encoder at 512x960 per view: 3.56 GMACs; MOTR at 800x1422: 21.2 GMACs
    assert closed_form_macs("b0", 512, 960) == 3_564_119_040
    assert closed_form_macs("b3", 800, 1422) == 21_199_890_000
    assert count_ops(b0.eval(), torch.randn(1, 3, 64, 96))["Global"] == closed_form_macs(
        "b0", 64, 96
    )
    # the BEV encoder's efficientnet takes the 64-channel BEV features
    enc = build_from_registry(seed_backbone("b0", in_channels=64))
    assert sum(p.numel() for p in enc.parameters()) == 2_976_416 == 2_958_848 + 9 * 61 * 32
    assert enc.stem.conv.in_channels == 64


def test_scaling_table():
    # reference widths: stem / head channels per variant
    stems = [round_filters(32, EFFICIENTNET_COEFFICIENTS[f"b{i}"][0]) for i in range(8)]
    heads = [round_filters(1280, EFFICIENTNET_COEFFICIENTS[f"b{i}"][0]) for i in range(8)]
    assert stems == [32, 32, 32, 40, 48, 48, 56, 64]
    assert heads == [1280, 1280, 1408, 1536, 1792, 2048, 2304, 2560]
    assert round_filters(320, 1.2) == 384 and round_filters(40, 1.1) == 48
    assert round_filters(16, 0.1) == 8  # never below the divisor
    assert [round_repeats(r, 1.4) for r in (1, 2, 3, 4)] == [2, 3, 5, 6]
    assert len(EfficientNet("b0", include_top=False).blocks) == 16
    assert len(EfficientNet("b3", include_top=False).blocks) == 26


@pytest.mark.parametrize(
    "model_type, channels", [("b0", [16, 24, 40, 112, 320]), ("b3", [24, 32, 48, 136, 384])]
)
def test_features_at_strides_2_to_32(model_type, channels):
    model = build_from_registry(seed_backbone(model_type)).eval()
    with torch.no_grad():
        feats = model(torch.randn(2, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [
        (2, c, 64 // s, 96 // s) for c, s in zip(channels, (2, 4, 8, 16, 32))
    ]
    assert model.out_channels == channels and model.out_strides == [2, 4, 8, 16, 32]
    # the seeds' necks: FastSCNNNeck indexes [-3, -1] -> (40, 320) for B0; MOTR's single level
    # is the last feature (384 channels for B3)
    assert [feats[i].shape[1] for i in (-3, -1)] == [channels[2], channels[4]]


def test_odd_sizes_follow_the_strided_convs():
    model = EfficientNet("b0", include_top=False).eval()
    with torch.no_grad():
        feats = model(torch.randn(1, 3, 50, 89))
    assert [tuple(f.shape[-2:]) for f in feats] == [(25, 45), (13, 23), (7, 12), (4, 6), (2, 3)]


def test_gradients_reach_the_stem_and_drop_connect_is_training_only():
    torch.manual_seed(0)
    model = EfficientNet("b0", include_top=False, drop_connect_rate=0.5, bn_kwargs=BN)
    rates = [b.drop_connect_rate for b in model.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.5 * 15 / 16)
    assert rates == sorted(rates)
    x = torch.randn(2, 3, 64, 64)
    feats = model(x)
    sum(f.square().mean() for f in feats).backward()
    assert float(model.stem.conv.weight.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in model.parameters())
    # training: residual branches of whole samples dropped at random
    block = model.blocks[-2]  # 192 -> 192, stride 1: a residual block, rate 0.44
    assert block.add is not None
    y = torch.randn(8, 192, 4, 4)
    torch.manual_seed(1)
    outs = {tuple(block(y).flatten(1).sub(y.flatten(1)).abs().sum(1).gt(0).tolist())}
    torch.manual_seed(2)
    outs.add(tuple(block(y).flatten(1).sub(y.flatten(1)).abs().sum(1).gt(0).tolist()))
    assert len(outs) == 2 and all(False in o for o in outs)  # some samples keep only x
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)[-1], model(x)[-1])


def test_classifier_top_and_bad_arguments():
    model = EfficientNet("b0", num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert isinstance(model.blocks[0].dw.act, nn.ReLU) and model.blocks[0].se is None
    with pytest.raises(ValueError, match="model_type must be one of"):
        EfficientNet("b9")
    with pytest.raises(ValueError, match="activation must be one of"):
        EfficientNet("b0", activation="gelu")
    with pytest.raises(ValueError, match="num_classes"):
        EfficientNet("b0", num_classes=-1)


def test_swish_is_float_only():
    """The quantized convs fuse ReLU only: a swish model is refused with the reason."""
    model = EfficientNet("b0", include_top=False, activation="swish")
    with pytest.raises(NotImplementedError, match="SiLU cannot be fused"):
        ModelConvertPipeline([Float2Calibration()])(model)
