"""CrossEntropyLossV2: hand-computed weighted softmax CE, torch equality, the sigmoid path."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hat.models.losses.cross_entropy_loss import CrossEntropyLossV2

W = [1.0, 5.0, 5.0, 5.0]


def _tiny() -> tuple[torch.Tensor, torch.Tensor]:
    # three pixels: class 0, class 2, ignored
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0]])
    return logits.view(1, 4, 1, 3), torch.tensor([[[0, 2, -1]]])


def test_weighted_mean_equals_hand_computation():
    pred, target = _tiny()
    loss = CrossEntropyLossV2("decode", "mean", -1, False, W)(pred, target)["decode"]
    l0 = math.log(math.exp(2) + 3) - 2  # -log softmax(2, 0, 0, 0)[0]
    l1 = math.log(1 + math.e + math.exp(3) + 1) - 3  # -log softmax(0, 1, 3, 0)[2]
    hand = (1.0 * l0 + 5.0 * l1) / (1.0 + 5.0)
    assert loss.item() == pytest.approx(hand, rel=1e-6)
    assert loss.item() == pytest.approx(0.232624, abs=1e-6)
    ref = F.cross_entropy(pred, target, weight=torch.tensor(W), ignore_index=-1)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    total = CrossEntropyLossV2("d", "sum", -1, False, W, loss_weight=2.0)(pred, target)["d"]
    assert total.item() == pytest.approx(2.0 * (l0 + 5.0 * l1), rel=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, W, 2.0])
def test_softmax_equals_torch_cross_entropy(reduction, weight):
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 4, 5, 7, generator=g, requires_grad=True)
    target = torch.randint(-1, 4, (2, 5, 7), generator=g)
    loss = CrossEntropyLossV2(None, reduction, -1, False, weight)(pred, target)
    w = None if weight is None else torch.tensor(weight if isinstance(weight, list) else [2.0] * 4)
    ref = F.cross_entropy(pred, target, weight=w, ignore_index=-1, reduction=reduction)
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-7)
    (ga,) = torch.autograd.grad(loss.sum(), pred)
    (gb,) = torch.autograd.grad(ref.sum(), pred)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-8)


def test_sigmoid_is_bce_on_one_hot_targets():
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(2, 4, 3, 5, generator=g)
    target = torch.randint(0, 4, (2, 3, 5), generator=g)
    onehot = F.one_hot(target, 4).permute(0, 3, 1, 2).float()
    loss = CrossEntropyLossV2("bce", "mean", -1, True, 2.0)(pred, target)["bce"]
    ref = 2.0 * F.binary_cross_entropy_with_logits(pred, onehot)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    loss_w = CrossEntropyLossV2(None, "sum", -1, True, W)(pred, target)
    ref_w = F.binary_cross_entropy_with_logits(
        pred, onehot, weight=torch.tensor(W).view(1, 4, 1, 1), reduction="sum"
    )
    assert loss_w.item() == pytest.approx(ref_w.item(), rel=1e-6)
    # ignored pixels drop out of sum and count
    target_ign = target.clone()
    target_ign[:, 0] = -1
    loss_ign = CrossEntropyLossV2(None, "mean", -1, True)(pred, target_ign)
    ref_ign = F.binary_cross_entropy_with_logits(pred[:, :, 1:], onehot[:, :, 1:])
    assert loss_ign.item() == pytest.approx(ref_ign.item(), rel=1e-6)


def test_all_ignored_gives_zero_not_nan():
    pred = torch.randn(1, 4, 2, 2, requires_grad=True)
    target = torch.full((1, 2, 2), -1)
    for sig in (False, True):
        loss = CrossEntropyLossV2(None, "mean", -1, sig, W)(pred, target)
        assert loss.item() == 0.0
        loss.backward()


def test_bad_input_names_the_problem():
    pred = torch.zeros(1, 4, 2, 2)
    with pytest.raises(ValueError, match="class_weight has 3 entries for 4 classes"):
        CrossEntropyLossV2(class_weight=[1, 2, 3])(pred, torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="target ids must be in 0..3"):
        CrossEntropyLossV2()(pred, torch.full((1, 2, 2), 4))
    with pytest.raises(ValueError, match="does not match pred"):
        CrossEntropyLossV2()(pred, torch.zeros(1, 3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction must be one of"):
        CrossEntropyLossV2(reduction="avg")
    with pytest.raises(TypeError, match="class_weight must be None, a number"):
        CrossEntropyLossV2(class_weight="heavy")
