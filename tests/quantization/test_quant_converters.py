"""Conversion stages, LoadCheckpoint, Calibrator, checkpoint compatibility, QAT training."""

import pytest
import torch
from quant_helpers import SmallNet, randomize_bn
from torch import nn

import hat.nn as hnn
from hat.engine.calibrator import Calibrator
from hat.quantization import (
    FakeQuantState,
    convert,
    get_fake_quantize_state,
    is_int_model,
    set_fake_quantize,
)
from hat.quantization.converters import (
    Calibration2QAT,
    Float2Calibration,
    Float2QAT,
    LoadCheckpoint,
    ModelConvertPipeline,
    QAT2Quantize,
)
from hat.quantization.fake_quantize import FakeQuantize
from hat.registry import build_from_registry


def _save(tmp_path, model, name="ckpt.pth.tar"):
    path = tmp_path / name
    torch.save({"state_dict": model.state_dict(), "epoch": 1}, path)
    return path


def test_load_checkpoint_errors(tmp_path):
    model = SmallNet(4)
    missing = tmp_path / "nope.pth.tar"
    with pytest.raises(FileNotFoundError, match="nope.pth.tar"):
        LoadCheckpoint(missing)(model)
    # float checkpoint into a QAT model: fake-quant buffers are missing
    path = _save(tmp_path, SmallNet(4))
    qat = Float2QAT()(SmallNet(4))
    with pytest.raises(KeyError, match="missing"):
        LoadCheckpoint(path)(qat)
    LoadCheckpoint(path, allow_miss=True)(qat)
    # QAT checkpoint into a float model: unexpected keys
    qpath = _save(tmp_path, qat, "qat.pth.tar")
    with pytest.raises(KeyError, match="unexpected"):
        LoadCheckpoint(qpath)(SmallNet(4))
    LoadCheckpoint(qpath, ignore_extra=True)(SmallNet(4))
    # shape mismatch names the file
    with pytest.raises(RuntimeError, match="qat.pth.tar"):
        LoadCheckpoint(qpath, ignore_extra=True)(SmallNet(6))
    # garbage file
    bad = tmp_path / "bad.pth.tar"
    bad.write_text("not a checkpoint")
    with pytest.raises(RuntimeError, match="bad.pth.tar"):
        LoadCheckpoint(bad)(SmallNet(4))


def test_ddp_prefix_is_stripped(tmp_path):
    torch.manual_seed(0)
    m = randomize_bn(SmallNet(4))
    path = tmp_path / "ddp.pth.tar"
    torch.save({"state_dict": {"module." + k: v for k, v in m.state_dict().items()}}, path)
    torch.manual_seed(1)
    target = SmallNet(4)
    assert not torch.equal(target.c1.conv.weight, m.c1.conv.weight)
    loaded = LoadCheckpoint(path)(target)
    assert loaded is target
    expected = m.state_dict()
    assert list(loaded.state_dict()) == list(expected)
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, expected[k]), k
    # strip_prefix=None keeps the keys: every model key is then missing
    with pytest.raises(KeyError, match="missing"):
        LoadCheckpoint(path, strip_prefix=None)(SmallNet(4))


def test_calibration_and_qat_state_dicts_are_compatible(tmp_path):
    torch.manual_seed(0)
    calib = Float2Calibration()(randomize_bn(SmallNet(4)))
    assert get_fake_quantize_state(calib) is FakeQuantState.CALIBRATION
    calib.eval()
    with torch.no_grad():
        calib(torch.randn(2, 3, 16, 16))
    qat = Float2QAT()(SmallNet(4))
    assert get_fake_quantize_state(qat) is FakeQuantState.QAT
    sd_c, sd_q = calib.state_dict(), qat.state_dict()
    assert list(sd_c) == list(sd_q)
    assert all(sd_c[k].shape == sd_q[k].shape for k in sd_c)
    path = _save(tmp_path, calib)
    LoadCheckpoint(path)(qat)
    for k, v in calib.state_dict().items():
        assert torch.equal(v, qat.state_dict()[k]), k
    # scales and observer statistics travel as buffers
    assert any(k.endswith("activation_post_process.scale") for k in sd_q)
    assert any(k.endswith("observer.min_val") for k in sd_q)


def test_pipeline_from_registry_and_stages(tmp_path):
    torch.manual_seed(0)
    float_model = randomize_bn(SmallNet(4))
    path = _save(tmp_path, float_model)
    cfg = dict(
        type="ModelConvertPipeline",
        qat_mode="fuse_bn",
        converters=[
            dict(type="Float2Calibration"),
            dict(type="LoadCheckpoint", checkpoint_path=str(path), allow_miss=True),
        ],
    )
    pipe = build_from_registry(cfg)
    assert isinstance(pipe, ModelConvertPipeline)
    model = pipe(SmallNet(4))
    assert torch.equal(model.c1.conv.weight, float_model.c1.conv.weight)
    assert get_fake_quantize_state(model) is FakeQuantState.CALIBRATION
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 16, 16))
    model = Calibration2QAT(averaging_constant=0.0)(model)
    assert get_fake_quantize_state(model) is FakeQuantState.QAT
    s0 = model.c1.activation_post_process.scale.clone()
    with torch.no_grad():
        model(torch.randn(1, 3, 16, 16) * 10)
    assert torch.equal(model.c1.activation_post_process.scale, s0)  # frozen by c=0
    im = QAT2Quantize()(model)
    assert is_int_model(im)
    with pytest.raises(ValueError):
        ModelConvertPipeline([], qat_mode="nope")


class _Recorder:
    def __init__(self):
        self.events = []

    def on_loop_begin(self, **kw):
        self.events.append("loop_begin")

    def on_step_begin(self, step_id, **kw):
        self.events.append(f"step_begin{step_id}")

    def on_step_end(self, step_id, model_outs, **kw):
        assert model_outs is not None
        self.events.append(f"step_end{step_id}")

    def on_loop_end(self, num_steps, **kw):
        self.events.append(f"loop_end{num_steps}")


def test_calibrator_runs_num_steps_then_validation():
    data = [{"x": torch.randn(1, 3, 16, 16)} for _ in range(2)]  # fewer batches than steps
    seen = []

    def bp(step_id, batch, model, device, **kw):
        seen.append(step_id)
        return model(batch["x"])

    rec = _Recorder()
    cal = Calibrator(
        SmallNet(4),
        data,
        bp,
        num_steps=5,
        callbacks=[rec],
        model_convert_pipeline=ModelConvertPipeline([Float2Calibration()]),
    )
    model = cal.fit()
    assert seen == [0, 1, 2, 3, 4]
    assert rec.events[0] == "loop_begin" and rec.events[-1] == "loop_end5"
    assert rec.events.count("step_end4") == 1
    assert get_fake_quantize_state(model) is FakeQuantState.VALIDATION
    assert not model.training
    fqs = [m for m in model.modules() if isinstance(m, FakeQuantize)]
    assert all(m.has_qparams for m in fqs)
    with pytest.raises(RuntimeError, match="not prepared"):
        Calibrator(SmallNet(4), data, bp, num_steps=1).fit()


def test_qat_training_reduces_loss():
    torch.manual_seed(0)
    teacher = randomize_bn(SmallNet(6)).eval()
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(4, 3, 16, 16, generator=g) for _ in range(4)]
    with torch.no_grad():
        ys = [teacher(x) for x in xs]
    student = SmallNet(6)
    student.load_state_dict(teacher.state_dict())
    with torch.no_grad():  # perturb so that there is something to learn
        for p in student.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model = Float2QAT()(student)
    model.eval()
    set_fake_quantize(model, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for x in xs:
            model(x)
    set_fake_quantize(model, FakeQuantState.QAT)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_now():
        model.eval()
        set_fake_quantize(model, FakeQuantState.VALIDATION)
        with torch.no_grad():
            val = sum(nn.functional.mse_loss(model(x), y).item() for x, y in zip(xs, ys))
        set_fake_quantize(model, FakeQuantState.QAT)
        model.train()
        return val

    before = loss_now()
    for _ in range(15):
        for x, y in zip(xs, ys):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
    after = loss_now()
    print(f"QAT loss {before:.4f} -> {after:.4f}")
    assert after < 0.5 * before
    # the trained model still converts and the integer model agrees with VALIDATION
    set_fake_quantize(model, FakeQuantState.VALIDATION)
    model.eval()
    im = convert(model)
    with torch.no_grad():
        d = (model(xs[0]) - im(xs[0])).abs().max().item()
    assert d <= float(im.head.out_scale) * 1.01


def test_float_passthrough_after_dequant():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = hnn.QuantStub()
            self.c = hnn.ConvModule2d(3, 2, 3)
            self.dq = hnn.DeQuantStub()
            self.up = hnn.Interpolate(scale_factor=2, mode="bilinear")
            self.mul = hnn.MulScalar(4.0)

        def forward(self, x):
            return self.mul(self.up(self.dq(self.c(self.q(x)))))

    m = Float2Calibration()(Net()).eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        m(x)
    im = QAT2Quantize()(m)
    y = im(x)
    assert type(y) is torch.Tensor and y.shape == (1, 2, 16, 16)
