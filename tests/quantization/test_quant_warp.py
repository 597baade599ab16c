"""The integer model's explicit bilinear warp: equal to grid_sample up to float32 rounding,
and bit-exact against ORT on flows that leave the image and hit pixel borders exactly."""

import numpy as np
import torch
from quant_helpers import quantize_model

import hat.nn as hnn
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import run_onnx
from hat.quantization.quantized.warp import explicit_bilinear_warp


def _flow(b, h, w, seed, scale):
    g = torch.Generator().manual_seed(seed)
    flow = torch.randn(b, 2, h, w, generator=g) * scale
    flow[:, :, :2] = torch.round(flow[:, :, :2])  # whole-pixel offsets: border cases
    return flow


def test_explicit_warp_matches_grid_sample():
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 5, 9, 13, generator=g)
    flow = _flow(2, 9, 13, seed=1, scale=4.0)
    for use_mask in (False, True):
        ref = hnn.Warp(use_mask=use_mask)(feat, flow)
        got = explicit_bilinear_warp(feat, flow, use_mask, 0.9999)
        diff = (ref - got).abs()
        # equal up to float32 rounding, except where the 0.9999 mask threshold is straddled
        assert float(diff.quantile(0.999)) < 1e-5, float(diff.max())
        assert float((diff > 1e-4).float().mean()) < 2e-3


class _WarpNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.qf, self.qg = hnn.QuantStub(), hnn.QuantStub()
        self.conv = hnn.ConvModule2d(4, 4, 3, padding=1)
        self.warp = hnn.Warp()
        self.dq = hnn.DeQuantStub()

    def forward(self, feat, flow):
        return self.dq(self.warp(self.conv(self.qf(feat)), self.qg(flow)))


def test_int_warp_bit_exact_on_ort(tmp_path):
    torch.manual_seed(0)
    feats = [torch.randn(2, 4, 12, 16) for _ in range(3)]
    flows = [_flow(2, 12, 16, seed=s, scale=3.0) for s in range(3)]
    qat, im = quantize_model(_WarpNet(), [(f, g) for f, g in zip(feats, flows)])
    feat, flow = torch.randn(2, 4, 12, 16), _flow(2, 12, 16, seed=9, scale=3.0)
    with torch.no_grad():
        y_int = im(feat, flow)

    class Named(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, feat, flow):
            return self.net(feat, flow)

    path = tmp_path / "warp.onnx"
    rep = export_int_model_to_onnx(Named(im), {"feat": feat, "flow": flow}, path)
    assert rep.float_islands == ["net.warp"]
    for level in ("disable", "all"):
        out = run_onnx(path, {"feat": feat.numpy(), "flow": flow.numpy()}, level=level)
        got = next(iter(out.values()))
        assert np.array_equal(got, y_int.numpy()), (level, np.abs(got - y_int.numpy()).max())
    assert float(y_int.std()) > 0
