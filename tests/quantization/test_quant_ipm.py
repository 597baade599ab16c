"""Quantized IPM sampling (WrappingTransformer): QAT vs float, integer model vs QAT and vs ONNX
Runtime (bit for bit, points outside the map included), the checker's row, the grid scale."""

import numpy as np
import pytest
import torch
from torch import nn

import hat.nn as hnn
from hat.models.view_transformers import OUTSIDE, WrappingTransformer, grid_quant_scale_for
from hat.quantization import (
    FakeQuantState,
    convert,
    default_set_qconfig,
    get_default_qconfig,
    prepare_qat,
    set_fake_quantize,
)
from hat.quantization.checker import check_model
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import run_onnx
from hat.quantization.qtensor import plain

B, V, C, HF, WF = 2, 3, 6, 7, 9
BEV = (4.0, 3.0, 0.5)  # 12 x 16 cells


class ViewNet(nn.Module):
    """QuantStub(feats) -> WrappingTransformer(feats, float points) [-> DeQuantStub]; takes
    one dict, as the project's models do."""

    def __init__(self, bev_upscale: int = 1, dequant: bool = False, **kw) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.vt = WrappingTransformer(BEV, num_views=V, bev_upscale=bev_upscale, **kw)
        self.dequant = hnn.DeQuantStub() if dequant else None

    def forward(self, data):
        y = self.vt(self.quant(data["feats"]), data["points"])
        return self.dequant(y) if self.dequant is not None else y


def _points(seed: int, hb: int = 12, wb: int = 16) -> torch.Tensor:
    """Inside, within one pixel outside, far outside, OUTSIDE, exact pixel centres, saturating."""
    g = torch.Generator().manual_seed(seed)
    lo = torch.tensor([-3.0, -3.0])
    hi = torch.tensor([WF + 2.0, HF + 2.0])
    p = lo + torch.rand(B * V, hb, wb, 2, generator=g) * (hi - lo)
    p[:, 0, :4] = OUTSIDE
    p[:, 1, :6] = torch.randint(0, 7, (B * V, 6, 2), generator=g).float()
    p[:, 2, :2] = torch.tensor([[WF - 0.5, HF - 0.5], [-0.75, -0.25]])
    p[:, 2, 2] = torch.tensor([1e5, -1e5])  # saturates int16: far outside
    return p


def _feats(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B * V, C, HF, WF, generator=g) * 2.0


def _quantized(preset: str = "ort_u8s8", calib_seeds=(0, 1), **kw):
    net = ViewNet(**kw).eval()
    float_net = ViewNet(**kw).eval()
    default_set_qconfig(net, get_default_qconfig(preset))
    prepare_qat(net)
    set_fake_quantize(net, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for s in calib_seeds:
            net(_inputs(s))
    set_fake_quantize(net, FakeQuantState.VALIDATION)
    return float_net, net, convert(net)


def _inputs(seed: int) -> dict:
    return {"feats": _feats(seed), "points": _points(seed)}


def _codes(y) -> np.ndarray:
    return plain(y).to(torch.int64).numpy()


@pytest.mark.parametrize(
    "preset, max_lsb, mean_lsb",
    [("ort_u8s8", 1.0, 0.2), ("horizon_s8", 1.0, 0.2), ("int16", 16, 1)],
)
def test_qat_close_to_float_and_equal_to_int_model(preset, max_lsb, mean_lsb):
    float_net, qat, int_model = _quantized(preset, calib_seeds=(5,))
    data = _inputs(5)
    with torch.no_grad():
        yf = float_net(data)
        yq = qat(data)
        yi = int_model(data)
    scale = float(yq.q_scale)
    err = (plain(yq) - yf).abs() / scale
    # 8-bit: input and output rounding (0.5 LSB each; measured max 0.85-0.95 LSB, mean 0.15
    # on five seeds); int16: plus the 2^-12 pixel coordinates times neighbour differences of
    # up to 2^16 LSB (measured max 7-12 LSB, mean 0.6-0.9)
    assert float(err.max()) <= max_lsb and float(err.mean()) < mean_lsb
    assert (yi.q_scale, int(yi.q_zero_point)) == (yq.q_scale, int(yq.q_zero_point))
    qat_codes = torch.round(plain(yq) / scale).to(torch.int64) + int(yq.q_zero_point)
    assert np.array_equal(qat_codes.numpy(), _codes(yi))
    # OUTSIDE cells read the zero point in every view
    assert (_codes(yi)[:, :, 0, :4] == int(yi.q_zero_point)).all()


@pytest.mark.parametrize("preset", ["ort_u8s8", "horizon_s8", "int16"])
def test_int_model_and_onnx_runtime_bit_exact(preset, tmp_path):
    _, _, int_model = _quantized(preset)
    data = _inputs(7)
    with torch.no_grad():
        yi = int_model(data)
    path = tmp_path / "ipm.onnx"
    report = export_int_model_to_onnx(int_model, data, path)
    assert report.float_islands == []
    assert report.op_counts["ReduceMax"] == 1 and report.op_counts["Gather"] == 4 + 4
    inputs = {k: v.numpy() for k, v in data.items()}
    for level in ("disable", "all"):
        (out,) = run_onnx(str(path), inputs, level=level).values()
        assert out.dtype == plain(yi).numpy().dtype
        same = out.astype(np.int64) == _codes(yi)
        assert same.mean() == 1.0, (preset, level, float(same.mean()))


def test_checker_reports_integer_sampling():
    report = check_model(ViewNet().eval(), _inputs(1))
    assert report.ok, report.render_text()
    row = {r.name: r for r in report.rows}["vt.sample"]
    assert (row.module_type, row.kind) == ("IntIpmSample", "integer")
    assert row.macs == 4 * B * V * C * 12 * 16
    assert report.summary.float_islands == {}
    assert "GridSample" not in report.summary.ort_ops
    # the x2 bilinear upsampling after the sampling is integer too: no float island
    up = check_model(ViewNet(bev_upscale=2).eval(), _inputs(1))
    assert up.ok, up.render_text()
    assert up.summary.float_islands == {} and up.summary.integer_mac_share == 1.0
    rows = {r.name: r for r in up.rows}
    assert rows["vt.sample"].kind == "integer"
    assert (rows["vt.upsample"].module_type, rows["vt.upsample"].kind) == (
        "IntInterpolate",
        "integer",
    )
    assert "Resize" not in up.summary.ort_ops


def test_grid_scale_default_explicit_and_checkpointed():
    assert grid_quant_scale_for((32, 60)) == 2.0**-9  # 60 * 512 = 30720 <= 32767
    assert grid_quant_scale_for((HF, WF)) == 2.0**-11  # 9 * 2048 = 18432
    assert grid_quant_scale_for((1, 1)) == 2.0**-13  # OUTSIDE (-2) bounds the codes
    _, qat, int_model = _quantized()
    assert float(qat.vt.sample.grid_scale) == 2.0**-11
    assert "vt.sample.grid_scale" in qat.state_dict()
    assert int_model.vt.sample.k == 11
    _, qat8, int8 = _quantized(grid_quant_scale=2.0**-8)
    assert float(qat8.vt.sample.grid_scale) == 2.0**-8 and int8.vt.sample.k == 8
    with pytest.raises(ValueError, match="cannot hold"):
        _quantized(grid_quant_scale=2.0**-13)  # 9 px * 8192 > 32767


def test_qat_training_drops_views_and_passes_gradients():
    net = ViewNet(drop_prob=0.5)
    default_set_qconfig(net)
    prepare_qat(net)
    net.eval()
    set_fake_quantize(net, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        net(_inputs(0))
    set_fake_quantize(net, FakeQuantState.QAT)
    net.train()
    feats = _feats(2).requires_grad_(True)
    torch.manual_seed(1)
    keep = net.vt.sample.float_module.keep_mask(B, feats.device)
    torch.manual_seed(1)
    y = net({"feats": feats, "points": _points(2)})
    assert 0 < keep.sum() < keep.numel()
    plain(y).sum().backward()
    grad = feats.grad.reshape(B, V, -1).abs().sum(-1)
    assert ((grad > 0) == (keep > 0)).all()  # only kept views get gradient


def test_deploy_size_bit_exact(tmp_path):
    """The recipe's shapes: 6 views of 64 x 32 x 60 features, a 128 x 128 grid (grid 2^-9)."""
    g = torch.Generator().manual_seed(3)
    feats = torch.relu(torch.randn(6, 64, 32, 60, generator=g))
    pts = torch.rand(6, 128, 128, 2, generator=g) * torch.tensor([62.0, 34.0]) - 1.0
    pts[:, :40] = OUTSIDE
    net = ViewNet()
    net.vt = WrappingTransformer((51.2, 51.2, 0.8), num_views=6, bev_upscale=1)
    data = {"feats": feats, "points": pts}
    default_set_qconfig(net)
    prepare_qat(net)
    set_fake_quantize(net.eval(), FakeQuantState.CALIBRATION)
    with torch.no_grad():
        net(data)
    set_fake_quantize(net, FakeQuantState.VALIDATION)
    int_model = convert(net)
    assert int_model.vt.sample.k == 9
    with torch.no_grad():
        yi = int_model(data)
    path = tmp_path / "ipm.onnx"
    export_int_model_to_onnx(int_model, data, path)
    (out,) = run_onnx(str(path), {k: v.numpy() for k, v in data.items()}, level="all").values()
    assert out.shape == (1, 64, 128, 128)
    assert (out.astype(np.int64) == _codes(yi)).mean() == 1.0
