"""Greedy NMS of CenterPoint's decoder: rotated-box BEV IoU NMS and circle (centre distance) NMS."""

from __future__ import annotations

import numpy as np
import torch

from hat.models.task_modules.centerpoint.rotated_iou import rotated_iou_pairs

__all__ = ["circle_nms", "rotate_nms"]


def _greedy(n: int, pairs: np.ndarray, post_max_size: int | None) -> list[int]:
    """Greedy suppression over boxes ``0..n-1`` sorted by descending score; ``pairs`` is a
    ``(P, 2)`` array of ``(i, j)``, ``i < j``, where a kept ``i`` suppresses ``j``."""
    neighbours: dict[int, list[int]] = {}
    for i, j in pairs.tolist():
        neighbours.setdefault(i, []).append(j)
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        if post_max_size is not None and len(keep) >= post_max_size:
            break
        suppressed[neighbours.get(i, [])] = True
    return keep


def _check(boxes: torch.Tensor, scores: torch.Tensor, cols: int, name: str) -> None:
    if boxes.dim() != 2 or boxes.shape[1] < cols or scores.shape != (len(boxes),):
        raise ValueError(
            f"{name} expects boxes (N, >={cols}) and scores (N,), got {tuple(boxes.shape)} and "
            f"{tuple(scores.shape)}"
        )


def rotate_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float,
    post_max_size: int | None = None,
) -> torch.Tensor:
    """Indexes (into ``boxes``, by descending score) of the boxes kept by greedy NMS on the
    rotated BEV IoU: a box is dropped when its IoU with a kept, higher-scored box is above
    ``iou_threshold``.

    ``boxes`` ``(N, >=7)`` in the ``gt_boxes`` layout (``x, y, z, w, l, h, yaw, ...``; only
    ``x, y, w, l, yaw`` are used). Only pairs whose circumscribed circles meet get an IoU.
    At most ``post_max_size`` boxes are kept.
    """
    _check(boxes, scores, 7, "rotate_nms")
    order = torch.argsort(scores.detach().cpu(), descending=True, stable=True)
    bev = boxes.detach().cpu().double()[order][:, [0, 1, 3, 4, 6]]
    n = len(bev)
    if n == 0:
        return order
    centres, radius = bev[:, :2], 0.5 * torch.hypot(bev[:, 2], bev[:, 3])
    near = torch.cdist(centres, centres) <= radius[:, None] + radius[None, :]
    i, j = torch.triu(near, diagonal=1).nonzero(as_tuple=True)
    iou = rotated_iou_pairs(bev[i], bev[j])
    over = iou > iou_threshold
    pairs = torch.stack([i[over], j[over]], 1).numpy()
    keep = _greedy(n, pairs, post_max_size)
    return order[torch.as_tensor(keep, dtype=torch.int64)]


def circle_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    min_radius: float,
    post_max_size: int | None = None,
) -> torch.Tensor:
    """CenterPoint's circle NMS: indexes (by descending score) of the boxes kept when a kept
    box drops every lower-scored box whose centre lies within ``dx^2 + dy^2 <= min_radius``.

    As in CenterPoint (``circle_nms(dets, thresh=min_radius)``), the threshold applies to the
    *squared* centre distance in m^2, so the recipe's ``min_radius`` values (e.g. 0.175 for
    pedestrians) are squared metres. ``boxes`` ``(N, >=2)`` (``x, y`` used).
    """
    _check(boxes, scores, 2, "circle_nms")
    order = torch.argsort(scores.detach().cpu(), descending=True, stable=True)
    xy = boxes.detach().cpu().double()[order][:, :2]
    n = len(xy)
    if n == 0:
        return order
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    i, j = torch.triu(d2 <= float(min_radius), diagonal=1).nonzero(as_tuple=True)
    keep = _greedy(n, torch.stack([i, j], 1).numpy(), post_max_size)
    return order[torch.as_tensor(keep, dtype=torch.int64)]
