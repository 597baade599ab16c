"""A calibration/QAT stage validates its starting point and hands it on when no epoch beats it."""

from __future__ import annotations

import pytest
import torch
from engine_test_helpers import TOY_CONFIG
from torch import nn

from hat.callbacks import Checkpoint, MetricUpdater, Validation
from hat.engine import MultiBatchProcessor, Trainer
from hat.engine.callback import CallbackMixin
from hat.quantization.fake_quantize import FakeQuantize, FakeQuantState, set_fake_quantize
from hat.quantization.qconfig import QuantSpec
from hat.registry import build_from_registry
from hat.utils.config import Config


@pytest.fixture()
def toy():
    cfg = Config.fromfile(TOY_CONFIG)
    return {name: cfg[name] for name in ("ToyModel", "ToyDataset", "MSEMetric", "loss_collector")}


class Sabotage(CallbackMixin):
    """Moves every weight away after each step: every epoch scores worse than the start."""

    def on_step_end(self, model=None, **kwargs):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.5)


class ValSteps(CallbackMixin):
    """Records the global step of every fresh validation result."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def _seen(self, loop) -> None:
        step = getattr(loop, "val_results_step", None)
        if step is not None and (not self.steps or self.steps[-1] != step):
            self.steps.append(step)

    def on_loop_begin(self, loop=None, **kwargs):
        self._seen(loop)

    def on_epoch_end(self, loop=None, **kwargs):
        self._seen(loop)


class FakeQuantToy(nn.Module):
    """The toy regressor with a fake quantizer on its input (a stand-in QAT model)."""

    def __init__(self, toy_model: nn.Module) -> None:
        super().__init__()
        self.fq = FakeQuantize(QuantSpec(dtype="uint8"))
        self.toy = toy_model

    def forward(self, data):
        return self.toy(dict(data, x=self.fq(data["x"])))


def run(toy, tmp_path, model, val_on_train_begin=None, sabotage=True):
    torch.manual_seed(0)
    loader = dict(type=torch.utils.data.DataLoader, dataset=dict(type=toy["ToyDataset"], size=8),
                  batch_size=4)  # fmt: skip
    val = Validation(
        data_loader=build_from_registry(loader),
        batch_processor=MultiBatchProcessor(need_grad_update=False),
        callbacks=[
            MetricUpdater(
                metric_update_func=lambda ms, b, o: [m.update(b["y"], o) for m in ms],
                step_log_freq=0,
            )
        ],
        val_on_train_begin=val_on_train_begin,
    )
    probe = ValSteps()
    ckpt = Checkpoint(save_dir=str(tmp_path), name_prefix="qat-", monitor_metric_key="mse",
                      mode="min", keep_epoch_files=False)  # fmt: skip
    callbacks = [val, probe, ckpt] + ([Sabotage()] if sabotage else [])
    start = {k: v.clone() for k, v in model.state_dict().items()}
    Trainer(
        model=model,
        data_loader=build_from_registry(loader),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        batch_processor=MultiBatchProcessor(loss_collector=toy["loss_collector"]),
        device="cpu",
        num_epochs=2,
        callbacks=callbacks,
        val_metrics=[toy["MSEMetric"]()],
    ).fit()
    best = torch.load(tmp_path / "qat-checkpoint-best.pth.tar", weights_only=True)
    return start, best, probe.steps, ckpt


def test_start_that_no_epoch_beats_is_the_best_file(toy, tmp_path):
    start, best, steps, ckpt = run(toy, tmp_path, toy["ToyModel"](), val_on_train_begin=True)
    assert steps == [0, 2, 4]  # start, then every epoch (2 steps each)
    assert best["step"] == 0 and ckpt.best_step == 0
    for key, value in start.items():
        assert torch.equal(best["state_dict"][key], value), key


def test_without_the_start_validation_a_worse_epoch_is_handed_on(toy, tmp_path):
    start, best, steps, ckpt = run(toy, tmp_path, toy["ToyModel"](), val_on_train_begin=False)
    assert steps == [2, 4] and best["step"] == 2
    assert not torch.equal(best["state_dict"]["net.0.weight"], start["net.0.weight"])


def test_default_validates_the_start_of_fake_quantized_models_only(toy, tmp_path):
    model = FakeQuantToy(toy["ToyModel"]())
    set_fake_quantize(model, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        model.eval()({"x": torch.randn(16, 8)})  # calibrate the input range
    set_fake_quantize(model.train(), FakeQuantState.QAT)
    _, best, steps, _ = run(toy, tmp_path / "qat", model)
    assert steps[0] == 0 and best["step"] == 0
    _, _, float_steps, _ = run(toy, tmp_path / "float", toy["ToyModel"]())
    assert float_steps == [2, 4]


def test_resumed_run_does_not_validate_the_start_again(toy, tmp_path):
    run(toy, tmp_path, toy["ToyModel"](), val_on_train_begin=True, sabotage=False)
    val = Validation(data_loader=[], batch_processor=None, val_on_train_begin=True)

    class Resumed:
        model = nn.Linear(1, 1)

        @staticmethod
        def global_steps_done():
            return 4

    val.on_loop_begin(loop=Resumed())  # would fail on the empty loader spec if it ran
    assert getattr(Resumed, "val_results", None) is None
