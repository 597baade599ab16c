"""LR schedule values: cosine with warmup by epoch/step, step decay, cyclic (one-cycle)."""

from __future__ import annotations

import math

import pytest
import torch

from hat.callbacks.lr_updater import CosLrUpdater, CyclicLrUpdater, StepDecayLrUpdater


def lrs(updater, steps_per_epoch, total_steps, base=1.0):
    updater.setup(steps_per_epoch, total_steps)
    return [updater.lr_at(s, s // steps_per_epoch, base) for s in range(total_steps)]


def test_cosine_without_warmup_is_half_cosine():
    values = lrs(CosLrUpdater(), 10, 100)
    assert values[0] == pytest.approx(1.0)
    assert values[50] == pytest.approx(0.5)
    assert values[25] == pytest.approx((1 + math.cos(math.pi * 0.25)) / 2)
    assert values[99] == pytest.approx((1 + math.cos(math.pi * 0.99)) / 2)


def test_cosine_with_warmup_by_epoch():
    values = lrs(CosLrUpdater(warmup_by="epoch", warmup_len=2, min_lr_ratio=0.1), 10, 100)
    # 2 epochs x 10 steps of linear warmup, reaching the base LR at the last warmup step
    assert values[:20] == pytest.approx([(s + 1) / 20 for s in range(20)])
    assert values[20] == pytest.approx(1.0)
    # then cosine from 1.0 to 0.1 over the remaining 80 steps
    assert values[60] == pytest.approx(0.1 + 0.9 * 0.5)
    assert min(values[20:]) > 0.1


def test_cosine_with_warmup_by_step_and_stop_lr():
    values = lrs(CosLrUpdater(warmup_by="step", warmup_len=5, stop_lr=0.0), 10, 30, base=0.2)
    assert values[:5] == pytest.approx([0.2 * (s + 1) / 5 for s in range(5)])
    assert values[5] == pytest.approx(0.2)
    assert values[5 + 25 // 2] == pytest.approx(0.2 * (1 + math.cos(math.pi * 12 / 25)) / 2)
    with pytest.raises(ValueError, match="not both"):
        CosLrUpdater(stop_lr=0.0, min_lr_ratio=0.1)


def test_step_decay_by_epoch_and_by_step():
    values = lrs(StepDecayLrUpdater(lr_decay_id=[2, 4], lr_decay_factor=0.1), 5, 30)
    assert values[9] == pytest.approx(1.0) and values[10] == pytest.approx(0.1)
    assert values[19] == pytest.approx(0.1) and values[20] == pytest.approx(0.01)
    by_step = lrs(StepDecayLrUpdater(lr_decay_id=[3], decay_by="step"), 5, 6)
    assert by_step == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1])


def test_step_decay_with_constant_warmup():
    updater = StepDecayLrUpdater(
        lr_decay_id=[10], warmup_len=2, warmup_by="step", warmup_mode="constant",
        warmup_begin_ratio=0.01,
    )  # fmt: skip
    assert lrs(updater, 5, 4) == pytest.approx([0.01, 0.01, 1.0, 1.0])


def test_cyclic_one_cycle():
    values = lrs(CyclicLrUpdater(target_ratio=(10, 1e-4), step_ratio_up=0.4), 10, 100)
    assert values[0] == pytest.approx(1.0)
    assert values[20] == pytest.approx(5.5)  # half way up: (1 + 10) / 2
    assert max(values) == pytest.approx(values[40]) and values[40] == pytest.approx(10.0)
    assert values[70] == pytest.approx(1e-4 + (10 - 1e-4) * 0.5)
    down = 1e-4 + (10 - 1e-4) / 2 * (1 + math.cos(math.pi * 59 / 60))
    assert values[99] == pytest.approx(down)


def test_updater_sets_group_lrs_from_initial_lr():
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(
        [{"params": [model.weight], "lr": 0.5}, {"params": [model.bias]}], lr=1.0
    )

    class Loop:
        steps_per_epoch, total_steps = 10, 100

    updater = CosLrUpdater()
    updater.on_loop_begin(loop=Loop(), optimizer=opt)
    updater.on_step_begin(optimizer=opt, global_step_id=50, epoch_id=5)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.25, 0.5])
    assert [g["initial_lr"] for g in opt.param_groups] == [0.5, 1.0]
