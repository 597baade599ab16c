"""Trainer/Predictor in one process: event order, stop_by, checkpoints, callbacks."""

from __future__ import annotations

import os

import pytest
import torch
from engine_test_helpers import TOY_CONFIG
from torch import nn

from hat.callbacks import (
    Checkpoint,
    CosLrUpdater,
    FreezeBNStatistics,
    GradClip,
    MetricUpdater,
    StatsMonitor,
    Validation,
)
from hat.engine import MultiBatchProcessor, Predictor, Trainer
from hat.engine.callback import EVENTS, CallbackMixin
from hat.metrics.loss_show import LossShow
from hat.registry import build_from_registry
from hat.utils.config import Config


class Recorder(CallbackMixin):
    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log

    def __getattribute__(self, attr):
        if attr in EVENTS:
            return lambda **kw: self.log.append((object.__getattribute__(self, "name"), attr, kw))
        return object.__getattribute__(self, attr)


for _event in EVENTS:  # make overrides_event() see every event as implemented
    setattr(Recorder, _event, lambda self, **kw: None)


@pytest.fixture()
def toy():
    cfg = Config.fromfile(TOY_CONFIG)
    return {name: cfg[name] for name in ("ToyModel", "ToyDataset", "MSEMetric", "loss_collector")}


def toy_update_val(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(batch["y"], model_outs)


def toy_update_loss(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(model_outs["losses"])


def make_loader(toy, size=8, batch_size=4, shuffle=True):
    return build_from_registry(
        dict(
            type=torch.utils.data.DataLoader,
            dataset=dict(type=toy["ToyDataset"], size=size),
            batch_size=batch_size,
            shuffle=shuffle,
        )
    )


def make_trainer(toy, callbacks, **kwargs):
    torch.manual_seed(0)
    defaults = dict(
        model=toy["ToyModel"](),
        data_loader=make_loader(toy),
        optimizer=build_from_registry(dict(type=torch.optim.SGD, lr=0.01)),
        batch_processor=MultiBatchProcessor(loss_collector=toy["loss_collector"]),
        device="cpu",
        num_epochs=1,
        callbacks=callbacks,
    )
    defaults.update(kwargs)
    return Trainer(**defaults)


def test_events_fire_in_documented_order_and_list_order(toy):
    log: list = []
    make_trainer(toy, [Recorder("a", log), Recorder("b", log)]).fit()
    events = [e for name, e, _ in log if name == "a"]
    step = [
        "on_step_begin", "on_batch_begin", "on_forward_begin", "on_forward_end",
        "on_backward_begin", "on_backward_end", "on_batch_end", "on_optimizer_step_begin",
        "on_step_end",
    ]  # fmt: skip
    expected = ["on_loop_begin", "on_epoch_begin", *step, *step, "on_epoch_end", "on_loop_end"]
    assert events == expected
    assert [name for name, _, _ in log] == ["a", "b"] * len(events)  # list order, per event
    kwargs = next(kw for n, e, kw in log if e == "on_step_end")
    for key in ("loop", "model", "optimizer", "epoch_id", "step_id", "global_step_id", "batch",
                "model_outs", "loss", "train_metrics", "val_metrics"):  # fmt: skip
        assert key in kwargs
    assert [kw["global_step_id"] for n, e, kw in log if e == "on_step_end" and n == "a"] == [0, 1]


def test_stop_by_step_stops_mid_epoch_without_epoch_end(toy):
    log: list = []
    trainer = make_trainer(
        toy, [Recorder("a", log)], stop_by="step", num_steps=3, num_epochs=None
    )
    trainer.fit()
    events = [e for _, e, _ in log]
    assert events.count("on_step_end") == 3
    assert events.count("on_epoch_begin") == 2 and events.count("on_epoch_end") == 1
    assert trainer.global_step_id == 3


def test_checkpoint_files_schema_and_best(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("HAT_TRAINING_STEP", "qat")
    val = Validation(
        data_loader=make_loader(toy, size=8, shuffle=False),
        batch_processor=MultiBatchProcessor(need_grad_update=False),
        callbacks=[
            MetricUpdater(
                metric_update_func=lambda ms, b, o: [m.update(b["y"], o) for m in ms],
                step_log_freq=0,
            )
        ],
    )
    ckpt = Checkpoint(save_dir=str(tmp_path), monitor_metric_key="mse", mode="min")
    trainer = make_trainer(
        toy,
        [CosLrUpdater(warmup_len=1, warmup_by="step"), StatsMonitor(log_freq=1), val, ckpt],
        num_epochs=2,
        val_metrics=[toy["MSEMetric"]()],
        train_metrics=[LossShow()],
    )
    trainer.fit()
    files = sorted(os.listdir(tmp_path))
    assert files == [
        "qat-checkpoint-best.pth.tar", "qat-checkpoint-epoch-0000.pth.tar",
        "qat-checkpoint-epoch-0001.pth.tar", "qat-checkpoint-last.pth.tar",
    ]  # fmt: skip
    state = torch.load(tmp_path / "qat-checkpoint-last.pth.tar", weights_only=True)
    assert set(state) >= {
        "state_dict", "optimizer", "callbacks", "epoch", "step", "progress", "sampler", "rng",
        "config", "meta", "batch_processor",
    }  # fmt: skip
    assert state["step"] == 4 and state["progress"]["epoch_finished"]
    assert state["meta"]["stage"] == "qat" and "mse" in state["meta"]["metric"]
    assert state["callbacks"]["Checkpoint#0"]["best_value"] == ckpt.best_value
    assert isinstance(state["rng"][0]["numpy"][1], list)
    assert trainer.val_results["mse"] > 0


def test_checkpoint_at_loop_end_only_with_last_as_best(toy, tmp_path):
    ckpt = Checkpoint(save_dir=str(tmp_path), interval_by=None, last_is_best=True)
    make_trainer(toy, [ckpt], num_epochs=2).fit()
    assert sorted(os.listdir(tmp_path)) == [
        "float-checkpoint-best.pth.tar", "float-checkpoint-last.pth.tar",
    ]  # fmt: skip
    last = (tmp_path / "float-checkpoint-last.pth.tar").read_bytes()
    assert (tmp_path / "float-checkpoint-best.pth.tar").read_bytes() == last
    assert torch.load(tmp_path / "float-checkpoint-last.pth.tar", weights_only=True)["step"] == 4
    with pytest.raises(ValueError, match="last_is_best"):
        Checkpoint(save_dir=str(tmp_path), monitor_metric_key="mse", last_is_best=True)
    with pytest.raises(ValueError, match="interval_by"):
        Checkpoint(save_dir=str(tmp_path), interval_by="iteration")


def test_resume_checkpoint_without_flags_loads_weights_only(toy, tmp_path):
    first = make_trainer(toy, [Checkpoint(save_dir=str(tmp_path))])
    first.fit()
    path = str(tmp_path / "float-checkpoint-last.pth.tar")
    second = make_trainer(toy, [], resume_checkpoint=path, num_epochs=1)
    second.prepare()
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    assert second.global_step_id == 0  # progress not restored


def test_model_convert_pipeline_runs_before_the_optimizer(toy):
    def add_head(model):
        model.extra = nn.Linear(1, 1)
        return model

    trainer = make_trainer(toy, [], model_convert_pipeline=add_head)
    trainer.prepare()
    optimized = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert id(trainer.model.extra.weight) in optimized


def test_grad_clip_and_frozen_bn_survive_validation(toy):
    class BNModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(8)
            self.lin = nn.Linear(8, 1)

        def forward(self, data):
            pred = self.lin(self.bn(data["x"])).squeeze(-1)
            if self.training:
                return {"losses": ((pred - data["y"]) ** 2).mean() * 1e6}
            return pred

    model = BNModel()
    val = Validation(
        data_loader=make_loader(toy, shuffle=False),
        batch_processor=MultiBatchProcessor(need_grad_update=False),
        interval_by="step",
    )
    seen_norms = []

    class NormProbe(CallbackMixin):
        def on_optimizer_step_begin(self, optimizer=None, **kw):
            grads = [p.grad for g in optimizer.param_groups for p in g["params"]]
            seen_norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))

    trainer = make_trainer(
        toy, [FreezeBNStatistics(), GradClip(max_norm=1.0), NormProbe(), val], model=model
    )
    trainer.fit()
    assert torch.equal(model.bn.running_mean, torch.zeros(8))  # statistics never updated
    assert not model.bn.training and model.lin.training  # modes restored after validation
    assert all(n <= 1.0 + 1e-5 for n in seen_norms)


def test_predictor_runs_a_list_of_loaders_and_computes_metrics(toy):
    metric = toy["MSEMetric"]()
    predictor = Predictor(
        model=toy["ToyModel"](),
        data_loader=[make_loader(toy, size=10, shuffle=False), make_loader(toy, size=6)],
        batch_processor=MultiBatchProcessor(need_grad_update=False),
        device="cpu",
        metrics=[metric],
        callbacks=[
            MetricUpdater(
                metric_update_func=lambda ms, b, o: [m.update(b["y"], o) for m in ms],
                step_log_freq=1,
            )
        ],
        log_interval=1,
    )
    predictor.fit()
    results = predictor.metric_results()
    assert metric.count.item() == 16 and results["mse"] > 0  # both loaders, one after the other
    assert len(predictor.data_loader) == 3 + 2 and len(predictor.data_loader.dataset) == 16


def test_tensorboard_writes_scalars(toy, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from hat.callbacks import TensorBoard

    class Probe(CallbackMixin):
        """What the loop computed, seen right before TensorBoard writes it."""

        def __init__(self) -> None:
            self.loss, self.lr, self.train, self.val = {}, {}, {}, {}

        def on_step_end(self, loop=None, global_step_id=0, loss=None, optimizer=None, **kw):
            self.loss[global_step_id + 1] = float(loss)
            self.lr[global_step_id + 1] = optimizer.param_groups[0]["lr"]

        def on_epoch_end(self, loop=None, train_metrics=None, **kw):
            step = loop.global_steps_done()
            self.train[step] = {k: v for m in train_metrics for k, v in m.get_dict().items()}
            self.val[loop.val_results_step] = dict(loop.val_results)

    probe = Probe()
    val = Validation(
        data_loader=make_loader(toy, size=8, shuffle=False),
        batch_processor=MultiBatchProcessor(need_grad_update=False),
        callbacks=[MetricUpdater(metric_update_func=toy_update_val, step_log_freq=0)],
    )
    tb = TensorBoard(save_dir=str(tmp_path / "tb"), update_freq=1)
    callbacks = [
        CosLrUpdater(warmup_len=1, warmup_by="step"),
        MetricUpdater(metric_update_func=toy_update_loss, step_log_freq=0, epoch_log_freq=0),
        val,
        probe,
        tb,
    ]
    make_trainer(
        toy, callbacks, num_epochs=2, train_metrics=[LossShow()], val_metrics=[toy["MSEMetric"]()]
    ).fit()

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = {tag: events.Scalars(tag) for tag in events.Tags()["scalars"]}
    assert sorted(scalars) == ["train/loss", "train/lr0", "train/mse", "val/mse"]

    def read(tag):
        return {e.step: e.value for e in scalars[tag]}

    def f32(values):  # event files store float32
        return {k: float(torch.tensor(v, dtype=torch.float32)) for k, v in values.items()}

    assert read("train/loss") == f32(probe.loss) and sorted(probe.loss) == [1, 2, 3, 4]
    assert read("train/lr0") == f32(probe.lr)
    # 1 warmup step, then cosine from 0.01 to 0 over the 3 other steps
    assert probe.lr == pytest.approx({1: 0.01, 2: 0.01, 3: 0.0075, 4: 0.0025}, abs=1e-12)
    assert read("train/mse") == f32({k: v["mse"] for k, v in probe.train.items()})
    assert read("val/mse") == f32({k: v["mse"] for k, v in probe.val.items()})
    assert sorted(read("train/mse")) == sorted(read("val/mse")) == [2, 4]  # epoch ends
