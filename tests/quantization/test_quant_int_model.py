"""Fake-quant (VALIDATION) model vs the integer model, op by op, plus exact integer conv.

Expected: identical integer codes except where float32 rounding in the fake-quant graph lands
on a .5 tie (torch's fake quant multiplies by 1/scale; the integer model divides, like ORT):
at most 1 LSB on a tiny fraction, asserted below.
"""

import pytest
import torch
from quant_helpers import OpNet, int_values, lsb_stats, quantize_model, randomize_bn
from torch import nn

import hat.nn as hnn
from hat.quantization import get_default_qconfig
from hat.quantization.quantized.intops import conv_split_plan, exact_conv2d

MAX_FRACTION = 2e-3  # differing codes allowed (all within 1 LSB)


def _bn(c):
    return nn.BatchNorm2d(c)


def _inputs(shapes, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*s, generator=g) * scale for s in shapes)


S = (2, 8, 12, 16)
OPS = {
    "conv": (lambda: hnn.ConvModule2d(8, 16, 3), [S]),
    "conv_bn_relu": (
        lambda: hnn.ConvModule2d(8, 16, 3, norm_layer=_bn(16), act_layer=nn.ReLU()),
        [S],
    ),
    "depthwise": (
        lambda: hnn.ConvModule2d(8, 8, 3, groups=8, norm_layer=_bn(8), act_layer=nn.ReLU()),
        [S],
    ),
    "dilated": (lambda: hnn.ConvModule2d(8, 8, 3, dilation=2, norm_layer=_bn(8)), [S]),
    "strided": (lambda: hnn.ConvModule2d(8, 12, 3, stride=2, norm_layer=_bn(12)), [S]),
    "plain_conv2d": (lambda: nn.Conv2d(8, 8, 5, padding=2), [S]),
    "add": (hnn.Add, [S, S]),
    "mul": (hnn.Mul, [S, S]),
    "concat": (lambda: hnn.Concat(1), [S, S, (2, 4, 12, 16)]),
    "mul_scalar": (lambda: hnn.MulScalar(2.0), [S]),
    "mul_scalar_neg": (lambda: hnn.MulScalar(-0.7), [S]),
    "bilinear": (lambda: hnn.Interpolate(scale_factor=2, mode="bilinear"), [S]),
    "bilinear_ac": (
        lambda: hnn.Interpolate(scale_factor=2, mode="bilinear", align_corners=True),
        [S],
    ),
    "bilinear_size": (lambda: hnn.Interpolate(size=(17, 23), mode="bilinear"), [S]),
    "nearest": (lambda: hnn.Interpolate(scale_factor=2, mode="nearest"), [S]),
    "sigmoid": (nn.Sigmoid, [S]),
    "softmax": (lambda: nn.Softmax(dim=1), [S]),
    "relu": (nn.ReLU, [S]),
    "correlation": (lambda: hnn.Correlation(2), [S, S]),
    "warp": (lambda: hnn.Warp(), [S, (2, 2, 12, 16)]),
}


def run_op(name, preset="ort_u8s8", qconfig=None):
    factory, shapes = OPS[name]
    op = factory()
    net = randomize_bn(OpNet(op, len(shapes)))
    xs = _inputs(shapes, seed=1, scale=2.0)
    calib = [xs, _inputs(shapes, seed=2, scale=2.0)]
    qat, im = quantize_model(net, calib, qconfig=qconfig, preset=preset)
    with torch.no_grad():
        y_fq = qat(*xs)
    y_int = im(*xs)
    return qat, im, xs, y_fq, y_int


@pytest.mark.parametrize("name", sorted(OPS))
def test_fake_quant_vs_int_model(name):
    _, im, _, y_fq, y_int = run_op(name)
    a, b = int_values(y_fq), int_values(y_int)
    assert a.shape == b.shape
    mx, frac = lsb_stats(a, b)
    print(f"{name}: max {mx} LSB, {frac:.2e} of {a.size} differ")
    assert mx <= 1 and frac <= MAX_FRACTION, (name, mx, frac)
    assert not torch.is_floating_point(y_int)


@pytest.mark.parametrize("preset", ["horizon_s8", "int16"])
@pytest.mark.parametrize("name", ["conv_bn_relu", "add", "bilinear", "sigmoid"])
def test_symmetric_presets(preset, name):
    _, _, _, y_fq, y_int = run_op(name, preset=preset)
    mx, frac = lsb_stats(int_values(y_fq), int_values(y_int))
    qd = {"horizon_s8": torch.int8, "int16": torch.int16}[preset]
    assert y_int.dtype == qd and int(y_int.q_zero_point) == 0
    assert mx <= 1 and frac <= MAX_FRACTION, (preset, name, mx, frac)


def test_high_precision_output_conv():
    qc = get_default_qconfig(high_precision_output=True)
    net = randomize_bn(OpNet(hnn.ConvModule2d(8, 4, 3, norm_layer=_bn(4)), 1))
    xs = _inputs([S], seed=1)
    qat, im = quantize_model(net, [xs], qconfig=None)
    # switch only the op to high precision: re-prepare from scratch
    net = randomize_bn(OpNet(hnn.ConvModule2d(8, 4, 3, norm_layer=_bn(4)), 1))
    net.op.qconfig = qc
    qat, im = quantize_model(net, [xs])
    with torch.no_grad():
        y_fq = qat(*xs)
    y_int = im(*xs)
    assert type(y_int) is torch.Tensor and y_int.dtype == torch.float32
    # float32(int32 acc * scale) vs float conv of fake-quantized values: float rounding only
    assert torch.allclose(y_fq, y_int, rtol=1e-5, atol=1e-5)


def test_mixed_precision_int16_module():
    net = randomize_bn(OpNet(hnn.ConvModule2d(8, 8, 3, norm_layer=_bn(8)), 1))
    net.op.qconfig = get_default_qconfig(activation_dtype="int16")
    xs = _inputs([S], seed=3)
    qat, im = quantize_model(net, [xs])
    y = im(*xs)
    assert y.dtype == torch.int16 and im.stubs[0].out_qdtype.name == "uint8"
    mx, frac = lsb_stats(int_values(qat(*xs)), int_values(y))
    assert mx <= 1 and frac <= MAX_FRACTION


@pytest.mark.parametrize(
    "amax,l1,expect", [(255, 50_000, "f32"), (255, 200_000, "split"), (32767, 2_000_000, "f64")]
)
def test_exact_conv_plans(amax, l1, expect):
    assert conv_split_plan(amax, l1)[0] == expect


@pytest.mark.parametrize("plan", [("f32", 0), ("split", 16), ("split", 256), ("f64", 0)])
def test_exact_conv_is_exact(plan):
    g = torch.Generator().manual_seed(0)
    cin, k = 96, 3
    x = torch.randint(-255, 256, (1, cin, 10, 10), generator=g).float()
    if plan == ("f32", 0):
        x = torch.randint(-20, 21, (1, cin, 10, 10), generator=g).float()
    if plan == ("split", 256):
        x = torch.randint(-32767, 32768, (1, cin, 10, 10), generator=g).float()
    w = torch.randint(-128, 128, (16, cin, k, k), generator=g).float()
    acc = exact_conv2d(x, w, (1, 1), (1, 1), (1, 1), 1, plan)
    ref = torch.nn.functional.conv2d(x.double(), w.double(), padding=1)
    assert acc.dtype == torch.int32
    assert torch.equal(acc.long(), ref.long())
