"""Non-finite losses, weights and metrics: the run stops with one line, the update of a bad step
is not applied, nothing non-finite is saved, NaN never becomes the best."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from engine_test_helpers import TOY_CONFIG, opts, run_tool
from toy_components import PoisonLoss, ToyDataset, ToyModel, loss_collector

from hat.callbacks import Checkpoint, MetricUpdater, Validation
from hat.engine import MultiBatchProcessor, Trainer
from hat.engine.callback import CallbackMixin
from hat.engine.finite_checks import NonFiniteLossError
from hat.metrics.metric import EvalMetric
from hat.utils.checkpoint import load_checkpoint


class WeightLog(CallbackMixin):
    """The weights after each step, by global step."""

    def __init__(self) -> None:
        self.after: dict[int, dict[str, torch.Tensor]] = {}

    def on_step_end(self, loop=None, global_step_id=0, **kwargs):
        state = loop.raw_model.state_dict()
        self.after[global_step_id] = {k: v.clone() for k, v in state.items()}


def toy_trainer(callbacks, patience=0, lr=0.02, num_epochs=1, device="cpu"):
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(ToyDataset(size=24), batch_size=4, shuffle=False)
    model = ToyModel()
    return Trainer(
        model=model,
        data_loader=loader,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9),
        batch_processor=MultiBatchProcessor(
            loss_collector=loss_collector, nonfinite_loss_patience=patience
        ),
        device=device,
        num_epochs=num_epochs,
        callbacks=callbacks,
    )


def test_first_nan_loss_stops_the_run_before_its_update():
    log = WeightLog()
    trainer = toy_trainer([PoisonLoss(steps=[2]), log])
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit()
    assert str(err.value) == (
        "training stopped: non-finite loss=nan at global step 2 (1 consecutive step(s), "
        "nonfinite_loss_patience=0); this step's update was not applied; lower the learning "
        "rate or check the data, then --resume from the last checkpoint"
    )
    assert sorted(log.after) == [0, 1]
    now = trainer.raw_model.state_dict()
    for key, value in log.after[1].items():  # step 2 changed nothing
        assert torch.equal(now[key], value)


def test_patience_skips_bad_steps_and_stops_after_one_more(caplog):
    log = WeightLog()
    trainer = toy_trainer([PoisonLoss(steps=[2, 3], value=math.inf), log], patience=2)
    with caplog.at_level(logging.WARNING, logger="hat.engine.finite_checks"):
        trainer.fit()  # two consecutive bad steps are within the patience
    assert "non-finite loss=inf at global step 2: update skipped (1 of" in caplog.text
    assert "at global step 3: update skipped (2 of nonfinite_loss_patience=2" in caplog.text
    for key, value in log.after[1].items():  # steps 2 and 3 were skipped
        assert torch.equal(log.after[3][key], value)
        assert not torch.equal(log.after[4][key], value)  # step 4 trained again
    assert all(torch.isfinite(v).all() for v in trainer.raw_model.state_dict().values())

    trainer = toy_trainer([PoisonLoss(steps=[1, 2, 3])], patience=2)
    with pytest.raises(NonFiniteLossError, match="global step 3 \\(3 consecutive step"):
        trainer.fit()


def test_a_finite_step_resets_the_count(caplog):
    trainer = toy_trainer([PoisonLoss(steps=[1, 3, 5])], patience=1)
    with caplog.at_level(logging.WARNING, logger="hat.engine.finite_checks"):
        trainer.fit()  # never two in a row: no error
    skipped = [r.getMessage() for r in caplog.records if "update skipped" in r.getMessage()]
    assert len(skipped) == 3
    assert all("(1 of nonfinite_loss_patience=1 consecutive steps)" in m for m in skipped)


def test_huge_lr_stops_the_tool_with_one_line_and_nothing_non_finite_saved(tmp_path):
    ckpt = tmp_path / "ckpt"
    run = run_tool(
        "train", "--config", TOY_CONFIG, *opts(ckpt_dir=str(ckpt), lr=1e25), cwd=str(tmp_path)
    )
    assert run.returncode == 1, run.stderr
    last_line = run.stderr.strip().splitlines()[-1]
    assert last_line.startswith("hat-train: error: training stopped: non-finite loss=")
    assert "Traceback" not in run.stderr
    for path in ckpt.glob("*.pth.tar"):
        state = load_checkpoint(str(path))
        assert all(torch.isfinite(v).all() for v in state["state_dict"].values()), path


class FlakyMSE(EvalMetric):
    """MSE, or NaN while ``nan`` is set."""

    def __init__(self) -> None:
        super().__init__("mse")
        self.nan = False
        self.add_state("sq", torch.tensor(0.0, dtype=torch.float64))
        self.add_state("n", torch.tensor(0.0, dtype=torch.float64))

    def update(self, target, preds):
        self.sq += ((preds.double() - target.double()) ** 2).sum()
        self.n += target.numel()

    def compute(self):
        return math.nan if self.nan else float(self.sq / self.n.clamp(min=1))


class NaNInFirstEpoch(CallbackMixin):
    def __init__(self, metric: FlakyMSE) -> None:
        self.metric = metric

    def on_epoch_begin(self, epoch_id=0, **kwargs):
        self.metric.nan = epoch_id == 0


def update_metric(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(batch["y"], model_outs)


def test_nan_metric_never_becomes_best(tmp_path, caplog):
    val_loader = torch.utils.data.DataLoader(ToyDataset(size=8, seed=1), batch_size=4)
    metric = FlakyMSE()
    updater = MetricUpdater(metric_update_func=update_metric, step_log_freq=100, epoch_log_freq=1)
    validation = Validation(
        data_loader=val_loader,
        batch_processor=MultiBatchProcessor(need_grad_update=False),
        callbacks=[updater],
        metrics=[metric],
        val_on_train_end=False,
    )
    ckpt = Checkpoint(save_dir=str(tmp_path), name_prefix="t-", monitor_metric_key="mse")
    trainer = toy_trainer([NaNInFirstEpoch(metric), validation, ckpt], num_epochs=2)
    with caplog.at_level(logging.WARNING, logger="hat.callbacks.checkpoint"):
        trainer.fit()
    assert "mse=nan is not finite: it cannot become the best" in caplog.text
    best = load_checkpoint(ckpt.best_path)
    assert best["epoch"] == 1 and math.isfinite(best["callbacks"]["Checkpoint#0"]["best_value"])
    assert ckpt.best_value == best["callbacks"]["Checkpoint#0"]["best_value"]

    fresh = Checkpoint(save_dir=str(tmp_path), monitor_metric_key="mse")
    fresh.load_state_dict({"best_value": math.nan, "best_step": 12})  # by an older version
    assert fresh.best_value is None and fresh.best_step is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_check_reads_the_count_before_saving_and_no_checkpoint_is_written(tmp_path):
    ckpt = Checkpoint(save_dir=str(tmp_path), name_prefix="t-", interval_by="step")
    trainer = toy_trainer([PoisonLoss(steps=[2]), ckpt], device="cuda")
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit()
    assert "non-finite loss at global step 2 (on CUDA" in str(err.value)
    assert "no checkpoint is written from there on" in str(err.value)
    assert load_checkpoint(ckpt.last_path)["step"] == 2  # the save after step 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_check_without_saves_stops_within_the_read_interval():
    trainer = toy_trainer([PoisonLoss(steps=[1])], device="cuda", num_epochs=5)  # 30 steps
    with pytest.raises(NonFiniteLossError, match="at 19 of the global steps 0-19"):
        trainer.fit()  # NaN weights from step 1 on: every later loss is NaN too
