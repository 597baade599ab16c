"""Calibrator: a LoopBase with the trainers' events, device handling and checkpoint format."""

from __future__ import annotations

import copy
import os

import pytest
import torch
from engine_test_helpers import TOY_CONFIG
from torch import nn

import hat.nn as hnn
from hat.callbacks import Checkpoint
from hat.engine import BasicBatchProcessor, Calibrator, LoopBase, Trainer
from hat.engine.callback import EVENTS, CallbackMixin
from hat.quantization import (
    FakeQuantState,
    LoadCheckpoint,
    default_set_qconfig,
    get_fake_quantize_state,
    set_fake_quantize,
)
from hat.quantization.converters import Float2Calibration, ModelConvertPipeline
from hat.quantization.fake_quantize import FakeQuantize
from hat.registry import build_from_registry
from hat.utils.checkpoint import checkpoint_path
from hat.utils.config import Config
from hat.utils.distributed import default_device

NUM_STEPS = 5  # more than the 2 batches: the loader is iterated again


class TinyQuantNet(nn.Module):
    """quant -> conv-bn-relu -> conv -> dequant, on ``data["img"]``."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.body = hnn.ConvModule2d(3, 4, 3, norm_layer=nn.BatchNorm2d(4), act_layer=nn.ReLU())
        self.head = hnn.ConvModule2d(4, 2, 1)
        self.dequant = hnn.DeQuantStub()

    def forward(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.dequant(self.head(self.body(self.quant(data["img"]))))

    def fuse_model(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self) -> None:
        default_set_qconfig(self)


def float_model() -> TinyQuantNet:
    torch.manual_seed(0)
    model = TinyQuantNet()
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, so eval-mode BN matters
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def batches(n: int = 2) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(2)
    return [{"img": torch.randn(2, 3, 8, 8, generator=g) * (i + 1)} for i in range(n)]


def pipeline() -> ModelConvertPipeline:
    return ModelConvertPipeline([Float2Calibration()], qat_mode="fuse_bn")


class Recorder(CallbackMixin):
    """Records ``(event, kwargs, grad enabled, fake-quant state, model.training)``."""

    def __init__(self) -> None:
        self.log: list = []

    def __getattribute__(self, attr):
        if attr in EVENTS:
            log = object.__getattribute__(self, "log")

            def record(**kw):
                model = kw["model"]
                state = get_fake_quantize_state(model)
                log.append((attr, kw, torch.is_grad_enabled(), state, model.training))

            return record
        return object.__getattribute__(self, attr)


for _event in EVENTS:  # make overrides_event() see every event as implemented
    setattr(Recorder, _event, lambda self, **kw: None)


def test_fires_the_protocol_with_the_trainers_arguments():
    rec = Recorder()
    data = batches()
    cal = Calibrator(
        float_model(), data, num_steps=NUM_STEPS, device="cpu", callbacks=[rec],
        model_convert_pipeline=pipeline(),
    )  # fmt: skip
    model = cal.fit()
    events = [e for e, *_ in rec.log]
    step = [
        "on_step_begin", "on_batch_begin", "on_forward_begin", "on_forward_end", "on_batch_end",
        "on_step_end",
    ]  # fmt: skip
    assert events == ["on_loop_begin", "on_epoch_begin", *step * NUM_STEPS, "on_epoch_end",
                      "on_loop_end"]  # fmt: skip

    # the same keyword arguments as a trainer's events (training-only events aside)
    trainer_rec = Recorder()
    cfg = Config.fromfile(TOY_CONFIG)
    Trainer(
        model=cfg["ToyModel"](),
        data_loader=[{"x": torch.randn(4, 8), "y": torch.randn(4)}],
        optimizer=torch.optim.SGD(cfg["ToyModel"]().parameters(), lr=0.1),
        batch_processor=BasicBatchProcessor(loss_collector=cfg["loss_collector"]),
        device="cpu",
        num_epochs=1,
        callbacks=[trainer_rec],
    ).fit()
    trainer_keys = {e: set(kw) for e, kw, *_ in trainer_rec.log}
    for event, kw, *_ in rec.log:
        assert set(kw) == trainer_keys[event], event

    # the values: one epoch of NUM_STEPS steps, no optimizer, no loss, the outputs of the step
    ends = [kw for e, kw, *_ in rec.log if e == "on_step_end"]
    assert [kw["step_id"] for kw in ends] == list(range(NUM_STEPS))
    assert [kw["global_step_id"] for kw in ends] == list(range(NUM_STEPS))
    for kw in ends:
        assert kw["loop"] is cal and kw["epoch_id"] == 0 and kw["optimizer"] is None
        assert kw["num_steps"] == NUM_STEPS and kw["steps_per_epoch"] == NUM_STEPS
        assert kw["device"] == torch.device("cpu") and kw["loss"] is None
        assert kw["batch"] is data[kw["step_id"] % 2]  # the loader's batch, iterated again
        assert kw["model_outs"].shape == (2, 2, 8, 8)
    assert [kw["num_steps"] for e, kw, *_ in rec.log if e == "on_loop_end"] == [NUM_STEPS]

    # observers only: no grad anywhere, eval mode, CALIBRATION until the loop end
    assert all(not grad for _, _, grad, _, _ in rec.log)
    assert all(not training for e, _, _, _, training in rec.log if e != "on_loop_begin")
    states = [state for e, _, _, state, _ in rec.log]
    assert states[:-1] == [FakeQuantState.CALIBRATION] * (len(states) - 1)
    assert states[-1] is FakeQuantState.VALIDATION
    assert model is cal.model and get_fake_quantize_state(model) is FakeQuantState.VALIDATION
    assert all(p.grad is None for p in model.parameters())


def test_same_observer_statistics_as_a_manual_forward_loop():
    data = batches()
    manual = pipeline()(float_model())
    manual.eval()
    set_fake_quantize(manual, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for step in range(NUM_STEPS):
            manual(data[step % len(data)])
    set_fake_quantize(manual, FakeQuantState.VALIDATION)

    calibrated = Calibrator(
        float_model(), data, num_steps=NUM_STEPS, device="cpu", model_convert_pipeline=pipeline()
    ).fit()
    expected = manual.state_dict()
    got = calibrated.state_dict()
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    fqs = [m for m in calibrated.modules() if isinstance(m, FakeQuantize)]
    assert fqs and all(m.has_qparams for m in fqs)
    # one more step changes the statistics: the number of steps is what the loop ran
    longer = Calibrator(
        float_model(), data, num_steps=NUM_STEPS + 1, device="cpu",
        model_convert_pipeline=pipeline(),
    ).fit()  # fmt: skip
    assert any(not torch.equal(longer.state_dict()[k], v) for k, v in expected.items())


def test_device_none_is_loop_base_device():
    data = batches()
    cal = Calibrator(float_model(), data, num_steps=1, device=None,
                     model_convert_pipeline=pipeline())  # fmt: skip
    base = LoopBase(float_model(), data, batch_processor=print, device=None, num_epochs=1)
    assert cal.device == base.device == default_device()
    model = cal.fit()
    assert {p.device for p in model.parameters()} == {default_device()}
    assert Calibrator(float_model(), data, device=1).device == torch.device("cuda", 1)
    assert Calibrator(float_model(), data, device="cpu").device == torch.device("cpu")


def test_writes_calibration_checkpoints_through_the_checkpoint_callback(tmp_path, monkeypatch):
    monkeypatch.setenv("HAT_TRAINING_STEP", "calibration")
    cal = build_from_registry(
        dict(  # the keys of the configs' calibration_trainer
            type="Calibrator",
            model=float_model(),
            model_convert_pipeline=dict(
                type="ModelConvertPipeline",
                qat_mode="fuse_bn",
                converters=[dict(type="Float2Calibration")],
            ),
            data_loader=batches(),
            batch_processor=dict(type="BasicBatchProcessor", need_grad_update=False),
            num_steps=NUM_STEPS,
            device=None,
            log_interval=2,
            save_dir=str(tmp_path),
            name_prefix="calibration-",
        )
    )
    writers = [c for c in cal.callbacks if isinstance(c, Checkpoint)]
    assert len(writers) == 1 and cal.callbacks[-1] is writers[0]
    model = cal.fit()
    last = checkpoint_path(str(tmp_path), "calibration-", "last")
    best = checkpoint_path(str(tmp_path), "calibration-", "best")
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in (best, last))
    assert writers[0].last_path == last and writers[0].best_path == best
    with open(last, "rb") as f_last, open(best, "rb") as f_best:
        assert f_last.read() == f_best.read()

    state = torch.load(last, weights_only=True)
    # the schema of every stage's checkpoint (hat.engine.train_state)
    trainer_dir = tmp_path / "trainer"
    cfg = Config.fromfile(TOY_CONFIG)
    toy = cfg["ToyModel"]()
    Trainer(
        model=toy,
        data_loader=[{"x": torch.randn(4, 8), "y": torch.randn(4)}],
        optimizer=torch.optim.SGD(toy.parameters(), lr=0.1),
        batch_processor=BasicBatchProcessor(loss_collector=cfg["loss_collector"]),
        device="cpu",
        num_epochs=1,
        callbacks=[Checkpoint(save_dir=str(trainer_dir))],
    ).fit()
    trainer_state = torch.load(trainer_dir / "calibration-checkpoint-last.pth.tar",
                               weights_only=True)  # fmt: skip
    assert set(state) == set(trainer_state)
    assert state["step"] == NUM_STEPS and state["optimizer"] is None
    assert state["meta"]["stage"] == "calibration"
    expected = model.state_dict()
    assert list(state["state_dict"]) == list(expected)
    for key, value in expected.items():  # saved after the switch to VALIDATION
        assert torch.equal(state["state_dict"][key], value.cpu()), key

    # the next stage reads it with LoadCheckpoint into a freshly prepared model
    fresh = LoadCheckpoint(best)(pipeline()(float_model()))
    set_fake_quantize(fresh, FakeQuantState.VALIDATION)
    fresh.eval()
    x = {"img": torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(5))}
    with torch.no_grad():
        assert torch.equal(fresh(x), copy.deepcopy(model).cpu()(x))


def test_bad_input_is_reported():
    with pytest.raises(RuntimeError, match="not prepared"):
        Calibrator(float_model(), batches(), num_steps=1, device="cpu").fit()
    with pytest.raises(RuntimeError, match="yielded no batches"):
        Calibrator(
            float_model(), [], num_steps=1, device="cpu", model_convert_pipeline=pipeline()
        ).fit()
    with pytest.raises(ValueError, match="num_steps"):
        Calibrator(float_model(), batches(), num_steps=0)
