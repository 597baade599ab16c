"""Top-down picture of a BEV model's prediction: the map classes on their grid inside the whole
detection range, with the box footprints (ground truth solid, predictions dashed) and the ego.

Ego x points up and ego y to the left (as in :func:`hat.visualize.nuscenes_plot.bev_plot`); the
picture covers ``[-x_range, x_range] x [-y_range, y_range]`` metres at ``px_per_m`` pixels per
metre, pixel centres at integers. The map raster (rows along ego y, columns along ego x, the
``map_size`` grid of ``BevSegDecoder.post_process``) fills its own rectangle; the area outside the
map grid is mid grey (``OUTSIDE_MAP``), so "no map prediction" is not read as "others".
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from hat.visualize.nuscenes_boxes import box_corners
from hat.visualize.nuscenes_plot import CLASS_COLORS, MAP_COLORS

__all__ = ["bev_canvas_pixel", "bev_prediction_plot", "draw_footprints"]

OUTSIDE_MAP = (96, 96, 96)
EGO_COLOR = (255, 255, 255)


def bev_canvas_pixel(xy: np.ndarray, extent: Sequence[float], px_per_m: float) -> np.ndarray:
    """Picture ``(col, row)`` of ego-frame ``(x, y)`` points (``(..., 2)``) in a picture of
    ``extent = (x_range, y_range)`` metres (x up, y left) at ``px_per_m``."""
    x_range, y_range = (float(v) for v in extent[:2])
    xy = np.asarray(xy, dtype=np.float64)
    col = (y_range - xy[..., 1]) * px_per_m - 0.5
    row = (x_range - xy[..., 0]) * px_per_m - 0.5
    return np.stack([col, row], axis=-1)


def _picture_size(extent: Sequence[float], px_per_m: float) -> tuple[int, int]:
    x_range, y_range = (float(v) for v in extent[:2])
    return round(2 * x_range * px_per_m), round(2 * y_range * px_per_m)


def _segment(img: np.ndarray, p0, p1, color, thickness: int, dashed: bool) -> None:
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    if not dashed:
        a, b = (tuple(int(v) for v in np.round(p)) for p in (p0, p1))
        cv2.line(img, a, b, color, thickness, cv2.LINE_8)
        return
    length = max(float(np.hypot(*(p1 - p0))), 1e-9)
    for start in np.arange(0.0, length, 8.0):  # 4 px dashes, 4 px gaps
        a = p0 + (p1 - p0) * (start / length)
        b = p0 + (p1 - p0) * (min(start + 4.0, length) / length)
        _segment(img, a, b, color, thickness, False)


def draw_footprints(
    img: np.ndarray,
    boxes: np.ndarray,
    labels: Sequence[int],
    extent: Sequence[float],
    px_per_m: float,
    dashed: bool = False,
    thickness: int = 1,
) -> None:
    """Draw the bottom faces of ego-frame ``(N, >=7)`` boxes into ``img`` in their class
    colours, the front edge twice as thick (in place)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 9) if len(boxes) else np.zeros((0, 9))
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(boxes):
        raise ValueError(f"draw_footprints: {len(boxes)} boxes but {len(labels)} labels")
    for corners, label in zip(box_corners(boxes), labels):
        color = CLASS_COLORS[int(label)] if 0 <= int(label) < len(CLASS_COLORS) else EGO_COLOR
        foot = bev_canvas_pixel(corners[[0, 1, 5, 4], :2], extent, px_per_m)
        for i in range(4):
            _segment(img, foot[i], foot[(i + 1) % 4], color, thickness, dashed)
        _segment(img, foot[0], foot[1], color, thickness + 1, dashed)  # the front edge


def bev_prediction_plot(
    seg: np.ndarray | None,
    map_size: Sequence[float],
    extent: Sequence[float] | None = None,
    pred_boxes: np.ndarray | None = None,
    pred_labels: Sequence[int] | None = None,
    gt_boxes: np.ndarray | None = None,
    gt_labels: Sequence[int] | None = None,
    px_per_m: float = 6.0,
    map_colors: Sequence[Sequence[int]] = MAP_COLORS,
) -> np.ndarray:
    """The ``(round(2 x_range px_per_m), round(2 y_range px_per_m), 3)`` uint8 RGB top view.

    Args:
        seg: ``(rows, cols)`` map class ids on the ``map_size = (lateral_half_m, forward_half_m,
            res_m)`` grid (row i <-> ego y = -lateral + (i + 0.5) res, col j <-> ego x); None:
            no map.
        extent: ``(x_range, y_range)`` half-sizes in metres of the picture (default: the map's).
        pred_boxes, pred_labels: ``(N, 9)`` ego-frame boxes drawn dashed; gt_*: drawn solid.
    """
    lateral, forward, res = (float(v) for v in map_size)
    if extent is None:
        extent = (forward, lateral)
    height, width = _picture_size(extent, px_per_m)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = OUTSIDE_MAP
    if seg is not None:
        seg = np.asarray(seg)
        rows, cols = round(2 * lateral / res), round(2 * forward / res)
        if seg.shape != (rows, cols):
            raise ValueError(
                f"bev_prediction_plot: seg has shape {seg.shape}, map_size {tuple(map_size)} "
                f"needs {(rows, cols)}"
            )
        lut = np.array(
            [tuple(c) for c in map_colors] + [(255, 255, 255)] * (256 - len(map_colors)),
            np.uint8,
        )
        turned = lut[np.clip(seg, 0, 255).astype(np.uint8)].transpose(1, 0, 2)[::-1, ::-1]
        # the map rectangle's pixel span: x in [-forward, forward] -> rows, y -> cols
        (c0, r0), (c1, r1) = bev_canvas_pixel(
            np.array([[forward, lateral], [-forward, -lateral]]), extent, px_per_m
        ) + np.array([[0.5, 0.5], [0.5, 0.5]])
        r0, r1, c0, c1 = (int(round(v)) for v in (r0, r1, c0, c1))
        patch = cv2.resize(
            np.ascontiguousarray(turned), (c1 - c0, r1 - r0), interpolation=cv2.INTER_NEAREST
        )
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r1, height), min(c1, width)
        if rr1 > rr0 and cc1 > cc0:
            img[rr0:rr1, cc0:cc1] = patch[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
    for boxes, labels, dashed in ((gt_boxes, gt_labels, False), (pred_boxes, pred_labels, True)):
        if boxes is not None and len(boxes):
            labels = np.zeros(len(boxes), np.int64) if labels is None else labels
            draw_footprints(img, boxes, labels, extent, px_per_m, dashed=dashed)
    ego = bev_canvas_pixel(np.array([[2.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]]), extent, px_per_m)
    cv2.fillPoly(img, [np.round(ego).astype(np.int32)], EGO_COLOR)
    return img
