"""Stereo ops (CostVolume, ConcatVolume, SoftArgmin): fake quant == integer model == ORT."""

import numpy as np
import pytest
import torch
from quant_helpers import OpNet, int_values, lsb_stats, quantize_model
from torch import nn

import hat.nn as hnn
from hat.quantization import get_default_qconfig
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import optimized_op_counts, run_onnx
from hat.quantization.quantized.cost_volume import gwc_accumulate
from hat.quantization.quantized.soft_argmin import exp_table_bits


class _Pos(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, **kw):
        return self.net(*[kw[f"x{i}"] for i in range(len(kw))])


class _ConcatVolumeNet(nn.Module):
    """Shared stub -> conv (left/right stacked on the batch) -> ConcatVolume -> conv."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.feat = hnn.ConvModule2d(3, 4, 3, act_layer=nn.ReLU())
        self.volume = hnn.ConcatVolume(5)
        self.head = hnn.ConvModule2d(8 * 5, 3, 1)

    def forward(self, left, right):
        x = self.feat(self.quant(torch.cat([left, right], 0)))
        b = left.shape[0]
        return self.head(self.volume(x[:b], x[b:]))


SHAPE = (2, 16, 6, 13)
OPS = {
    "cost_volume": (lambda: hnn.CostVolume(5, 4), [SHAPE, SHAPE], None),
    "cost_volume_wide_groups": (lambda: hnn.CostVolume(3, 1), [SHAPE, SHAPE], None),
    "soft_argmin_u8": (lambda: hnn.SoftArgmin(12, 1 / 12), [(2, 12, 6, 13)], None),
    "soft_argmin_int16": (lambda: hnn.SoftArgmin(12, 1 / 12), [(2, 12, 6, 13)], "int16"),
}


def _run(name):
    factory, shapes, dtype = OPS[name]
    op = factory()
    if dtype:
        op.qconfig = get_default_qconfig(activation_dtype=dtype)
    net = OpNet(op, len(shapes))
    g = torch.Generator().manual_seed(3)
    xs = tuple(torch.randn(*s, generator=g) * 2 for s in shapes)
    calib = [xs, tuple(torch.randn(*s, generator=g) * 2 for s in shapes)]
    qat, im = quantize_model(net, calib)
    with torch.no_grad():
        y_fq = qat(*xs)
    return im, xs, y_fq, im(*xs)


@pytest.mark.parametrize("name", sorted(OPS))
def test_fake_quant_int_model_and_ort_bit_exact(name, tmp_path):
    im, xs, y_fq, y_int = _run(name)
    assert not torch.is_floating_point(y_int)
    assert lsb_stats(int_values(y_fq), int_values(y_int)) == (0, 0.0)
    path = tmp_path / f"{name}.onnx"
    feeds = {f"x{i}": x for i, x in enumerate(xs)}
    rep = export_int_model_to_onnx(_Pos(im), feeds, path)
    assert rep.float_islands == []
    for level in ("disable", "all"):
        got = next(iter(run_onnx(path, feeds, level=level, threads=1).values()))
        assert lsb_stats(got.astype(np.int64), int_values(y_int)) == (0, 0.0), level
    ops = optimized_op_counts(path)
    assert not {"Conv", "Softmax", "Exp"} & set(ops), ops  # integer / table arithmetic only


def test_cost_volume_quantization_error_is_small():
    """Away from saturation the integer volume is within half an output LSB of the float
    volume of the (dequantized) integer inputs."""
    im, xs, _, y_int = _run("cost_volume")
    qs = [im.stubs[i](x) for i, x in enumerate(xs)]
    ref = hnn.CostVolume(5, 4)(*[q.dequantize() for q in qs])
    codes = torch.from_numpy(int_values(y_int))
    inside = (codes > 0) & (codes < 255)
    assert inside.float().mean() > 0.95
    err = (y_int.dequantize() - ref).abs()[inside].max()
    assert err <= 0.5 * float(y_int.q_scale) * (1 + 1e-4)


def test_soft_argmin_int16_accuracy():
    """int16 output: error against the float soft-argmin of the dequantized scores is set by
    the 8-bit input only (< 1e-3 of the range here), not by the output."""
    im, xs, _, y_int = _run("soft_argmin_int16")
    q = im.stubs[0](xs[0])
    ref = hnn.SoftArgmin(12, 1 / 12)(q.dequantize())
    assert y_int.dtype == torch.int16
    assert (y_int.dequantize() - ref).abs().max() < 1e-3


def test_gwc_accumulate_is_exact_for_large_groups():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(-255, 256, (1, 512, 2, 7), generator=g, dtype=torch.int32)
    b = torch.randint(-255, 256, (1, 512, 2, 7), generator=g, dtype=torch.int32)
    acc = gwc_accumulate(a, b, 4, 2)  # 256 * 255 * 255 > 2^24: float64 path
    ref = torch.zeros(1, 2, 4, 2, 7, dtype=torch.int64)
    al, bl = a.long().view(1, 2, 256, 2, 7), b.long().view(1, 2, 256, 2, 7)
    for d in range(4):
        ref[:, :, d, :, d:] = (al[..., d:] * bl[..., : 7 - d]).sum(2)
    assert torch.equal(acc.long(), ref.view(1, 8, 2, 7))


def test_exp_table_bits():
    assert exp_table_bits(12) == 16
    assert exp_table_bits(48) == 12
    with pytest.raises(ValueError, match="too many"):
        exp_table_bits(2000)


def test_concat_volume_on_quantized_tensors(tmp_path):
    torch.manual_seed(0)
    net = _ConcatVolumeNet()
    xs = (torch.randn(1, 3, 8, 12), torch.randn(1, 3, 8, 12))
    qat, im = quantize_model(net, [xs])
    with torch.no_grad():
        y_fq = qat(*xs)
    y_int = im(*xs)
    mx, frac = lsb_stats(int_values(y_fq), int_values(y_int))
    assert mx <= 1 and frac <= 2e-3
    path = tmp_path / "concat_volume.onnx"
    export_int_model_to_onnx(_Pos(im), {"x0": xs[0], "x1": xs[1]}, path)
    got = next(iter(run_onnx(path, {"x0": xs[0], "x1": xs[1]}, level="all").values()))
    assert lsb_stats(got.astype(np.int64), int_values(y_int)) == (0, 0.0)
    assert optimized_op_counts(path)["QLinearConv"] == 2
