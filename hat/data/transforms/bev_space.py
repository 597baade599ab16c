"""Shared helpers of the BEV-space augmentations (``BevRotate``, ``BevFlip``).

They move the whole scene about the ego origin by a 2x2 linear map ``L`` of the ground plane
(a rotation about z or a mirror), applied to:

- ``gt_boxes`` ``(N, 9)`` ``x, y, z, w, l, h, yaw, vx, vy`` in the ego frame: the centre and the
  velocity are multiplied by ``L``, the heading vector ``(cos yaw, sin yaw)`` too (a mirrored box
  is the box with the mirrored centre and heading; sizes are unchanged);
- ``gt_seg_mask`` ``(H, W)``: the HDMapNet grid (rows = ego y, columns = ego x, the ego origin at
  the canvas centre ``((W - 1) / 2, (H - 1) / 2)``, one resolution on both axes), resampled with
  nearest neighbour; cells that come from outside the grid become 0 (others);
- ``bev_aug`` ``(4, 4)``: the accumulated map from the original ego frame to the augmented one
  (``bev_aug <- [[L, 0], [0, 1]] @ bev_aug``, identity when absent). The model's view transform
  samples the images at ``inv(bev_aug) @ cell`` to see the same augmented scene.

Global-frame keys (``gt_boxes_global``, ``ego2global``) are left as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["apply_bev_map", "check_bev_size"]


def check_bev_size(bev_size: Sequence[float], who: str) -> tuple[float, float, float]:
    """``(x_range_m, y_range_m, resolution_m)`` of the model's BEV grid, all > 0."""
    values = tuple(float(v) for v in bev_size)
    if len(values) != 3 or min(values) <= 0:
        raise ValueError(
            f"{who}: bev_size must be (x_range_m, y_range_m, resolution_m) > 0, got {bev_size!r}"
        )
    return values


def _transform_boxes(boxes: np.ndarray, lin: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] < 9:
        raise ValueError(
            f"gt_boxes must be (N, 9) x, y, z, w, l, h, yaw, vx, vy, got {boxes.shape}"
        )
    out = boxes.copy()
    out[:, 0:2] = boxes[:, 0:2] @ lin.T
    heading = np.stack([np.cos(boxes[:, 6]), np.sin(boxes[:, 6])], axis=1) @ lin.T
    out[:, 6] = np.arctan2(heading[:, 1], heading[:, 0])
    out[:, 7:9] = boxes[:, 7:9] @ lin.T
    return out


def _warp_mask(mask: np.ndarray, lin: np.ndarray) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise TypeError(
            f"gt_seg_mask must be an (H, W) numpy array, got {getattr(mask, 'shape', type(mask))}"
        )
    h, w = mask.shape
    if np.array_equal(np.abs(lin), np.eye(2)):  # mirrors: exact index reversal
        out = mask[:, ::-1] if lin[0, 0] < 0 else mask
        return np.ascontiguousarray(out[::-1] if lin[1, 1] < 0 else out)
    if mask.min(initial=0) < 0 or mask.max(initial=0) > 255:
        raise ValueError("gt_seg_mask: class ids must be in 0..255 to be resampled")
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    fwd = np.concatenate([lin, (centre - lin @ centre)[:, None]], axis=1)
    warped = cv2.warpAffine(
        mask.astype(np.uint8), fwd, (w, h), flags=cv2.INTER_NEAREST, borderValue=0
    )
    return warped.astype(mask.dtype)


def apply_bev_map(sample: dict, lin: np.ndarray) -> dict:
    """A new sample with the ground-plane map ``lin`` (2x2) applied to boxes, map and
    ``bev_aug``."""
    lin = np.asarray(lin, dtype=np.float64)
    out = dict(sample)
    if "gt_boxes" in sample:
        out["gt_boxes"] = _transform_boxes(sample["gt_boxes"], lin)
    if "gt_seg_mask" in sample:
        out["gt_seg_mask"] = _warp_mask(sample["gt_seg_mask"], lin)
    step = np.eye(4)
    step[:2, :2] = lin
    prev = np.asarray(sample.get("bev_aug", np.eye(4)), dtype=np.float64)
    if prev.shape != (4, 4):
        raise ValueError(f"sample['bev_aug'] must be 4x4, got {prev.shape}")
    out["bev_aug"] = step @ prev
    return out
