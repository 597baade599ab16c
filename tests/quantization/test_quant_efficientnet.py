"""EfficientNet-B0 + BiFPN and FastSCNNNeck quantized: float -> calibration -> QAT -> integer
model -> ONNX -> ONNX Runtime, bit-exact, every conv an integer kernel (the BEV and MOTR
building blocks)."""

import copy

import numpy as np
import pytest
import torch
from quant_helpers import int_values, lsb_stats
from torch import nn

import hat.nn as hnn
from hat.models.backbones import EfficientNet
from hat.models.necks import BiFPN, FastSCNNNeck
from hat.quantization import (
    Calibration2QAT,
    FakeQuantState,
    Float2Calibration,
    ModelConvertPipeline,
    QAT2Quantize,
    set_fake_quantize,
)
from hat.quantization.checker import check_model
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import optimized_op_counts, run_onnx
from hat.quantization.qtensor import QTensor, make_qtensor, plain

B0_CHANNELS = {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}


class Encoder(nn.Module):
    """EfficientNet-B0 (ReLU, no SE, no top) + a one-layer BiFPN: the seed's BEV encoder,
    narrower."""

    def __init__(self, upsample_mode: str = "bilinear") -> None:
        super().__init__()
        self.backbone = EfficientNet("b0", include_top=False)
        self.neck = BiFPN(
            [2, 4, 8, 16, 32], [2, 4, 8, 16, 32], B0_CHANNELS, 16, stack=1,
            upsample_mode=upsample_mode,
        )  # fmt: skip

    def forward(self, img):
        if isinstance(img, dict):
            img = img["img"]
        return self.neck(self.backbone(img))


class ImageNeck(nn.Module):
    """FastSCNNNeck on quantized stride-8 and stride-32 features (the BEV image neck)."""

    def __init__(self) -> None:
        super().__init__()
        self.quant8, self.quant32 = hnn.QuantStub(), hnn.QuantStub()
        self.neck = FastSCNNNeck([40, 320], [16, 16], [-3, -1])

    def forward(self, f8, f32=None):
        if isinstance(f8, dict):
            f8, f32 = f8["f8"], f8["f32"]
        return self.neck([self.quant8(f8), None, self.quant32(f32)])


def settle_bn(model: nn.Module, batches: list) -> nn.Module:
    """Running BN statistics from data (cumulative average), as after float training."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        for b in batches:
            model(*b)
    return model.eval()


def per_module_lsb(qat: nn.Module, im: nn.Module, x: tuple) -> dict[str, tuple[int, float]]:
    """Each integer module run on the integer codes of its QAT module's inputs: (max LSB
    difference, share of differing elements) against the QAT module's output."""
    calls, handles = {}, []
    for name, mod in qat.named_modules():
        if hasattr(mod, "to_int") and getattr(mod, "activation_post_process", None) is not None:
            hook = lambda m, a, kw, o, name=name: calls.__setitem__(name, (a, kw, o))  # noqa: E731
            handles.append(mod.register_forward_hook(hook, with_kwargs=True))
    with torch.no_grad():
        qat(*x)
    for h in handles:
        h.remove()
    int_modules = dict(im.named_modules())
    stats = {}
    for name, (inputs, kwargs, out) in calls.items():
        if not all(isinstance(t, QTensor) for t in inputs):
            continue  # the QuantStubs (float input)
        codes = [
            make_qtensor(
                torch.from_numpy(int_values(t)).to(t.q_dtype.torch_dtype),
                t.q_scale, t.q_zero_point, t.q_dtype,
            )
            for t in inputs
        ]  # fmt: skip
        y = int_modules[name](*codes, **kwargs)
        stats[name] = lsb_stats(int_values(out), int_values(y))
    return stats


def stage_chain(model: nn.Module, batches: list, x: tuple, tmp_path, name: str) -> dict:
    """Calibration on ``batches``, two QAT steps, then VALIDATION, int model and ORT."""
    qat = ModelConvertPipeline([Float2Calibration()])(model).eval()
    with torch.no_grad():
        for b in batches:
            qat(*b)
    qat = Calibration2QAT()(qat).train()
    opt = torch.optim.SGD(qat.parameters(), lr=1e-3)
    for b in batches:
        loss = sum(plain(y).square().mean() for y in qat(*b))
        opt.zero_grad()
        loss.backward()
        opt.step()
    qat.eval()
    set_fake_quantize(qat, FakeQuantState.VALIDATION)
    with torch.no_grad():
        y_qat = qat(*x)
    im = QAT2Quantize()(copy.deepcopy(qat))
    y_int = im(*x)
    modules = per_module_lsb(qat, im, x)
    path = tmp_path / f"{name}.onnx"
    names = ["img"] if len(x) == 1 else ["f8", "f32"]
    export_int_model_to_onnx(im, dict(zip(names, x)), path)
    y_ort = list(run_onnx(path, dict(zip(names, x)), level="all").values())
    return dict(im=im, y_qat=y_qat, y_int=y_int, y_ort=y_ort, path=path, modules=modules)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(2, 3, 64, 64, generator=g).clamp(-1, 1),) for _ in range(2)]
    model = settle_bn(Encoder(), batches)
    n_conv = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    n_add = sum(isinstance(m, hnn.Add) for m in model.modules())
    x = (torch.randn(1, 3, 64, 64, generator=g).clamp(-1, 1),)
    out = stage_chain(model, batches, x, tmp_path_factory.mktemp("enc"), "encoder")
    return dict(out, n_conv=n_conv, n_add=n_add, x=x)


def assert_int_matches_qat(
    out: dict, n_modules: int, max_lsb: list[int], mean_lsb: list[float], min_corr: float = 0.9
) -> None:
    """Module by module, the integer model reproduces the QAT model: the fake-quant convs
    round in float32 and the integer ones accumulate exactly, so a rare code moves by 1 LSB
    (e.g. one of the 768 codes of a 2 x 2 x 192 map). Through the whole network these flips
    propagate and multiply (each one perturbs the rounding of every output that reads it), so
    the outputs differ by a few LSB, more the deeper the output: ``max_lsb``/``mean_lsb`` per
    output, and the integer codes stay correlated with the QAT codes above ``min_corr``."""
    assert len(out["modules"]) == n_modules
    for name, (worst, share) in out["modules"].items():
        assert worst <= 1 and share < 0.01, (name, worst, share)
    assert len(out["y_int"]) == len(max_lsb) == len(mean_lsb)
    for a, b, top, mean in zip(out["y_qat"], out["y_int"], max_lsb, mean_lsb):
        assert b.dtype == torch.uint8 and a.shape == b.shape
        qa, qb = int_values(a).astype(np.int64), int_values(b).astype(np.int64)
        d = np.abs(qa - qb)
        corr = np.corrcoef(qa.ravel(), qb.ravel())[0, 1]
        assert d.max() <= top and d.mean() < mean and corr > min_corr, (d.max(), d.mean(), corr)


def test_encoder_int_model_matches_qat(encoder):
    # 72 convs, 20 adds, 4 bilinear resizes. Measured per output (strides 2..32): max 3, 3, 4,
    # 12, 30 LSB, mean 0.24, 0.39, 0.68, 2.7, 10.3 LSB, correlation 0.9998 .. 0.937: on this
    # untrained network (BN settled on 4 random images) a 1-LSB flip grows through the 16 MBConv
    # blocks (mean 0.0 after block 0, 0.2 after block 4, 2.2 after block 9, 4.6 after block 15).
    assert_int_matches_qat(
        encoder, 96, max_lsb=[6, 6, 8, 24, 60], mean_lsb=[0.5, 0.8, 1.4, 5.0, 20.0]
    )


def test_encoder_ort_is_bit_exact(encoder):
    assert len(encoder["y_ort"]) == 5
    for got, want in zip(encoder["y_ort"], encoder["y_int"]):
        assert got.dtype == np.uint8 and np.array_equal(got, plain(want).numpy())


def test_encoder_runs_on_integer_kernels(encoder):
    ops = optimized_op_counts(encoder["path"])
    # 56 backbone + 16 neck convs; 9 residual adds + 8 node sums (one 3-input node adds twice
    # per bottom-up node: 3 more)
    assert encoder["n_conv"] == 72 and ops["QLinearConv"] == 72
    assert ops["QLinearAdd"] == encoder["n_add"] == 20
    assert "Conv" not in ops and "ConvInteger" not in ops
    assert ops["MaxPool"] == 4 and ops["Resize"] == 4  # the bilinear upsamplings (islands)


def test_checker_integer_share():
    """Every MAC on integer kernels; the bilinear upsamplings are the only float islands
    (nearest upsampling: none)."""
    x = {"img": torch.randn(1, 3, 64, 64).clamp(-1, 1)}
    bilinear = check_model(Encoder(), x)
    assert bilinear.problems == [] and bilinear.warnings == []
    assert sorted(bilinear.summary.float_islands) == [
        f"neck.layers.0.nodes.{i}.resample.1.resize" for i in range(4)
    ]
    assert 0.99 < bilinear.summary.integer_mac_share < 1.0
    assert bilinear.summary.integer_convs == bilinear.summary.convs == 72
    nearest = check_model(Encoder(upsample_mode="nearest"), x)
    assert nearest.problems == [] and nearest.summary.float_islands == {}
    assert nearest.summary.integer_mac_share == 1.0


@pytest.fixture(scope="module")
def image_neck(tmp_path_factory):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(2)

    def sample(b):
        return (torch.randn(b, 40, 32, 36, generator=g).relu(), torch.randn(b, 320, 8, 9).relu())

    batches = [sample(2) for _ in range(2)]
    model = settle_bn(ImageNeck(), batches)
    n_conv = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    out = stage_chain(model, batches, sample(1), tmp_path_factory.mktemp("neck"), "neck")
    return dict(out, n_conv=n_conv)


def test_fast_scnn_neck_pyramid_pooling_is_integer(image_neck):
    im = image_neck["im"]
    assert [type(p).__name__ for p in im.neck.extract.pools] == ["IntBinAvgPool"] * 4
    # 10 convs, 4 poolings, 5 bilinear resizes, the concat and the add
    n_out = len(image_neck["y_int"])
    assert_int_matches_qat(image_neck, 21, max_lsb=[2] * n_out, mean_lsb=[0.1] * n_out)
    for got, want in zip(image_neck["y_ort"], image_neck["y_int"]):
        assert np.array_equal(got, plain(want).numpy())
    ops = optimized_op_counts(image_neck["path"])
    # the 4 poolings: int32 window sums (ConvInteger) + float32 requantization (Cast, Mul)
    assert ops["ConvInteger"] == 4 and ops["QLinearConv"] == image_neck["n_conv"] == 10
    assert ops["QLinearConcat"] == 1 and ops["QLinearAdd"] == 1


def test_bin_avg_pool_requantizes_the_exact_window_sums():
    """One pooling, hand-computed: acc = sum (q - zp), y = rne(acc * s_x / (k s_y)) + zp_y."""
    from hat.models.necks.pyramid_pooling import BinAvgPool

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = hnn.QuantStub()
            self.pool = BinAvgPool(2)

        def forward(self, x):
            return self.pool(self.quant(x))

    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 3, 7, 10, generator=g)
    qat = ModelConvertPipeline([Float2Calibration()])(Net()).eval()
    with torch.no_grad():
        qat(x)
    set_fake_quantize(qat, FakeQuantState.VALIDATION)
    im = QAT2Quantize()(qat)
    xq = im.quant(x)
    y = im(x)
    q = plain(xq).to(torch.int64) - int(xq.q_zero_point)
    # 7 rows into 2 bins: stride 3, kernel 4 (rows 0-3, 3-6); 10 columns: stride 5, kernel 5
    acc = q[0, 1, 3:7, 5:10].sum().item()
    m = np.float32(np.float64(float(xq.q_scale)) / (20 * np.float64(float(y.q_scale))))
    want = int(np.clip(np.rint(np.float32(acc) * m) + int(y.q_zero_point), 0, 255))
    assert int(plain(y)[0, 1, 1, 1]) == want
