"""LnNormLoss on hand-computed cases."""

import pytest
import torch

from hat.models.losses import LnNormLoss


def _pair():
    pred = torch.zeros(1, 2, 1, 2)
    target = torch.tensor([[[[3.0, 0.0]], [[4.0, 1.0]]]])  # per-pixel diffs (3, 4) and (0, 1)
    return pred, target


def test_l2_mean_sum_none():
    pred, target = _pair()
    assert LnNormLoss()(pred, target).item() == pytest.approx(3.0)  # (5 + 1) / 2
    assert LnNormLoss(reduction="sum")(pred, target).item() == pytest.approx(6.0)
    none = LnNormLoss(reduction="none")(pred, target)
    torch.testing.assert_close(none, torch.tensor([[[5.0, 1.0]]]))


def test_l1_and_power():
    pred, target = _pair()
    assert LnNormLoss(norm_order=1)(pred, target).item() == pytest.approx(4.0)  # (7 + 1) / 2
    assert LnNormLoss(power=2)(pred, target).item() == pytest.approx(13.0)  # (25 + 1) / 2


def test_zero_error_has_finite_gradient():
    pred = torch.ones(1, 2, 3, 3, requires_grad=True)
    loss = LnNormLoss()(pred, torch.ones(1, 2, 3, 3))
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(pred.grad).all()


def test_errors():
    with pytest.raises(ValueError, match="reduction"):
        LnNormLoss(reduction="avg")
    with pytest.raises(ValueError, match="differ"):
        LnNormLoss()(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 3))
