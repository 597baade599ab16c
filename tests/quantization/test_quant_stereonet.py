"""End to end on a tiny StereoNet: calibration (percentile) -> int model -> ONNX -> ORT."""

import numpy as np
import pytest
import torch
from torch import nn

from hat.quantization import (
    FakeQuantState,
    Float2Calibration,
    ModelConvertPipeline,
    QAT2Quantize,
    set_fake_quantize,
)
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import optimized_op_counts, run_onnx
from hat.registry import build_from_registry

CFG = dict(
    type="StereoNet",
    backbone=dict(
        type="StereoNetNeck",
        out_channels=[8, 8, 12, 16, 16, 4],
        act_type=nn.ReLU(),
        num_blocks=(1, 1, 1, 1),
    ),
    head=dict(
        type="StereoNetHead",
        maxdisp=64,
        refine_levels=4,
        num_groups=4,
        concat_channels=4,
        agg_channels=(16, 16),
        refine_channels=8,
        refine_dilations=(1, 2),
    ),
    post_process=dict(type="StereoNetPostProcess", maxdisp=64),
    loss=dict(type="SmoothL1Loss"),
    loss_weights=[0.3, 0.3, 0.5, 0.5, 1.0],
)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    torch.manual_seed(0)
    model = build_from_registry(CFG)
    n_conv = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    pipe = ModelConvertPipeline(
        [Float2Calibration()],
        qconfig_params=dict(
            activation_calibration_observer="percentile",
            activation_calibration_qkwargs=dict(percentile=99.985, bins=8192),
        ),
    )
    qat = pipe(model).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(3):
            qat(dict(img=torch.randn(2, 6, 64, 96, generator=g)))
    set_fake_quantize(qat, FakeQuantState.VALIDATION)
    x = torch.randn(1, 6, 64, 96, generator=g)
    with torch.no_grad():
        y_qat = qat(dict(img=x))
    im = QAT2Quantize()(qat)
    y_int = im(dict(img=x))
    path = tmp_path_factory.mktemp("stereonet") / "stereonet.onnx"
    rep = export_int_model_to_onnx(im, {"img": x}, path)
    return dict(im=im, x=x, y_qat=y_qat, y_int=y_int, path=path, rep=rep, n_conv=n_conv)


def test_disparity_path_is_int16(quantized):
    head = quantized["im"].head
    assert head.soft_argmin.out_qdtype.name == "int16"
    for r in head.refinements:
        assert r.add_relu.out_qdtype.name == "int16" and r.upsample.out_qdtype.name == "int16"
        assert r.add_relu.out_zp == -32768  # asymmetric: the saturation is the ReLU
        assert r.concat.out_qdtype.name == "uint8"  # the convs' input stays 8-bit


def test_qat_validation_matches_int_model(quantized):
    y_qat, y_int = quantized["y_qat"], quantized["y_int"]
    assert y_int.shape == (1, 1, 64, 96) and y_int.dtype == torch.float32
    # the fake-quant convs round like float32 convs; the integer model accumulates exactly:
    # rare 1-LSB differences upstream move the output by a few int16 LSBs (64/32767 px each)
    diff = (y_qat - y_int).abs()
    assert float(diff.max()) < 0.1 and float(diff.mean()) < 1e-3


@pytest.mark.parametrize("level", ["disable", "all"])
def test_ort_is_bit_exact(quantized, level):
    got = next(iter(run_onnx(quantized["path"], {"img": quantized["x"]}, level=level).values()))
    assert np.array_equal(got, quantized["y_int"].numpy())


def test_every_conv_is_an_integer_kernel(quantized):
    ops = optimized_op_counts(quantized["path"])
    assert ops["QLinearConv"] == quantized["n_conv"]
    assert "Conv" not in ops and "ConvInteger" not in ops
    assert "Relu" not in ops  # the int16 ReLUs are the requantization's saturation
    assert quantized["rep"].float_islands == []
