"""7-bit weights (``weight_reduce_range``) for CPUs whose ONNX Runtime u8 x s8 kernels saturate.

(a) With the reduced range the integer weights stay in [-64, 63] from QAT fake quant to the
    exported ONNX file, and the integer model and ORT still agree bit for bit.
(b) A numpy emulation of the non-VNNI kernel (``vpmaddubsw``: pairs of u8 * s8 products summed
    into int16 with saturation) shows why: full-range weights saturate on an adversarial
    input/weight pair and change the output, 7-bit weights never saturate (exhaustive).
(c) Checkpoints with another weight range are refused under ``"auto"`` and re-quantized when
    the setting is explicit.
"""

import warnings

import numpy as np
import pytest
import torch
from quant_helpers import SmallNet, int_values, lsb_stats, quantize_model, randomize_bn
from test_quant_export_ort import _ort_ints, _Pos
from test_quant_int_model import run_op

import hat.nn as hnn
from hat.quantization import Float2QAT, ModelConvertPipeline, get_default_qconfig, prepare_qat
from hat.quantization.cpu_features import detect_cpu_int8_features, features_from_cpuinfo
from hat.quantization.deploy_platform import deploy_platform_info, onnx_weight_int_range
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.fake_quantize import WeightRangeMismatchError
from hat.quantization.ort_runner import run_onnx
from hat.quantization.qconfig import QConfig, QuantSpec, resolve_reduce_range
from hat.quantization.qtensor import plain
from hat.quantization.utils import fake_quantizers

REDUCED = get_default_qconfig(weight_reduce_range=True)
FULL = get_default_qconfig(weight_reduce_range=False)
I16 = np.iinfo(np.int16)
HASWELL = features_from_cpuinfo("flags\t\t: fpu sse2 ssse3 avx fma avx2\n")
ICELAKE = features_from_cpuinfo("flags\t\t: fpu sse2 avx2 avx512bw avx512_vnni\n")


def _int_weights(int_model):
    return [
        m.weight for m in int_model.modules() if getattr(m, "weight", None) is not None
    ]  # IntConv2d keeps its int8 weight as a buffer


# --------------------------------------------------------------------------- (a) ranges, ORT
CONV_OPS = ["conv", "conv_bn_relu", "depthwise", "dilated", "strided", "plain_conv2d"]


@pytest.mark.parametrize("name", CONV_OPS)
def test_reduced_conv_weights_are_7_bit_and_ort_is_bit_exact(name, tmp_path):
    qat, im, xs, y_fq, y_int = run_op(name, qconfig=REDUCED)
    ws = _int_weights(im)
    assert ws and all(w.dtype == torch.int8 for w in ws)
    # symmetric per channel: the largest |w| of every channel lands on 63 exactly
    for w in ws:
        assert int(w.min()) >= -64 and int(w.max()) <= 63
        assert torch.equal(
            w.to(torch.int64).abs().flatten(1).amax(1), torch.full((w.shape[0],), 63)
        )
    (wfq,) = fake_quantizers(qat, weights=True)
    assert (wfq.qmin, wfq.qmax) == (-64, 63) and wfq.quant_range.tolist() == [-64, 63]
    # fake quant (VALIDATION) vs int model: as tight as with full-range weights
    mx, frac = lsb_stats(int_values(y_fq), int_values(y_int))
    assert mx <= 1 and frac <= 2e-3, (name, mx, frac)
    path = tmp_path / f"{name}.onnx"
    export_int_model_to_onnx(_Pos(im), {f"x{i}": x for i, x in enumerate(xs)}, path)
    rng = onnx_weight_int_range(path)
    assert rng is not None and rng["max_abs"] == 63 and rng["tensors"] == 1
    for level in ("disable", "all"):
        assert lsb_stats(_ort_ints(path, xs, level), int_values(y_int)) == (0, 0.0), level


def test_qat_fake_quant_weights_are_on_the_7_bit_grid():
    torch.manual_seed(0)
    net = randomize_bn(SmallNet(8))
    net.set_qconfig = lambda: None
    from hat.quantization import default_set_qconfig

    default_set_qconfig(net, REDUCED)
    prepare_qat(net)
    net.train()
    net(torch.randn(2, 3, 16, 24))  # QAT state: observes and fake-quantizes the weights
    for m in net.modules():
        if hasattr(m, "weight_fake_quant"):
            w, _ = m.folded_weight_bias()
            fq = m.weight_fake_quant
            q = fq(w.detach()) / fq.scale.reshape(-1, 1, 1, 1)
            k = torch.round(q)
            assert torch.allclose(q, k, rtol=0, atol=1e-4)  # on the grid
            assert int(k.min()) >= -63 and int(k.max()) <= 63
            assert torch.equal(k.abs().flatten(1).amax(1), torch.full((k.shape[0],), 63.0))
            amax = w.detach().abs().flatten(1).amax(1)
            assert torch.allclose(fq.scale, amax / 63, rtol=1e-6)
    # activations keep their full uint8 range
    act = fake_quantizers(net, weights=False)
    assert act and all((f.qmin, f.qmax) == (0, 255) for f in act)


def test_small_net_reduced_range_matches_ort(tmp_path):
    torch.manual_seed(0)
    net = randomize_bn(SmallNet(8))
    g = torch.Generator().manual_seed(5)
    calib = [(torch.randn(2, 3, 32, 48, generator=g),) for _ in range(3)]
    qat, im = quantize_model(net, calib, qconfig=REDUCED)
    ws = _int_weights(im)
    assert len(ws) == net.num_convs == 7
    assert min(int(w.min()) for w in ws) >= -64 and max(int(w.max()) for w in ws) == 63
    x = torch.randn(2, 3, 32, 48, generator=g)
    path = tmp_path / "small_r7.onnx"
    export_int_model_to_onnx(im, {"x": x}, path)
    y_int = im(x).numpy()
    scale = float(im.head.out_scale)
    with torch.no_grad():
        assert torch.round((qat(x) - torch.from_numpy(y_int)).abs() / scale).max() <= 1
    # ORT's integer kernels (QLinearConv, QLinearAdd, ...) equal the int model bit for bit
    y = run_onnx(path, {"x": x}, level="all", threads=1)["output"]
    assert np.array_equal(y, y_int)
    # unfused (level disable), ORT dequantizes and runs float32 convs whose summation order
    # is the CPU kernel's (99.89 % identical measured on an AMD EPYC CPU): rounding ties
    # flip, never by more than one step
    y = run_onnx(path, {"x": x}, level="disable", threads=1)["output"]
    d = np.round(np.abs(y - y_int) / scale)
    assert d.max() <= 1 and (d == 0).mean() >= 0.998
    info = deploy_platform_info(path, features=HASWELL)
    assert info["weights"] == "reduced (7-bit)" and info["weight_int_range"] == [-63, 63]
    assert info["weights_saturation_free"] is True and "warning" not in info
    assert info["cpu_int8_isa"] == "avx2" and info["weight_reduce_range_auto"] is True


def test_high_precision_conv_integer_with_reduced_range(tmp_path):
    net = randomize_bn(SmallNet(8, high_precision_head=True))
    net.set_qconfig = lambda: None
    from hat.quantization import default_set_qconfig

    default_set_qconfig(net, REDUCED)
    g = torch.Generator().manual_seed(1)
    calib = [(torch.randn(1, 3, 16, 24, generator=g),)]
    _, im = quantize_model(net, calib, qconfig=net.qconfig)
    assert int(im.head.weight.abs().max()) == 63
    x = calib[0][0]
    path = tmp_path / "hp.onnx"
    export_int_model_to_onnx(im, {"x": x}, path)
    y_int = im(x).numpy()
    for level in ("disable", "all"):
        assert np.array_equal(run_onnx(path, {"x": x}, level=level)["output"], y_int), level


def test_full_range_report_on_a_cpu_without_vnni(tmp_path):
    torch.manual_seed(0)
    net = randomize_bn(SmallNet(4))
    _, im = quantize_model(net, [(torch.randn(1, 3, 16, 24),)], qconfig=FULL)
    path = tmp_path / "full.onnx"
    export_int_model_to_onnx(im, {"x": torch.randn(1, 3, 16, 24)}, path)
    bad = deploy_platform_info(path, features=HASWELL)
    assert bad["weights"] == "full-range int8" and bad["weight_int_range"] == [-127, 127]
    assert bad["u8s8_can_saturate"] is True and bad["weights_saturation_free"] is False
    assert "weight_reduce_range=True" in bad["warning"]
    good = deploy_platform_info(path, features=ICELAKE)
    assert good["weights_saturation_free"] is True and "warning" not in good
    assert good["weight_reduce_range_auto"] is False
    here = deploy_platform_info()
    assert here["cpu_int8_isa"] == detect_cpu_int8_features().isa and "weights" not in here


# ------------------------------------------------------------------------- config plumbing
def test_qconfig_params_key_and_validation():
    model = ModelConvertPipeline([Float2QAT()], qconfig_params=dict(weight_reduce_range=True))(
        randomize_bn(SmallNet(4))
    )
    ws = fake_quantizers(model, weights=True)
    assert ws and all((f.qmin, f.qmax, f.reduce_range) == (-64, 63, True) for f in ws)
    assert all((f.qmin, f.qmax) == (0, 255) for f in fake_quantizers(model, weights=False))
    with pytest.raises(ValueError, match="qconfig_params.weight_reduce_range must be one of"):
        ModelConvertPipeline([Float2QAT()], qconfig_params=dict(weight_reduce_range="7bit"))
    with pytest.raises(ValueError, match="weights only"):
        QConfig(activation=QuantSpec(reduce_range=True))
    with pytest.raises(ValueError, match="QuantSpec.reduce_range must be True, False or 'auto'"):
        QuantSpec(reduce_range="maybe")
    assert get_default_qconfig().weight.reduce_range == "auto"
    # "auto" is what the CPU running this process needs
    auto = fake_quantizers(Float2QAT()(randomize_bn(SmallNet(4))), weights=True)[0]
    assert auto.reduce_range is resolve_reduce_range("auto")
    assert auto.reduce_range is (detect_cpu_int8_features().u8s8_saturates is not False)


# ------------------------------------------------------------------------ (c) checkpoints
def _prepared(qconfig):
    torch.manual_seed(0)
    net = randomize_bn(SmallNet(4))
    net.set_qconfig = lambda: None
    from hat.quantization import default_set_qconfig

    default_set_qconfig(net, qconfig)
    prepare_qat(net)
    return net


def _calibrated(qconfig):
    net = _prepared(qconfig)
    net.eval()
    with torch.no_grad():
        net(torch.randn(2, 3, 16, 24, generator=torch.Generator().manual_seed(3)))
    return net


def test_auto_refuses_a_checkpoint_with_the_other_range():
    here = resolve_reduce_range("auto")
    sd = _calibrated(get_default_qconfig(weight_reduce_range=not here)).state_dict()
    model = _prepared(get_default_qconfig(weight_reduce_range="auto"))
    with pytest.raises(WeightRangeMismatchError, match="weight_reduce_range=") as err:
        model.load_state_dict(sd)
    msg = str(err.value)
    assert "weight_fake_quant" in msg and f"ISA {detect_cpu_int8_features().isa}" in msg
    assert "never re-quantizes" in msg
    # the same checkpoint into a model that says what it wants: loads
    model = _prepared(get_default_qconfig(weight_reduce_range=not here))
    assert model.load_state_dict(sd) is not None


def test_explicit_setting_requantizes_a_full_range_checkpoint():
    src = _calibrated(FULL)
    sd = src.state_dict()
    dst = _prepared(REDUCED)
    with pytest.warns(UserWarning, match=r"re-quantized to \[-64, 63\]"):
        dst.load_state_dict(sd)
    for a, b in zip(fake_quantizers(src, weights=True), fake_quantizers(dst, weights=True)):
        assert torch.equal(a.observer.max_val, b.observer.max_val)  # the same float range
        amax = torch.maximum(-a.observer.min_val, a.observer.max_val)
        assert torch.allclose(a.scale, amax / 127) and torch.allclose(b.scale, amax / 63)
        assert b.quant_range.tolist() == [-64, 63]
    for a, b in zip(fake_quantizers(src, weights=False), fake_quantizers(dst, weights=False)):
        assert torch.equal(a.scale, b.scale)  # activations untouched


def test_checkpoint_written_before_the_range_was_recorded():
    sd = {k: v for k, v in _calibrated(FULL).state_dict().items() if "quant_range" not in k}
    # full range implied: loads strictly into a full-range model, nothing reported missing
    res = _prepared(FULL).load_state_dict(sd, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _prepared(REDUCED).load_state_dict(sd, strict=True)
    assert any("re-quantized to [-64, 63]" in str(w.message) for w in caught)
    # a float checkpoint has no quantization parameters: nothing to compare
    res = _prepared(get_default_qconfig()).load_state_dict(
        randomize_bn(SmallNet(4)).state_dict(), strict=False
    )
    assert any(k.endswith("quant_range") for k in res.missing_keys)


# ------------------------------------------------------- (b) the non-VNNI kernel, emulated
def vpmaddubsw_dot(a_u8: np.ndarray, w_s8: np.ndarray) -> np.ndarray:
    """Rows of ``a_u8`` (uint8, ``(N, K)``) dotted with rows of ``w_s8`` (int8, ``(M, K)``)
    as AVX2/AVX512BW ``vpmaddubsw`` + ``vpmaddwd`` compute them: ``a[2i]*w[2i] +
    a[2i+1]*w[2i+1]`` saturated to int16, then the int16 lanes summed exactly in int32."""
    k = a_u8.shape[1]
    if k % 2:
        a_u8 = np.pad(a_u8, ((0, 0), (0, 1)))
        w_s8 = np.pad(w_s8, ((0, 0), (0, 1)))
    a = a_u8.astype(np.int32).reshape(a_u8.shape[0], 1, -1, 2)
    w = w_s8.astype(np.int32).reshape(1, w_s8.shape[0], -1, 2)
    pairs = np.clip((a * w).sum(-1), I16.min, I16.max)
    return pairs.sum(-1)


def test_pair_bounds_with_real_numbers():
    a, w7, w8 = 255, 64, 127
    assert 2 * a * w8 == 64770 > I16.max  # full range: one pair overflows int16
    assert 2 * a * -128 == -65280 < I16.min
    assert 2 * a * w7 == 32640 <= I16.max and -2 * a * w7 >= I16.min  # 7-bit: never
    assert 2 * a * 65 == 33150 > I16.max  # 64 is the largest safe |w|


@pytest.mark.parametrize("wmin,wmax,saturating", [(-64, 63, 0), (-128, 127, 153_563_371)])
def test_exhaustive_pairs(wmin, wmax, saturating):
    """Every (a0, a1, w0, w1) in [0, 255]^2 x [wmin, wmax]^2: how many pair sums leave int16.
    Exact count by sorting the single products (2^32 pairs for full int8)."""
    p = (np.arange(256)[:, None] * np.arange(wmin, wmax + 1)[None, :]).ravel()
    s = np.sort(p)
    over = len(s) - np.searchsorted(s, I16.max - p, side="right")  # p0 + p1 > 32767
    under = np.searchsorted(s, I16.min - p, side="left")  # p0 + p1 < -32768
    count = int(over.sum() + under.sum())
    print(f"w in [{wmin}, {wmax}]: {count} of {len(p) ** 2} pairs saturate")
    assert count == saturating
    # the extremes: 2 * min/max single product against the int16 lane
    assert (2 * int(s[0]) >= I16.min and 2 * int(s[-1]) <= I16.max) is (saturating == 0)


def test_emulation_is_exact_without_saturation():
    g = np.random.default_rng(0)
    a = g.integers(0, 256, (64, 72), dtype=np.uint8)
    w = g.integers(-64, 64, (16, 72), dtype=np.int8)
    exact = a.astype(np.int64) @ w.astype(np.int64).T
    assert np.array_equal(vpmaddubsw_dot(a, w), exact)


def _im2col_nhwc(codes: np.ndarray, k: int, pad: int, zp: int) -> np.ndarray:
    """``(H*W, k*k*C)`` windows of one ``(C, H, W)`` uint8 image padded with the zero point,
    K ordered (ky, kx, c) as ORT's NHWC im2col (any pairing gives the same bounds)."""
    c, h, w = codes.shape
    padded = np.pad(codes, ((0, 0), (pad, pad), (pad, pad)), constant_values=zp)
    cols = [padded[:, dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)]
    return np.stack(cols).transpose(2, 3, 0, 1).reshape(h * w, k * k * c)


def _emulated_qlinearconv(conv, codes: np.ndarray, zp: int, saturate: bool) -> np.ndarray:
    """A 3x3 stride-1 pad-1 int conv layer on one image, as ORT's u8s8 GEMM computes it:
    ``sum(a_u8 * w_s8) - zp * sum(w) + b`` then ORT's requantization."""
    wq = conv.weight.numpy()  # (M, C, 3, 3) int8
    m = wq.shape[0]
    w2 = wq.transpose(0, 2, 3, 1).reshape(m, -1)  # K ordered (ky, kx, c)
    a2 = _im2col_nhwc(codes, 3, 1, zp)
    if saturate:
        dots = vpmaddubsw_dot(a2, w2)
    else:
        dots = a2.astype(np.int64) @ w2.astype(np.int64).T
    acc = dots - zp * w2.astype(np.int64).sum(1)[None, :] + conv.bias.numpy().astype(np.int64)
    mult = conv.multiplier.numpy().reshape(1, -1).astype(np.float32)
    q = np.rint(acc.astype(np.float32) * mult) + conv.out_zp
    qd = conv.out_qdtype
    h, w = codes.shape[1:]
    return np.clip(q, qd.qmin, qd.qmax).reshape(h, w, m).transpose(2, 0, 1).astype(np.int64)


def _adversarial_conv(qconfig):
    """3x3 conv, 8 -> 4 channels; output channel 0 has equal positive weights (all quantized to
    the largest code), so a saturated input makes every u8 x s8 pair maximal."""
    torch.manual_seed(0)
    op = hnn.ConvModule2d(8, 4, 3)
    with torch.no_grad():
        op.conv.weight[0].fill_(0.05)
        op.conv.bias.zero_()
    from quant_helpers import OpNet

    net = OpNet(op)
    g = torch.Generator().manual_seed(1)
    calib = [(torch.randn(1, 8, 6, 6, generator=g) * 2,), (torch.full((1, 8, 6, 6), 6.0),)]
    _, im = quantize_model(net, calib, qconfig=qconfig)
    return im


@pytest.mark.parametrize("qconfig,bits", [(FULL, 8), (REDUCED, 7)])
def test_non_vnni_kernel_emulation_on_an_int_conv(qconfig, bits, tmp_path):
    im = _adversarial_conv(qconfig)
    conv = next(m for m in im.modules() if getattr(m, "weight", None) is not None)
    assert int(conv.weight[0].min()) == int(conv.weight[0].max()) == 2 ** (bits - 1) - 1
    g = torch.Generator().manual_seed(2)
    x_adv = torch.full((1, 8, 6, 6), 100.0)  # every input code 255
    x_rand = torch.randn(1, 8, 6, 6, generator=g) * 2
    for x, adversarial in ((x_adv, True), (x_rand, False)):
        xq = im.stubs[0](x)
        codes, zp = plain(xq)[0].numpy(), int(xq.q_zero_point)
        if adversarial:
            assert (codes == 255).all()
        y_int = int_values(im(x))[0]
        exact = _emulated_qlinearconv(conv, codes, zp, saturate=False)
        assert np.array_equal(exact, y_int)  # the harness reproduces the int model
        emulated = _emulated_qlinearconv(conv, codes, zp, saturate=True)
        diff = np.abs(emulated - y_int)
        print(f"{bits}-bit weights, adversarial={adversarial}: max diff {diff.max()} LSB")
        print(f"  differing outputs: {(diff > 0).mean():.3f}")
        if bits == 7:
            assert diff.max() == 0  # never saturates, whatever the input
        elif adversarial:
            # channel 0: 36 pairs of 255 * 127 * 2 = 64770, each clipped to 32767; the
            # random channels saturate too wherever two adjacent weights sum past 128
            assert diff[0].min() > 0 and diff.max() >= 100
    # the real ORT on this CPU: exact whenever its kernel cannot saturate
    path = tmp_path / "adv.onnx"
    export_int_model_to_onnx(_Pos(im), {"x0": x_adv}, path)
    ort = _ort_ints(path, (x_adv,), "all")
    ref = int_values(im(x_adv))
    if bits == 7 or detect_cpu_int8_features().u8s8_saturates is False:
        assert np.array_equal(ort, ref)
