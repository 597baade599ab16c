"""``HungarianMatcher``: one-to-one assignment of predicted boxes to ground truths (one frame)."""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment

from hat.models.task_modules.motr.box_ops import box_cxcywh_to_xyxy, generalized_box_iou
from hat.registry import OBJECT_REGISTRY

__all__ = ["HungarianMatcher"]


@OBJECT_REGISTRY.register
class HungarianMatcher:
    """Deformable DETR's / MOTR's bipartite matcher for the queries and GTs of one frame.

    The cost of giving prediction ``i`` the ground truth ``j`` (label ``l_j``, box ``b_j``) is::

        cost_class * (pos(p_il) - neg(p_il)) + cost_bbox * |box_i - b_j|_1
            + cost_giou * -GIoU(xyxy(box_i), xyxy(b_j))

    with ``p = sigmoid(logits)``, ``pos(p) = alpha (1 - p)^gamma (-log p)`` and
    ``neg(p) = (1 - alpha) p^gamma (-log(1 - p))`` (the focal loss of the positive target minus
    that of the negative one), and the L1 distance on normalised ``(cx, cy, w, h)``.

    Args:
        cost_class, cost_bbox, cost_giou: weights of the three costs.
        focal_alpha, focal_gamma: focal parameters of the class cost.
    """

    def __init__(
        self,
        cost_class: float = 2.0,
        cost_bbox: float = 5.0,
        cost_giou: float = 2.0,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
    ) -> None:
        self.cost_class = float(cost_class)
        self.cost_bbox = float(cost_bbox)
        self.cost_giou = float(cost_giou)
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)

    @torch.no_grad()
    def cost_matrix(
        self,
        pred_logits: torch.Tensor,
        pred_boxes: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_boxes: torch.Tensor,
    ) -> torch.Tensor:
        """The ``(N, M)`` float32 matching cost of ``N`` predictions against ``M`` GTs."""
        _check_inputs(pred_logits, pred_boxes, gt_labels, gt_boxes)
        prob = pred_logits.detach().float().sigmoid()
        alpha, gamma = self.focal_alpha, self.focal_gamma
        neg = (1 - alpha) * prob.pow(gamma) * -(1 - prob + 1e-8).log()
        pos = alpha * (1 - prob).pow(gamma) * -(prob + 1e-8).log()
        labels = gt_labels.long().to(prob.device)
        cost_class = pos[:, labels] - neg[:, labels]
        boxes = pred_boxes.detach().float()
        targets = gt_boxes.detach().float().to(boxes.device)
        cost_bbox = torch.cdist(boxes, targets, p=1)
        cost_giou = -generalized_box_iou(box_cxcywh_to_xyxy(boxes), box_cxcywh_to_xyxy(targets))
        cost = self.cost_class * cost_class + self.cost_bbox * cost_bbox
        return cost + self.cost_giou * cost_giou

    @torch.no_grad()
    def __call__(
        self,
        pred_logits: torch.Tensor,
        pred_boxes: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_boxes: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Match ``pred_logits (N, C)``, ``pred_boxes (N, 4)`` to ``gt_labels (M,)``,
        ``gt_boxes (M, 4)``.

        Returns ``(pred_idx, gt_idx)``: long tensors of ``min(N, M)`` pairs on the predictions'
        device, sorted by ``pred_idx``; empty when ``N == 0`` or ``M == 0``.
        """
        _check_inputs(pred_logits, pred_boxes, gt_labels, gt_boxes)
        device = pred_boxes.device
        if pred_logits.shape[0] == 0 or gt_labels.shape[0] == 0:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return empty, empty.clone()
        cost = self.cost_matrix(pred_logits, pred_boxes, gt_labels, gt_boxes)
        if not torch.isfinite(cost).all():
            raise ValueError(
                "HungarianMatcher: the cost matrix has NaN/inf entries "
                "(non-finite pred_logits or pred_boxes / gt_boxes?)"
            )
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        return (
            torch.as_tensor(rows, dtype=torch.long, device=device),
            torch.as_tensor(cols, dtype=torch.long, device=device),
        )

    def __repr__(self) -> str:
        return (
            f"HungarianMatcher(cost_class={self.cost_class}, cost_bbox={self.cost_bbox}, "
            f"cost_giou={self.cost_giou}, focal_alpha={self.focal_alpha}, "
            f"focal_gamma={self.focal_gamma})"
        )


def _check_inputs(
    pred_logits: torch.Tensor,
    pred_boxes: torch.Tensor,
    gt_labels: torch.Tensor,
    gt_boxes: torch.Tensor,
) -> None:
    if pred_logits.dim() != 2:
        raise ValueError(
            f"HungarianMatcher: pred_logits must be (N, C), got {tuple(pred_logits.shape)}"
        )
    if pred_boxes.dim() != 2 or pred_boxes.shape[-1] != 4:
        raise ValueError(
            f"HungarianMatcher: pred_boxes must be (N, 4), got {tuple(pred_boxes.shape)}"
        )
    if pred_boxes.shape[0] != pred_logits.shape[0]:
        raise ValueError(
            f"HungarianMatcher: pred_boxes has {pred_boxes.shape[0]} rows, "
            f"pred_logits {pred_logits.shape[0]}"
        )
    if gt_labels.dim() != 1:
        raise ValueError(f"HungarianMatcher: gt_labels must be (M,), got {tuple(gt_labels.shape)}")
    if gt_boxes.dim() != 2 or gt_boxes.shape[-1] != 4:
        raise ValueError(f"HungarianMatcher: gt_boxes must be (M, 4), got {tuple(gt_boxes.shape)}")
    if gt_boxes.shape[0] != gt_labels.shape[0]:
        raise ValueError(
            f"HungarianMatcher: gt_boxes has {gt_boxes.shape[0]} rows, gt_labels "
            f"{gt_labels.shape[0]}"
        )
    if gt_labels.numel() and (
        int(gt_labels.min()) < 0 or int(gt_labels.max()) >= pred_logits.shape[1]
    ):
        raise ValueError(
            f"HungarianMatcher: gt_labels must lie in [0, {pred_logits.shape[1]}), got "
            f"{gt_labels.tolist()}"
        )
