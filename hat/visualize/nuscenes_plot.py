"""Pictures of a nuScenes sample: the 6 camera views with projected 3D boxes, and a top-down BEV
plot of the map target with the boxes.

Camera views are laid out as nuScenes shows them (:data:`NUSCENES_CAMERAS` order: top row
front-left, front, front-right; bottom row back-left, back, back-right). Each box is drawn with
its 12 edges in its class colour, the front face crossed by its diagonals; the parts of edges
behind a camera are clipped away. In the BEV plot ego x points up and ego y to the left (the map
raster, whose rows run along ego y, is turned for it), the ego is the white triangle at the
centre. Ground truth is drawn solid, predictions dashed.

Images are RGB ``H x W x 3`` uint8 arrays; :func:`save_nuscenes_sample` writes the picture.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from hat.data.readers.nuscenes_constants import DETECTION_CLASSES, NUSCENES_CAMERAS
from hat.visualize.image_io import write_rgb_png
from hat.visualize.nuscenes_boxes import (
    BOX_EDGES,
    FRONT_FACE,
    box_corners,
    clip_and_project,
    view_projection,
)

__all__ = [
    "CLASS_COLORS",
    "MAP_COLORS",
    "bev_plot",
    "bev_pixel",
    "camera_grid",
    "draw_boxes_on_view",
    "nuscenes_sample_picture",
    "save_nuscenes_sample",
]

# One colour per detection class (HAT's order), RGB.
CLASS_COLORS = (
    (255, 158, 0),  # car
    (255, 99, 71),  # truck
    (255, 140, 0),  # trailer
    (255, 69, 0),  # bus
    (233, 150, 70),  # construction_vehicle
    (220, 20, 60),  # bicycle
    (255, 61, 99),  # motorcycle
    (0, 0, 230),  # pedestrian
    (47, 79, 79),  # traffic_cone
    (112, 128, 144),  # barrier
)
# Map classes 0 others, 1 divider, 2 ped_crossing, 3 boundary.
MAP_COLORS = ((40, 40, 40), (255, 200, 40), (70, 130, 255), (60, 200, 90))
MAP_NAMES = ("others", "divider", "ped_crossing", "boundary")
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _color(label: int) -> tuple[int, int, int]:
    return CLASS_COLORS[int(label)] if 0 <= int(label) < len(CLASS_COLORS) else (255, 255, 255)


def _dashed_line(img, p0, p1, color, thickness, dash=6.0, gap=6.0) -> None:
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    length = float(np.hypot(*(p1 - p0)))
    step = dash + gap
    for start in np.arange(0.0, max(length, 1e-9), step):
        a = p0 + (p1 - p0) * (start / max(length, 1e-9))
        b = p0 + (p1 - p0) * (min(start + dash, length) / max(length, 1e-9))
        _line(img, a, b, color, thickness)


def _line(img, p0, p1, color, thickness) -> None:
    """An anti-alias-free line between float endpoints (rounded to the nearest pixel)."""
    a = tuple(int(v) for v in np.round(p0))
    b = tuple(int(v) for v in np.round(p1))
    cv2.line(img, a, b, color, thickness, cv2.LINE_8)


def _segment(img, p0, p1, color, thickness, dashed: bool) -> None:
    if dashed:
        _dashed_line(img, p0, p1, color, thickness)
    else:
        _line(img, p0, p1, color, thickness)


def _check_boxes(boxes, labels, who: str) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.zeros((0, 9)) if boxes is None else np.asarray(boxes, dtype=np.float64)
    boxes = boxes.reshape(-1, boxes.shape[-1]) if boxes.size else np.zeros((0, 9))
    labels = np.zeros(len(boxes), np.int64) if labels is None else np.asarray(labels).reshape(-1)
    if len(labels) != len(boxes):
        raise ValueError(f"{who}: {len(boxes)} boxes but {len(labels)} labels")
    return boxes, labels


def draw_boxes_on_view(
    img: np.ndarray,
    boxes: np.ndarray,
    labels: Sequence[int],
    intrinsics: np.ndarray,
    sensor2ego: np.ndarray,
    img_aug: np.ndarray | None = None,
    thickness: int = 2,
    dashed: bool = False,
) -> np.ndarray:
    """A copy of ``img`` with ego-frame ``boxes`` projected through
    ``img_aug @ intrinsics @ inv(sensor2ego)``: 12 edges and the front face's diagonals."""
    boxes, labels = _check_boxes(boxes, labels, "draw_boxes_on_view")
    out = np.ascontiguousarray(img).copy()
    cam_from_ego, img_from_cam = view_projection(intrinsics, sensor2ego, img_aug)
    pairs = list(BOX_EDGES) + [(FRONT_FACE[0], FRONT_FACE[2]), (FRONT_FACE[1], FRONT_FACE[3])]
    idx0, idx1 = np.array(pairs).T
    for corners, label in zip(box_corners(boxes), labels):
        uv, visible = clip_and_project(corners[idx0], corners[idx1], cam_from_ego, img_from_cam)
        for (p0, p1), ok in zip(uv, visible):
            if ok:
                _segment(out, p0, p1, _color(label), thickness, dashed)
    return out


def _label(img: np.ndarray, text: str) -> None:
    cv2.putText(img, text, (6, 18), _FONT, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (6, 18), _FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


def _views(sample: dict) -> list[np.ndarray]:
    imgs = sample.get("img")
    if not isinstance(imgs, (list, tuple)) or len(imgs) != len(NUSCENES_CAMERAS):
        raise ValueError(
            f"the sample must hold 'img': a list of {len(NUSCENES_CAMERAS)} views in the order "
            f"{', '.join(NUSCENES_CAMERAS)}"
        )
    for i, img in enumerate(imgs):
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.dtype != np.uint8:
            raise TypeError(
                f"'img'[{i}] must be an (H, W, 3) uint8 RGB array (picture the sample before "
                f"BevImgTransformWrapper), got {getattr(img, 'shape', type(img).__name__)}"
            )
    return list(imgs)


def camera_grid(
    sample: dict,
    pred: dict | None = None,
    view_width: int | None = 480,
    score_threshold: float = 0.3,
) -> np.ndarray:
    """The 6 views in nuScenes' 2 x 3 layout with the sample's ``gt_boxes`` (solid) and the
    predictions ``pred`` (``bboxes``/``scores``/``labels``, dashed) projected through
    ``img_aug @ K @ inv(bev_aug @ sensor2ego)`` (the multi-view and BEV augmentations, when the
    sample has them); each view is drawn at its own size, then scaled to ``view_width`` (None:
    kept)."""
    imgs = _views(sample)
    n = len(imgs)
    post = sample.get("img_aug", np.broadcast_to(np.eye(3), (n, 3, 3)))
    names = sample.get("cam_names", NUSCENES_CAMERAS)
    gt, gt_labels = _check_boxes(sample.get("gt_boxes"), sample.get("gt_labels"), "gt_boxes")
    pb, pl = _predictions(pred, score_threshold)
    # boxes are in the (BEV-augmented) ego frame: the cameras sit at bev_aug @ sensor2ego there
    bev_aug = np.asarray(sample.get("bev_aug", np.eye(4)), dtype=np.float64)
    tiles = []
    for v, img in enumerate(imgs):
        args = (sample["intrinsics"][v], bev_aug @ sample["sensor2ego"][v], post[v])
        tile = draw_boxes_on_view(img, gt, gt_labels, *args)
        tile = draw_boxes_on_view(tile, pb, pl, *args, dashed=True)
        if view_width is not None and tile.shape[1] != view_width:
            h = round(tile.shape[0] * view_width / tile.shape[1])
            tile = cv2.resize(tile, (view_width, h), interpolation=cv2.INTER_AREA)
        _label(tile, str(names[v]))
        tiles.append(tile)
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    grid = np.zeros((2 * h, 3 * w, 3), np.uint8)
    for v, tile in enumerate(tiles):
        r, c = divmod(v, 3)
        grid[r * h : r * h + tile.shape[0], c * w : c * w + tile.shape[1]] = tile
    return grid


def _predictions(pred: dict | None, score_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    if pred is None:
        return np.zeros((0, 9)), np.zeros(0, np.int64)
    boxes = np.asarray(pred["bboxes"], dtype=np.float64).reshape(-1, 9)
    labels = np.asarray(pred["labels"]).reshape(-1)
    scores = np.asarray(pred.get("scores", np.ones(len(boxes)))).reshape(-1)
    keep = scores >= score_threshold
    return boxes[keep], labels[keep]


def bev_pixel(
    xy: np.ndarray, map_size: Sequence[float] = (15, 30, 0.15), scale: int = 2
) -> np.ndarray:
    """Picture coordinates ``(col, row)`` of ego-frame ``(x, y)`` points in :func:`bev_plot`
    (x up, y left; pixel centres at integers)."""
    lateral, forward, res = (float(v) for v in map_size)
    xy = np.asarray(xy, dtype=np.float64)
    col = (lateral - xy[..., 1]) / res - 0.5
    row = (forward - xy[..., 0]) / res - 0.5
    return np.stack([(col + 0.5) * scale - 0.5, (row + 0.5) * scale - 0.5], axis=-1)


def bev_plot(
    gt_seg_mask: np.ndarray | None,
    boxes: np.ndarray | None = None,
    labels: Sequence[int] | None = None,
    pred: dict | None = None,
    map_size: Sequence[float] = (15, 30, 0.15),
    scale: int = 2,
    score_threshold: float = 0.3,
) -> np.ndarray:
    """Top-down picture: the map classes of ``gt_seg_mask`` (rows along ego y, columns along
    ego x, as :func:`hat.data.nuscenes_map.map_target` gives it; None: an empty grid), the box
    footprints (GT solid, predictions dashed; the front edge doubled) and the ego."""
    lateral, forward, res = (float(v) for v in map_size)
    rows, cols = int(lateral * 2 / res), int(forward * 2 / res)
    mask = np.zeros((rows, cols), np.int64) if gt_seg_mask is None else np.asarray(gt_seg_mask)
    if mask.shape != (rows, cols):
        raise ValueError(
            f"bev_plot: gt_seg_mask has shape {mask.shape}, map_size {tuple(map_size)} needs "
            f"{(rows, cols)}"
        )
    lut = np.array(MAP_COLORS + ((255, 255, 255),) * (256 - len(MAP_COLORS)), np.uint8)
    turned = mask.T[::-1, ::-1]  # x up, y left
    img = lut[np.clip(turned, 0, 255).astype(np.uint8)]
    img = np.ascontiguousarray(np.repeat(np.repeat(img, scale, axis=0), scale, axis=1))
    boxes, labels = _check_boxes(boxes, labels, "bev_plot")
    pb, pl = _predictions(pred, score_threshold)
    for bxs, lbs, dashed in ((boxes, labels, False), (pb, pl, True)):
        for corners, label in zip(box_corners(bxs), lbs):
            foot = bev_pixel(corners[[0, 1, 5, 4], :2], map_size, scale)  # bottom face
            for i in range(4):
                _segment(img, foot[i], foot[(i + 1) % 4], _color(label), 1, dashed)
            _segment(img, foot[0], foot[1], _color(label), 2, dashed)  # the front edge
    ego = bev_pixel(np.array([[2.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]]), map_size, scale)
    cv2.fillPoly(img, [np.round(ego).astype(np.int32)], (255, 255, 255))
    return img


def _legend(width: int, present: Sequence[int]) -> np.ndarray:
    row = 20
    items = [(MAP_NAMES[i], MAP_COLORS[i]) for i in range(1, 4)]
    items += [(DETECTION_CLASSES[i], CLASS_COLORS[i]) for i in sorted(set(present))]
    per_row = max(1, width // 150)
    out = np.full((row * ((len(items) + per_row - 1) // per_row) + 6, width, 3), 255, np.uint8)
    for k, (name, color) in enumerate(items):
        r, c = divmod(k, per_row)
        x, y = 6 + c * 150, 4 + r * row
        cv2.rectangle(out, (x, y), (x + 14, y + 14), color, -1)
        cv2.putText(out, name, (x + 20, y + 12), _FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def nuscenes_sample_picture(
    sample: dict,
    pred: dict | None = None,
    map_size: Sequence[float] = (15, 30, 0.15),
    view_width: int | None = 480,
    score_threshold: float = 0.3,
) -> np.ndarray:
    """The camera grid with the BEV plot to its right and a legend below."""
    grid = camera_grid(sample, pred, view_width, score_threshold)
    bev = bev_plot(
        sample.get("gt_seg_mask"),
        sample.get("gt_boxes"),
        sample.get("gt_labels"),
        pred,
        map_size,
        scale=1,
        score_threshold=score_threshold,
    )
    if bev.shape[0] != grid.shape[0]:
        w = round(bev.shape[1] * grid.shape[0] / bev.shape[0])
        bev = cv2.resize(bev, (w, grid.shape[0]), interpolation=cv2.INTER_NEAREST)
    top = np.concatenate([grid, np.full((grid.shape[0], 4, 3), 255, np.uint8), bev], axis=1)
    labels = np.asarray(sample.get("gt_labels", np.zeros(0, np.int64))).reshape(-1).tolist()
    if pred is not None:
        labels += np.asarray(pred["labels"]).reshape(-1).tolist()
    return np.concatenate([top, _legend(top.shape[1], labels)], axis=0)


def save_nuscenes_sample(
    path: str | os.PathLike,
    sample: dict,
    pred: dict | None = None,
    map_size: Sequence[float] = (15, 30, 0.15),
    view_width: int | None = 480,
    score_threshold: float = 0.3,
) -> np.ndarray:
    """Write :func:`nuscenes_sample_picture` to ``path`` (PNG) and return it."""
    picture = nuscenes_sample_picture(sample, pred, map_size, view_width, score_threshold)
    write_rgb_png(path, picture)
    return picture
