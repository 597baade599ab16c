"""FakeQuantize states, STE gradients, QTensor rules."""

import pytest
import torch
from quant_helpers import OpNet, quantize_model

import hat.nn as hnn
from hat.quantization import (
    FakeQuantize,
    FakeQuantState,
    QTensorOpError,
    QuantSpec,
    get_default_qconfig,
    set_fake_quantize,
)
from hat.quantization.qtensor import make_qtensor, plain


def test_states_calibration_qat_validation():
    fq = FakeQuantize(QuantSpec(dtype="uint8"))
    x = torch.tensor([-1.0, 0.1234, 3.0])
    fq.set_state(FakeQuantState.CALIBRATION)
    assert torch.equal(fq(x), x)  # observe only
    s_cal = fq.scale.item()
    assert s_cal == pytest.approx(4.0 / 255)
    fq.set_state(FakeQuantState.QAT)
    y = fq(x)
    q = torch.round(y / fq.scale) + fq.zero_point
    assert torch.allclose(q, torch.round(q)) and not torch.equal(y, x)
    fq.set_state(FakeQuantState.VALIDATION)
    s0 = fq.scale.clone()
    fq(torch.tensor([-100.0, 100.0]))
    assert torch.equal(fq.scale, s0)  # frozen
    assert fq(torch.tensor([100.0])).item() == pytest.approx(
        (255 - fq.zero_point.item()) * s0.item()
    )


def test_ste_gradient_inside_range_zero_outside():
    fq = FakeQuantize(QuantSpec(dtype="uint8", fixed_scale=0.1))  # zp 128: range [-12.8, 12.7]
    x = torch.tensor([0.33, -5.0, 20.0], requires_grad=True)
    fq(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0]


def test_quant_stub_fixed_scale_uint8_is_symmetric_grid():
    net = OpNet(torch.nn.Identity())
    net.stubs[0] = hnn.QuantStub(scale=1 / 128)
    x = torch.tensor([[-1.0, -0.5, 0.0, 0.99]])
    qat, im = quantize_model(net, [(x,)])
    y = im(x)
    assert float(y.q_scale) == 1 / 128 and int(y.q_zero_point) == 128
    assert plain(y).tolist() == [[0, 64, 128, 255]]


def test_weights_range_is_int8_and_per_channel():
    qc = get_default_qconfig()
    assert qc.weight.dtype == "int8" and qc.weight.per_channel and qc.weight.symmetric
    assert qc.activation.dtype == "uint8" and not qc.activation.symmetric
    assert get_default_qconfig("horizon_s8").activation.symmetric
    assert get_default_qconfig("ort_u8s8", activation_dtype="int16").activation.dtype == "int16"


def test_qtensor_rejects_arithmetic_and_keeps_layout_ops():
    q = make_qtensor(
        torch.randint(0, 255, (1, 4, 4, 4), dtype=torch.uint8),
        torch.tensor(0.1),
        torch.tensor(3, dtype=torch.int32),
        "uint8",
    )
    for bad in (lambda t: t + 1, lambda t: t * 2.0, lambda t: t.float(), lambda t: t.sum()):
        with pytest.raises(QTensorOpError):
            bad(q)
    for ok in (
        lambda t: t.reshape(1, 4, 16),
        lambda t: t[:, :2],
        lambda t: t.permute(0, 2, 3, 1),
        lambda t: torch.nn.functional.max_pool2d(t, 2),
        lambda t: torch.nn.functional.pad(t, (1, 1, 1, 1)),
        lambda t: torch.cat([t, t], 1),
        lambda t: t.chunk(2, 1)[0],
    ):
        r = ok(q)
        assert float(r.q_scale) == pytest.approx(0.1) and int(r.q_zero_point) == 3
    assert int(plain(torch.nn.functional.pad(q, (1, 1)))[0, 0, 0, 0]) == 3  # pads with zp
    other = make_qtensor(plain(q), torch.tensor(0.2), torch.tensor(3, dtype=torch.int32), "uint8")
    with pytest.raises(QTensorOpError, match="Concat"):
        torch.cat([q, other], 1)


def test_set_fake_quantize_on_model():
    net = OpNet(hnn.ConvModule2d(3, 4, 3))
    qat, _ = quantize_model(net, [(torch.randn(1, 3, 8, 8),)])
    set_fake_quantize(qat, "qat")
    fqs = [m for m in qat.modules() if isinstance(m, FakeQuantize)]
    assert fqs and all(m.fake_quant_enabled and m.observe_enabled for m in fqs)
    set_fake_quantize(qat, FakeQuantState.CALIBRATION)
    assert all(not m.fake_quant_enabled for m in fqs)


def test_fast_fake_quant_matches_torch_kernel():
    import hat.quantization.fake_quantize as fqm

    g = torch.Generator().manual_seed(0)
    for spec, shape in (
        (QuantSpec(dtype="uint8"), (4, 8, 16, 16)),
        (QuantSpec(dtype="int16", symmetric=True), (4, 8, 16, 16)),
        (QuantSpec(dtype="int8", symmetric=True, per_channel=True), (8, 4, 3, 3)),
    ):
        fq = FakeQuantize(spec, num_channels=shape[0])
        x0 = torch.randn(*shape, generator=g) * 3
        fq.observe(x0 * 0.8)  # part of x falls outside the range: zero gradient there
        outs, grads = [], []
        for impl in ("fast", "torch"):
            fqm.FAKE_QUANT_IMPL = impl
            x = x0.clone().requires_grad_(True)
            y = fq.fake_quant(x)
            y.backward(torch.ones_like(y))
            outs.append(y.detach())
            grads.append(x.grad)
        fqm.FAKE_QUANT_IMPL = "fast"
        differ = outs[0] != outs[1]
        assert differ.float().mean() < 1e-3  # only x/s within float rounding of a .5 tie
        assert torch.equal(grads[0], grads[1])
        assert grads[0].min() == 0 and grads[0].max() == 1
