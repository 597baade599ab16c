"""Ops of the segmentation models, quantized: AddReLU, strided depthwise conv, bilinear resize
to a given size, and argmax on quantized logits. Fake quant (VALIDATION) vs the integer model,
and the integer model vs ONNX Runtime (bit-exact), plus what ORT makes of each."""

import numpy as np
import pytest
import torch
from quant_helpers import OpNet, int_values, lsb_stats, quantize_model, randomize_bn
from torch import nn

import hat.nn as hnn
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import classify_ops, optimized_op_counts, run_onnx
from hat.quantization.qtensor import QTensor, plain

S = (2, 8, 12, 16)


class ConvArgmax(nn.Module):
    """19-class 1x1 conv (with BN) then ``argmax(dim=1, keepdim=True)``: a deploy seg head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = hnn.ConvModule2d(8, 19, 1, bias=False, norm_layer=nn.BatchNorm2d(19))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).argmax(dim=1, keepdim=True)


OPS = {
    "add_relu": (hnn.AddReLU, [S, S]),
    "depthwise_strided": (
        lambda: hnn.ConvModule2d(
            8,
            8,
            3,
            stride=2,
            groups=8,
            bias=False,
            norm_layer=nn.BatchNorm2d(8),
            act_layer=nn.ReLU(),
        ),
        [S],
    ),  # fmt: skip
    "bilinear_to_size": (lambda: hnn.Interpolate(size=(24, 32), mode="bilinear"), [S]),
    "bilinear_to_odd_size": (lambda: hnn.Interpolate(size=(23, 31), mode="bilinear"), [S]),
    "conv_argmax": (ConvArgmax, [S]),
}


def _inputs(shapes, seed, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*s, generator=g) * scale for s in shapes)


def run_op(name, preset="ort_u8s8"):
    factory, shapes = OPS[name]
    net = randomize_bn(OpNet(factory(), len(shapes)))
    xs = _inputs(shapes, 1)
    qat, im = quantize_model(net, [xs, _inputs(shapes, 2)], preset=preset)
    with torch.no_grad():
        y_fq = qat(*xs)
    return qat, im, xs, y_fq, im(*xs)


def _codes(y):
    return int_values(y) if isinstance(y, QTensor) else plain(y).numpy()


class _Pos(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, **kw):
        return self.net(*[kw[f"x{i}"] for i in range(len(kw))])


def _export(im, xs, path):
    rep = export_int_model_to_onnx(_Pos(im), {f"x{i}": x for i, x in enumerate(xs)}, path)
    feeds = {f"x{i}": x for i, x in enumerate(xs)}
    outs = {lvl: next(iter(run_onnx(path, feeds, level=lvl, threads=1).values())) for lvl in
            ("disable", "all")}  # fmt: skip
    return rep, outs


@pytest.mark.parametrize("name", sorted(OPS))
def test_fake_quant_equals_int_model(name):
    _, _, _, y_fq, y_int = run_op(name)
    a, b = _codes(y_fq), _codes(y_int)
    assert a.shape == b.shape
    assert lsb_stats(a, b) == (0, 0.0)


@pytest.mark.parametrize("name", sorted(OPS))
def test_int_model_equals_ort(name, tmp_path):
    _, im, xs, _, y_int = run_op(name)
    _, outs = _export(im, xs, tmp_path / f"{name}.onnx")
    ref = _codes(y_int)
    for level, got in outs.items():
        assert got.shape == ref.shape, level
        assert lsb_stats(got.astype(np.int64), ref) == (0, 0.0), level


def test_add_relu_is_one_integer_add(tmp_path):
    _, im, xs, _, y = run_op("add_relu")
    assert int(y.q_zero_point) == 0 and y.q_dtype.name == "uint8"  # the ReLU is the saturation
    a, b = (stub(x).dequantize() for stub, x in zip(im.stubs, xs))
    ref = torch.relu(a + b)
    assert float((y.dequantize() - ref).abs().max()) <= float(y.q_scale) / 2 + 1e-6
    rep, _ = _export(im, xs, tmp_path / "m.onnx")
    assert "Relu" not in rep.op_counts
    groups = classify_ops(optimized_op_counts(tmp_path / "m.onnx"))
    assert groups["integer"] == {"QLinearAdd": 1} and not groups["float_compute"], groups


def test_add_relu_symmetric_preset_keeps_relu(tmp_path):
    _, im, xs, y_fq, y = run_op("add_relu", preset="horizon_s8")
    codes = int_values(y)
    assert int(y.q_zero_point) == 0 and codes.min() == 0  # int8: the clamp, not saturation
    assert lsb_stats(int_values(y_fq), codes) == (0, 0.0)
    rep, outs = _export(im, xs, tmp_path / "m.onnx")
    assert rep.op_counts.get("Relu") == 1
    for got in outs.values():
        assert lsb_stats(got.astype(np.int64), codes) == (0, 0.0)


def test_argmax_runs_on_uint8_logits(tmp_path):
    qat, im, xs, y_fq, y = run_op("conv_argmax")
    assert y.dtype == torch.int64 and not isinstance(y, QTensor) and y.shape == (2, 1, 12, 16)
    # the same index as the argmax of the dequantized logits (first index on ties)
    logits = im.op.conv(im.stubs[0](xs[0]))
    assert torch.equal(y, logits.dequantize().argmax(dim=1, keepdim=True))
    ties = (logits.dequantize() == logits.dequantize().amax(1, keepdim=True)).sum(1) > 1
    assert ties.any()  # 19 classes on 256 levels: ties happen and are resolved alike
    path = tmp_path / "m.onnx"
    rep, _ = _export(im, xs, path)
    import onnx

    graph = onnx.load(path).graph
    argmax = next(n for n in graph.node if n.op_type == "ArgMax")
    producer = next(n for n in graph.node if argmax.input[0] in n.output)
    assert producer.op_type == "QuantizeLinear"  # no dequantization in front of the argmax
    groups = classify_ops(optimized_op_counts(path))
    assert groups["integer"] == {"QLinearConv": 1} and not groups["float_compute"], groups


def test_depthwise_strided_is_grouped_qlinearconv(tmp_path):
    _, im, xs, _, _ = run_op("depthwise_strided")
    path = tmp_path / "m.onnx"
    _export(im, xs, path)
    opt = tmp_path / "opt.onnx"
    optimized_op_counts(path, save_to=str(opt))
    import onnx

    convs = [n for n in onnx.load(opt).graph.node if n.op_type == "QLinearConv"]
    assert len(convs) == 1
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in convs[0].attribute}
    assert attrs["group"] == 8 and list(attrs["strides"]) == [2, 2]
