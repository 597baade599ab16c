"""Greedy NMS of CenterPoint's decoder: rotated-box BEV IoU NMS and circle (centre distance) NMS.

Both run the textbook greedy suppression (visit boxes by descending score; keep a box unless a
kept, higher-scored one suppresses it) in batches of rows: each batch takes the next boxes not
yet suppressed (about as many as are still to keep, so ``post_max_size`` bounds the work) and
tests them against all boxes at once, vectorised. Circle NMS compares squared centre
distances. Rotate NMS first compares the boxes' circumscribed circles; only pairs whose
circles meet, and whose lower-scored box is still unsuppressed, get the polygon IoU, so many
heavily overlapping candidates (an undertrained model's) cost little more than the kept boxes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hat.models.task_modules.centerpoint.rotated_iou import rotated_iou_pairs

__all__ = ["circle_nms", "rotate_nms"]

# the polygon IoU is computed for at most about this many pairs at once
_PAIRS_PER_BATCH = 4096
# rows (boxes) tested per batch: the boxes still to keep, within these bounds
_MIN_ROWS, _MAX_ROWS = 16, 256

RowTest = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]


# the polygon IoU is computed for at most about this many pairs at once
_PAIRS_PER_BATCH = 4096
# rows (boxes) tested per batch: the boxes still to keep, within these bounds
_MIN_ROWS, _MAX_ROWS = 16, 256

RowTest = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]


def _check(boxes: torch.Tensor, scores: torch.Tensor, cols: int, name: str) -> None:
    if boxes.dim() != 2 or boxes.shape[1] < cols or scores.shape != (len(boxes),):
        raise ValueError(
            f"{name} expects boxes (N, >={cols}) and scores (N,), got {tuple(boxes.shape)} and "
            f"{tuple(scores.shape)}"
        )


def _sorted_cpu(
    boxes: torch.Tensor, scores: torch.Tensor, cols: list[int]
) -> tuple[torch.Tensor, np.ndarray]:
    """The score order (descending, stable) and the ``cols`` of the boxes in it (float64)."""
    order = torch.argsort(scores.detach().cpu(), descending=True, stable=True)
    return order, boxes.detach().cpu().double()[order][:, cols].numpy()


def _greedy(n: int, post_max_size: int | None, suppress_rows: RowTest) -> list[int]:
    """Greedy suppression over boxes ``0..n-1`` sorted by descending score, in batches of rows.

    ``suppress_rows(rows, suppressed)`` gets the next unsuppressed rows (ascending) and the
    current ``(n,)`` suppressed mask; it returns a leading part of ``rows`` (at least one) and
    their ``(len, n)`` boolean matrix: ``[r, j]`` when a kept ``rows[r]`` suppresses ``j > rows[r]``
    (entries for suppressed ``j`` or ``j <= rows[r]`` do not matter). Stops after
    ``post_max_size`` kept boxes (the first box is always kept)."""
    limit = n if post_max_size is None else max(1, int(post_max_size))
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    start = 0
    while start < n:
        want = min(max(limit - len(keep), _MIN_ROWS), _MAX_ROWS)
        rows = np.flatnonzero(~suppressed[start:])[:want] + start
        if len(rows) == 0:
            break
        rows, over = suppress_rows(rows, suppressed)
        for r, i in enumerate(rows.tolist()):
            if suppressed[i]:
                continue
            keep.append(i)
            if len(keep) >= limit:
                return keep
            suppressed |= over[r]
        start = int(rows[-1]) + 1
    return keep


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
    ``x, y, w, l, yaw`` are used). Only pairs whose circumscribed circles meet get an IoU, and
    only while the lower-scored box is unsuppressed. At most ``post_max_size`` boxes are kept.
    """
    _check(boxes, scores, 7, "rotate_nms")
    order, bev = _sorted_cpu(boxes, scores, [0, 1, 3, 4, 6])
    n = len(bev)
    if n == 0:
        return order
    x, y = bev[:, 0], bev[:, 1]
    radius = 0.5 * np.hypot(bev[:, 2], bev[:, 3])
    cols = np.arange(n)
    bev_t = torch.from_numpy(bev)

    def suppress_rows(rows: np.ndarray, suppressed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = x[rows, None] - x, y[rows, None] - y
        reach = radius[rows, None] + radius
        # circles meet; the relative margin only adds pairs that touch at most (IoU 0)
        near = dx * dx + dy * dy <= reach * reach * (1 + 1e-9)
        near &= (cols > rows[:, None]) & ~suppressed
        # as many rows as fit the pair budget, at least one
        per_row = np.cumsum(near.sum(1))
        count = max(1, int(np.searchsorted(per_row, _PAIRS_PER_BATCH, side="right")))
        rows, near = rows[:count], near[:count]
        r, j = np.nonzero(near)
        over = np.zeros((count, n), dtype=bool)
        if len(r):
            iou = rotated_iou_pairs(bev_t[rows[r]], bev_t[j]).numpy()
            hit = iou > iou_threshold
            over[r[hit], j[hit]] = True
        return rows, over

    keep = _greedy(n, post_max_size, suppress_rows)
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
    order, xy = _sorted_cpu(boxes, scores, [0, 1])
    n = len(xy)
    if n == 0:
        return order
    x, y = xy[:, 0], xy[:, 1]

    def suppress_rows(rows: np.ndarray, suppressed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = x[rows, None] - x, y[rows, None] - y
        return rows, dx * dx + dy * dy <= float(min_radius)

    keep = _greedy(n, post_max_size, suppress_rows)
    return order[torch.as_tensor(keep, dtype=torch.int64)]
