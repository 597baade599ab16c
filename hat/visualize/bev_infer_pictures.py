"""The pictures of one BEV inference: each camera view and the 2 x 3 camera grid with the 3D boxes
projected (predictions dashed, ground truth solid), the BEV plot of the predicted map classes and
boxes, the ground-truth BEV plot, and a panel of them all with a legend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from hat.data.readers.nuscenes_constants import DETECTION_CLASSES, NUSCENES_CAMERAS
from hat.visualize.bev_prediction import bev_prediction_plot
from hat.visualize.nuscenes_plot import CLASS_COLORS, MAP_COLORS, draw_boxes_on_view

__all__ = ["bev_infer_pictures", "legend_strip"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
MAP_NAMES = ("others", "divider", "ped_crossing", "boundary")


def _title(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.putText(out, text, (6, 18), _FONT, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, 18), _FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _fit_height(img: np.ndarray, height: int) -> np.ndarray:
    if img.shape[0] == height:
        return img
    width = max(1, round(img.shape[1] * height / img.shape[0]))
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def legend_strip(width: int, labels: Sequence[int]) -> np.ndarray:
    """A white strip naming the map classes' colours and those of the box classes in
    ``labels``, plus the line styles."""
    row = 20
    items: list[tuple[str, Sequence[int]]] = [(MAP_NAMES[i], MAP_COLORS[i]) for i in range(1, 4)]
    items += [(DETECTION_CLASSES[i], CLASS_COLORS[i]) for i in sorted({int(v) for v in labels})]
    items += [("GT solid, pred dashed", (255, 255, 255))]
    per_row = max(1, width // 170)
    n_rows = (len(items) + per_row - 1) // per_row
    out = np.full((row * n_rows + 6, width, 3), 255, np.uint8)
    for k, (name, color) in enumerate(items):
        r, c = divmod(k, per_row)
        x, y = 6 + c * 170, 4 + r * row
        cv2.rectangle(out, (x, y), (x + 14, y + 14), tuple(int(v) for v in color), -1)
        cv2.rectangle(out, (x, y), (x + 14, y + 14), (0, 0, 0), 1)
        cv2.putText(out, name, (x + 20, y + 12), _FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def bev_infer_pictures(
    sample: Mapping[str, Any],
    result: Mapping[str, Any],
    map_size: Sequence[float] = (15, 30, 0.15),
    extent: Sequence[float] | None = None,
    score_threshold: float = 0.3,
    view_width: int = 480,
    px_per_m: float = 6.0,
) -> dict[str, np.ndarray]:
    """``{name: RGB picture}`` of one inference.

    Args:
        sample: the input sample before transforms (``img`` list of ``(H, W, 3)`` uint8 RGB views,
            ``cam_names``, ``intrinsics``, ``sensor2ego``, optional ``gt_boxes``, ``gt_labels``,
            ``gt_seg_mask``); boxes are projected through ``intrinsics @ inv(sensor2ego)``.
        result: ``boxes`` ``(M, 9)`` ego frame, ``scores``, ``labels``, ``seg`` (map class ids
            or None).
        extent: the BEV plots' ``(x_range, y_range)`` in metres (default: the map grid's).

    Names: one per camera (the view at its size), ``cameras`` (2 x 3 grid, views scaled to
    ``view_width``), ``bev``, ``bev_gt`` (when the sample has ``gt_seg_mask`` or ``gt_boxes``) and
    ``panel``.
    """
    keep = np.asarray(result["scores"]) >= score_threshold
    pred_boxes = np.asarray(result["boxes"], np.float64).reshape(-1, 9)[keep]
    pred_labels = np.asarray(result["labels"]).reshape(-1)[keep]
    gt_boxes = sample.get("gt_boxes")
    gt_labels = sample.get("gt_labels")
    names = list(sample.get("cam_names", NUSCENES_CAMERAS))
    pictures: dict[str, np.ndarray] = {}
    tiles = []
    for v, img in enumerate(sample["img"]):
        geo = (sample["intrinsics"][v], sample["sensor2ego"][v])
        view = np.asarray(img)
        if gt_boxes is not None and len(gt_boxes):
            view = draw_boxes_on_view(view, gt_boxes, gt_labels, *geo)
        view = draw_boxes_on_view(view, pred_boxes, pred_labels, *geo, dashed=True)
        pictures[names[v]] = view
        tile = _fit_height(view, max(1, round(view.shape[0] * view_width / view.shape[1])))
        tiles.append(_title(tile, names[v]))
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    grid = np.zeros((2 * h, 3 * w, 3), np.uint8)
    for v, tile in enumerate(tiles):
        r, c = divmod(v, 3)
        grid[r * h : r * h + tile.shape[0], c * w : c * w + tile.shape[1]] = tile
    pictures["cameras"] = grid
    bev = bev_prediction_plot(
        result.get("seg"), map_size, extent, pred_boxes, pred_labels, gt_boxes, gt_labels, px_per_m
    )
    pictures["bev"] = bev
    parts = [grid, _title(_fit_height(bev, grid.shape[0]), "prediction")]
    if sample.get("gt_seg_mask") is not None or (gt_boxes is not None and len(gt_boxes)):
        bev_gt = bev_prediction_plot(
            sample.get("gt_seg_mask"), map_size, extent, None, None, gt_boxes, gt_labels, px_per_m
        )
        pictures["bev_gt"] = bev_gt
        parts.append(_title(_fit_height(bev_gt, grid.shape[0]), "ground truth"))
    sep = np.full((grid.shape[0], 4, 3), 255, np.uint8)
    top = np.concatenate([p for part in parts for p in (part, sep)][:-1], axis=1)
    labels = list(pred_labels) + ([] if gt_labels is None else list(np.asarray(gt_labels)))
    pictures["panel"] = np.concatenate([top, legend_strip(top.shape[1], labels)], axis=0)
    return pictures
