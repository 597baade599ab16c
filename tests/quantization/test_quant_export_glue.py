"""Export of model glue: float ops before QuantStub / after DeQuantStub, layout ops on
quantized tensors, float-model export, int16 paths, BN freezing."""

import numpy as np
import torch
import torch.nn.functional as F
from quant_helpers import SmallNet, int_values, lsb_stats, quantize_model, randomize_bn
from torch import nn

import hat.nn as hnn
from hat.quantization import (
    FakeQuantState,
    freeze_bn_stats,
    get_default_qconfig,
    set_fake_quantize,
)
from hat.quantization.export_onnx import export_float_onnx, export_int_model_to_onnx
from hat.quantization.ort_runner import run_onnx
from hat.quantization.qtensor import plain


class GlueNet(nn.Module):
    """Dict input, slicing before the QuantStub, layout ops on QTensors, float tail."""

    def __init__(self) -> None:
        super().__init__()
        self.q = hnn.QuantStub(scale=1 / 128)
        self.stack = hnn.Concat(dim=0)
        self.c = hnn.ConvModule2d(3, 4, 3, norm_layer=nn.BatchNorm2d(4), act_layer=nn.ReLU())
        self.cat = hnn.Concat(dim=1)
        self.dq = hnn.DeQuantStub()

    def forward(self, data: dict) -> dict:
        img = data["img"]
        x = self.q(img)
        b = x.shape[0]
        x = self.stack(x[:, :3], x[:, 3:])  # two images on the batch axis
        y = self.c(x)
        y = F.max_pool2d(F.pad(y, (1, 1, 1, 1)), 2)
        y = self.cat(y[:b], y[b:])
        y = y.permute(0, 2, 3, 1).reshape(b, -1, 8).transpose(1, 2)
        z = self.dq(y)
        return {"feat": torch.sigmoid(z * 2.0 + 1.0), "raw": z}


def test_glue_export_matches(tmp_path):
    net = randomize_bn(GlueNet())
    g = torch.Generator().manual_seed(0)
    data = {"img": torch.rand(2, 6, 8, 8, generator=g) * 2 - 1}
    qat, im = quantize_model(_Wrap(net), [(data,)])
    out = im(data)
    path = tmp_path / "glue.onnx"
    rep = export_int_model_to_onnx(im, data, path)  # model(data): HAT task-module style
    assert rep.outputs == ["feat", "raw"] and rep.inputs == ["img"]
    nested = export_int_model_to_onnx(
        im, {"data": data}, tmp_path / "nested.onnx", input_mode="kwargs"
    )
    assert nested.inputs == ["data.img"]
    lsb = float(im.net.cat.out_scale)
    for level in ("disable", "all"):
        o = run_onnx(path, {"img": data["img"]}, level=level)
        d = np.round(np.abs(o["raw"] - out["raw"].numpy()) / lsb)
        # ALL: fused integer kernels, bit-exact; DISABLE_ALL: ORT's float32 reference conv may
        # flip a rounding tie (1 LSB, rare)
        assert d.max() <= (0 if level == "all" else 1) and (d > 0).mean() <= 0.01, level
        ref_feat = torch.sigmoid(torch.from_numpy(o["raw"]) * 2.0 + 1.0).numpy()
        assert np.allclose(o["feat"], ref_feat, atol=1e-6), level


class _Wrap(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, data):
        return self.net(data)


def test_export_float_onnx_runs_on_ort(tmp_path):
    net = randomize_bn(SmallNet(8)).eval()
    x = torch.randn(1, 3, 32, 32)
    path = tmp_path / "f.onnx"
    export_float_onnx(net, {"x": x}, path)
    y = run_onnx(path, {"x": x}, level="all")["output"]
    assert np.allclose(y, net(x).detach().numpy(), atol=1e-4)


def test_int16_paths_on_ort(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = hnn.QuantStub()
            self.c = hnn.ConvModule2d(4, 4, 3)
            self.up = hnn.Interpolate(scale_factor=2, mode="nearest")
            self.head = hnn.ConvModule2d(4, 2, 1)

        def forward(self, x):
            return self.head(self.up(self.c(self.q(x))))

    net = Net()
    net.head.qconfig = get_default_qconfig("int16", high_precision_output=True)
    x = torch.randn(1, 4, 8, 8)
    qat, im = quantize_model(net, [(x,)], preset="int16")
    y = im(x)
    assert type(y) is torch.Tensor
    path = tmp_path / "i16.onnx"
    export_int_model_to_onnx(im, {"x": x}, path)
    for level in ("disable", "all"):
        o = run_onnx(path, {"x": x}, level=level)["output"]
        # int16 runs as DQ -> float conv: float32 summation order only
        assert np.allclose(o, y.numpy(), rtol=1e-5, atol=1e-5), level


def test_freeze_bn_stats_matches_eval():
    net = randomize_bn(SmallNet(4))
    x = torch.randn(2, 3, 16, 16)
    qat, _ = quantize_model(net, [(x,)])
    set_fake_quantize(qat, FakeQuantState.VALIDATION)
    qat.eval()
    with torch.no_grad():
        y_eval = qat(x)
    freeze_bn_stats(qat)
    qat.train()
    rm = qat.c1.norm.running_mean.clone()
    with torch.no_grad():
        y_train = qat(x)
    assert torch.equal(qat.c1.norm.running_mean, rm)  # statistics frozen
    assert torch.allclose(y_train, y_eval)
    freeze_bn_stats(qat, False)
    with torch.no_grad():
        qat(x)
    assert not torch.equal(qat.c1.norm.running_mean, rm)  # batch statistics again


def test_int_model_codes_are_integers():
    net = randomize_bn(SmallNet(4))
    x = torch.randn(1, 3, 16, 16)
    qat, im = quantize_model(net, [(x,)])
    q = im.c1(im.quant(x))
    assert plain(q).dtype == torch.uint8
    set_fake_quantize(qat, FakeQuantState.VALIDATION)
    mx, frac = lsb_stats(int_values(qat.c1(qat.quant(x))), int_values(q))
    assert mx == 0 and frac == 0.0


def test_bn_training_path_matches_float_with_conv_bias():
    """In CALIBRATION state (no fake quant) the fused QAT conv in training mode computes what
    the float conv + BN + ReLU computes, running statistics included (conv bias too)."""
    import copy

    from hat.quantization import default_set_qconfig, prepare_qat

    net = OpNetBN()
    ref = copy.deepcopy(net).train()
    default_set_qconfig(net)
    prepare_qat(net)
    set_fake_quantize(net, FakeQuantState.CALIBRATION)
    net.train()
    x = torch.randn(4, 3, 8, 8)
    for _ in range(2):
        y_ref = ref(x)
        y = net(x)
    assert torch.allclose(y, y_ref, atol=1e-5)
    assert torch.allclose(net.c.norm.running_mean, ref.c.norm.running_mean, atol=1e-6)
    assert torch.allclose(net.c.norm.running_var, ref.c.norm.running_var, atol=1e-6)


class OpNetBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = hnn.QuantStub()
        self.c = hnn.ConvModule2d(3, 5, 3, bias=True, norm_layer=nn.BatchNorm2d(5),
                                  act_layer=nn.ReLU())  # fmt: skip
        self.dq = hnn.DeQuantStub()

    def forward(self, x):
        return self.dq(self.c(self.q(x)))
