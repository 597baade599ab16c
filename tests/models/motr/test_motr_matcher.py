"""HungarianMatcher: hand-computed costs, optimal assignment, empty inputs, input checks."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from hat.models.task_modules.motr.matcher import HungarianMatcher


def _gt() -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.tensor([0, 0])
    boxes = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1]])
    return labels, boxes


def test_obvious_assignment_three_preds_two_gts() -> None:
    labels, gt_boxes = _gt()
    pred_boxes = torch.tensor(
        [
            [0.21, 0.2, 0.1, 0.1],  # on GT 1
            [0.9, 0.9, 0.05, 0.05],  # far from both
            [0.5, 0.52, 0.2, 0.2],  # on GT 0
        ]
    )
    logits = torch.zeros(3, 1)
    pred_idx, gt_idx = HungarianMatcher()(logits, pred_boxes, labels, gt_boxes)
    assert pred_idx.dtype == torch.long and gt_idx.dtype == torch.long
    assert pred_idx.tolist() == [0, 2]
    assert gt_idx.tolist() == [1, 0]


def test_cost_of_one_pair_by_hand() -> None:
    # pred (0.5, 0.5, 0.2, 0.2) = xyxy (0.4, 0.4, 0.6, 0.6); GT (0.6, 0.5, 0.2, 0.2) =
    # (0.5, 0.4, 0.7, 0.6): L1 = 0.1, inter 0.02, union 0.06, IoU 1/3, enclosing 0.06 -> GIoU 1/3.
    # logit 0 -> p = 0.5: pos = 0.25 * 0.25 * ln 2, neg = 0.75 * 0.25 * ln 2.
    matcher = HungarianMatcher(cost_class=2.0, cost_bbox=5.0, cost_giou=2.0)
    cost = matcher.cost_matrix(
        torch.zeros(1, 1),
        torch.tensor([[0.5, 0.5, 0.2, 0.2]]),
        torch.tensor([0]),
        torch.tensor([[0.6, 0.5, 0.2, 0.2]]),
    )
    ln2 = math.log(2.0)
    cls = 0.25 * 0.25 * ln2 - 0.75 * 0.25 * ln2
    expected = 2.0 * cls + 5.0 * 0.1 + 2.0 * (-1.0 / 3.0)
    assert cost.shape == (1, 1)
    assert cost.item() == pytest.approx(expected, abs=1e-6)


def test_class_cost_uses_the_gt_label_column() -> None:
    # Two classes: the class cost of a GT reads the logit of its own label.
    matcher = HungarianMatcher(cost_class=1.0, cost_bbox=0.0, cost_giou=0.0)
    logits = torch.tensor([[3.0, -3.0]])
    box = torch.tensor([[0.5, 0.5, 0.2, 0.2]])
    cost = matcher.cost_matrix(logits, box, torch.tensor([0, 1]), box.repeat(2, 1))
    p = torch.sigmoid(logits)[0]
    expected = [
        0.25 * (1 - q) ** 2 * -math.log(q) - 0.75 * q**2 * -math.log(1 - q) for q in p.tolist()
    ]
    assert cost[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_assignment_is_optimal_against_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    matcher = HungarianMatcher()
    for n, m in ((4, 3), (3, 4), (5, 5)):
        logits = torch.randn(n, 2, generator=gen)
        boxes = torch.rand(n, 4, generator=gen) * 0.4 + 0.1
        labels = torch.randint(0, 2, (m,), generator=gen)
        gt = torch.rand(m, 4, generator=gen) * 0.4 + 0.1
        cost = matcher.cost_matrix(logits, boxes, labels, gt)
        pred_idx, gt_idx = matcher(logits, boxes, labels, gt)
        assert len(pred_idx) == min(n, m)
        assert pred_idx.tolist() == sorted(pred_idx.tolist())
        found = cost[pred_idx, gt_idx].sum().item()
        if n >= m:
            best = min(
                sum(cost[p, g].item() for g, p in enumerate(perm))
                for perm in itertools.permutations(range(n), m)
            )
        else:
            best = min(
                sum(cost[p, g].item() for p, g in enumerate(perm))
                for perm in itertools.permutations(range(m), n)
            )
        assert found == pytest.approx(best, abs=1e-5)


@pytest.mark.parametrize("n,m", [(0, 2), (3, 0), (0, 0)])
def test_empty_predictions_or_gts(n: int, m: int) -> None:
    pred_idx, gt_idx = HungarianMatcher()(
        torch.zeros(n, 1), torch.rand(n, 4), torch.zeros(m, dtype=torch.long), torch.rand(m, 4)
    )
    assert pred_idx.shape == (0,) and gt_idx.shape == (0,)
    assert pred_idx.dtype == torch.long and gt_idx.dtype == torch.long


def test_indices_carry_no_gradient() -> None:
    labels, gt_boxes = _gt()
    logits = torch.zeros(3, 1, requires_grad=True)
    boxes = torch.rand(3, 4, requires_grad=True)
    pred_idx, gt_idx = HungarianMatcher()(logits, boxes, labels, gt_boxes)
    assert not pred_idx.requires_grad and not gt_idx.requires_grad


def test_shape_errors_name_the_input() -> None:
    matcher = HungarianMatcher()
    labels, gt_boxes = _gt()
    with pytest.raises(ValueError, match="pred_boxes"):
        matcher(torch.zeros(3, 1), torch.rand(2, 4), labels, gt_boxes)
    with pytest.raises(ValueError, match="gt_boxes"):
        matcher(torch.zeros(3, 1), torch.rand(3, 4), labels, gt_boxes[:1])
    with pytest.raises(ValueError, match="gt_labels"):
        matcher(torch.zeros(3, 1), torch.rand(3, 4), torch.tensor([0, 1]), gt_boxes)
    with pytest.raises(ValueError, match="NaN"):
        matcher(torch.full((3, 1), float("nan")), torch.rand(3, 4), labels, gt_boxes)
