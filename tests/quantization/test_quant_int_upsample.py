"""Bilinear upsampling by integer factors on integer codes: QAT (VALIDATION) = integer model =
ONNX Runtime bit for bit, within half an LSB of the float bilinear of the dequantized input,
integer ops only in the exported graph."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from quant_helpers import OpNet, int_values, quantize_model

import hat.nn as hnn
from hat.quantization import FakeQuantState, set_fake_quantize
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import run_onnx
from hat.quantization.qtensor import make_qtensor, plain
from hat.quantization.quantized.int_upsample import (
    axis_taps,
    integer_upsample_factors,
    phase_taps,
)

PRESETS = {"ort_u8s8": torch.uint8, "horizon_s8": torch.int8, "int16": torch.int16}
SHAPE = (2, 3, 7, 9)  # odd sizes


class _Named(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def _quantized(preset, scale_factor, seed=0):
    g = torch.Generator().manual_seed(seed)
    calib = [(torch.randn(*SHAPE, generator=g),) for _ in range(2)]
    net = OpNet(hnn.Interpolate(scale_factor=scale_factor, mode="bilinear"), 1)
    qat, im = quantize_model(net, calib, preset=preset)
    # 3x the calibrated range: many codes saturate at qmin / qmax
    x = torch.randn(*SHAPE, generator=g) * 3
    return qat, im, x


@pytest.mark.parametrize("scale_factor", [2, 4, (2, 3), (3, 1)])
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_int_model_equals_ort_and_qat(preset, scale_factor, tmp_path):
    qat, im, x = _quantized(preset, scale_factor)
    sh, sw = scale_factor if isinstance(scale_factor, tuple) else (scale_factor,) * 2
    y = im(x)
    xq = im.stubs[0](x)
    assert y.dtype == PRESETS[preset] and y.shape == (2, 3, 7 * sh, 9 * sw)
    # the output keeps the input's qparams; saturated codes stay inside the input's range
    assert float(y.q_scale) == float(xq.q_scale) and int(y.q_zero_point) == int(xq.q_zero_point)
    codes, in_codes = int_values(y), int_values(xq)
    qd = xq.q_dtype
    assert (in_codes == qd.qmin).any() and (in_codes == qd.qmax).any()
    assert codes.min() == qd.qmin and codes.max() == qd.qmax
    # QAT (VALIDATION) gives the integer model's codes exactly
    with torch.no_grad():
        y_fq = qat(x)
    assert np.array_equal(int_values(y_fq), codes)
    # ORT computes the exported integer ops bit for bit
    path = tmp_path / "up.onnx"
    rep = export_int_model_to_onnx(_Named(im), {"x": x}, path)
    assert rep.float_islands == []
    assert "Resize" not in rep.op_counts and "Gather" not in rep.op_counts
    assert rep.op_counts["Div"] == sh * sw and rep.op_counts["Pad"] == 1
    for level in ("disable", "all"):
        (out,) = run_onnx(str(path), {"x": x.numpy()}, level=level, threads=1).values()
        assert out.dtype == plain(y).numpy().dtype
        assert np.array_equal(out.astype(np.int64), codes), (preset, level)


@pytest.mark.parametrize("scale_factor", [2, 4])
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_within_half_lsb_of_float_bilinear(preset, scale_factor):
    _, im, x = _quantized(preset, scale_factor, seed=1)
    xq = im.stubs[0](x)
    zp = int(xq.q_zero_point)
    centred = torch.from_numpy(int_values(xq) - zp).double()
    exact = F.interpolate(centred, scale_factor=scale_factor, mode="bilinear")
    err = (torch.from_numpy(int_values(im(x)) - zp).double() - exact).abs()
    # round half up of an exact multiple of 1 / (2s)^2: at most half an LSB
    assert float(err.max()) <= 0.5
    assert float(err.mean()) > 0.1  # the rounding is real (values between the codes)


def test_qat_gradient_is_the_float_ops():
    qat, _, x = _quantized("ort_u8s8", 2)
    set_fake_quantize(qat, FakeQuantState.QAT)
    with torch.no_grad():
        x0 = qat.stubs[0](x)
    leaf = plain(x0).clone().requires_grad_(True)
    xq = make_qtensor(leaf, x0.q_scale, x0.q_zero_point, x0.q_dtype)
    g = torch.Generator().manual_seed(5)
    w = torch.randn(2, 3, 14, 18, generator=g)
    (plain(qat.op(xq)) * w).sum().backward()
    ref = leaf.detach().clone().requires_grad_(True)
    (F.interpolate(ref, scale_factor=2, mode="bilinear") * w).sum().backward()
    assert torch.allclose(leaf.grad, ref.grad, atol=1e-6)
    # CALIBRATION runs the float op on the (not fake-quantized) input
    set_fake_quantize(qat, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        y = qat.op(qat.stubs[0](x))
    assert torch.equal(plain(y), F.interpolate(x, scale_factor=2, mode="bilinear"))


def test_other_geometry_is_refused():
    qat, im, x = _quantized("ort_u8s8", 2)
    with pytest.raises(ValueError, match=r"upsampling by \(2, 2\) but asked for size \(9, 9\)"):
        im.op(im.stubs[0](x), size=(9, 9))
    with pytest.raises(ValueError, match=r"asked for size \(9, 9\)"):
        qat.op(qat.stubs[0](x), size=(9, 9))


def test_integer_factor_detection():
    f = integer_upsample_factors
    assert f(2, None, "bilinear", False) == (2, 2)
    assert f(2.0, None, "bilinear", False) == (2, 2)
    assert f((2, 3), None, "bilinear", None) == (2, 3)
    assert f((1, 4), None, "bilinear", False) == (1, 4)
    # ORT's float Resize stays for everything else
    assert f(1, None, "bilinear", False) is None
    assert f(1.5, None, "bilinear", False) is None
    assert f(0.5, None, "bilinear", False) is None
    assert f(2, None, "bilinear", True) is None
    assert f(None, (16, 16), "bilinear", False) is None
    assert f(2, None, "nearest", None) is None
    assert f(100, None, "bilinear", False) is None  # 2 R D beyond int32 for int16 codes


def test_checkpoint_with_an_output_observer_loads():
    """A QAT checkpoint of the earlier layout (an output observer, no switch) loads strictly."""
    qat, _, x = _quantized("ort_u8s8", 2)
    sd = {k: v for k, v in qat.state_dict().items() if "fake_quant_switch" not in k}
    sd["op.activation_post_process.scale"] = torch.tensor([0.1])
    sd["op.activation_post_process.zero_point"] = torch.tensor([3], dtype=torch.int32)
    fresh, _, _ = _quantized("ort_u8s8", 2, seed=3)
    fresh.load_state_dict(sd)
    set_fake_quantize(fresh, FakeQuantState.VALIDATION)
    with torch.no_grad():
        assert np.array_equal(int_values(fresh(x)), int_values(qat(x)))
    assert fresh.op.fake_quant_switch.fake_quant_enabled


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_phase_taps_on_the_edge_padded_axis_equal_the_clamped_taps(s):
    """The export's per-phase 2-tap sums on the edge-padded input are the clamped taps."""
    for n in range(1, 7):
        i0, i1, w0, w1 = axis_taps(n, s)
        clamped = np.zeros((n * s, n), np.int64)
        np.add.at(clamped, (np.arange(n * s), i0), w0)
        np.add.at(clamped, (np.arange(n * s), i1), w1)
        pad = int(s > 1)
        src = np.clip(np.arange(n + 2 * pad) - pad, 0, n - 1)  # Pad(mode=edge)
        phased = np.zeros((n * s, n), np.int64)
        for p, (a, p0, p1) in enumerate(phase_taps(s)):
            assert p0 + p1 == 2 * s and p0 >= 0 and p1 >= 0
            for k in range(n):
                phased[s * k + p, src[k + a]] += p0
                if p1:
                    phased[s * k + p, src[k + a + 1]] += p1
        assert np.array_equal(phased, clamped), (n, s)
    with pytest.raises(ValueError, match="need s >= 1, got s=0"):
        phase_taps(0)
