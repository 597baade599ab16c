"""GaussianFocalLoss and L1Loss against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from hat.models.losses.gaussian_focal_loss import GaussianFocalLoss
from hat.models.losses.l1_loss import L1Loss
from hat.registry import build_from_registry


def test_gaussian_focal_loss_hand_example():
    # one positive (y = 1, p = 0.8), two negatives (y = 0.5, p = 0.3), (y = 0, p = 0.1)
    pred = torch.tensor([0.8, 0.3, 0.1])
    target = torch.tensor([1.0, 0.5, 0.0])
    pos = -math.log(0.8) * 0.2**2
    neg1 = -math.log(0.7) * 0.3**2 * 0.5**4
    neg2 = -math.log(0.9) * 0.1**2 * 1.0
    loss = GaussianFocalLoss(alpha=2.0, gamma=4.0, loss_weight=2.0)(pred, target, avg_factor=1.0)
    assert loss.item() == pytest.approx(2.0 * (pos + neg1 + neg2), rel=1e-5)
    mean = GaussianFocalLoss()(pred, target)
    assert mean.item() == pytest.approx((pos + neg1 + neg2) / 3, rel=1e-5)
    # a confident prediction of a hard 0/1 target costs almost nothing
    hard = torch.tensor([1.0, 0.0, 0.0])
    assert GaussianFocalLoss()(hard.clamp(1e-4, 1 - 1e-4), hard, avg_factor=1).item() < 1e-8


def test_gaussian_focal_loss_registered_and_shape_check():
    loss = build_from_registry(dict(type="GaussianFocalLoss", loss_weight=1.0))
    assert isinstance(loss, GaussianFocalLoss)
    with pytest.raises(ValueError, match="pred \\(2,\\) and target \\(3,\\)"):
        loss(torch.zeros(2), torch.zeros(3))


def test_l1_loss_weighted_and_averaged():
    pred = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    target = torch.tensor([[0.0, 2.5], [3.0, 1.0]])
    weight = torch.tensor([[1.0, 0.2], [0.0, 1.0]])
    loss = build_from_registry(dict(type="L1Loss", loss_weight=0.25))
    assert isinstance(loss, L1Loss)
    expect = 0.25 * (1.0 * 1.0 + 0.2 * 0.5 + 0.0 + 1.0 * 2.0) / 2.0
    assert loss(pred, target, weight, avg_factor=2.0).item() == pytest.approx(expect)
    assert L1Loss()(pred, target).item() == pytest.approx((1 + 0.5 + 0 + 2) / 4)
