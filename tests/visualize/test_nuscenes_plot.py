"""The nuScenes picture: box edges land where the projection says, in the camera grid and in
the BEV plot; edges behind a camera are clipped."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from hat.visualize.nuscenes_boxes import BOX_EDGES, box_corners, clip_and_project
from hat.visualize.nuscenes_plot import (
    CLASS_COLORS,
    MAP_COLORS,
    bev_pixel,
    bev_plot,
    camera_grid,
    draw_boxes_on_view,
    save_nuscenes_sample,
)

H, W = 90, 160
YAWS = (55.0, 0.0, -55.0, 110.0, 180.0, -110.0)  # nuScenes' layout order
K = np.array([[120.0, 0.0, 80.0], [0.0, 120.0, 45.0], [0.0, 0.0, 1.0]])
CAR, PEDESTRIAN = 0, 7


def sensor2ego(yaw_deg: float) -> np.ndarray:
    a = math.radians(yaw_deg)
    fwd = np.array([math.cos(a), math.sin(a), 0.0])
    left = np.array([-math.sin(a), math.cos(a), 0.0])
    m = np.eye(4)
    m[:3, :3] = np.stack([-left, [0.0, 0.0, -1.0], fwd], axis=1)  # columns: cam x, y, z
    m[:3, 3] = (1.0, 0.0, 1.6)
    return m


def make_sample() -> dict:
    boxes = np.array(
        [
            [12.0, 0.5, 0.8, 1.9, 4.4, 1.6, 0.4, 3.0, 0.0],  # a car ahead, turned left
            [-9.0, 0.0, 0.9, 0.7, 0.7, 1.8, 0.0, 0.0, 0.0],  # a pedestrian behind
        ]
    )
    mask = np.zeros((200, 400), np.int64)
    mask[100:103, :] = 1  # a divider along ego x at y = 0
    return {
        "img": [np.full((H, W, 3), 90, np.uint8) for _ in YAWS],
        "intrinsics": np.stack([K] * 6),
        "sensor2ego": np.stack([sensor2ego(y) for y in YAWS]),
        "gt_boxes": boxes,
        "gt_labels": np.array([CAR, PEDESTRIAN]),
        "gt_seg_mask": mask,
    }


def projected_edges(sample: dict, view: int, box: int) -> np.ndarray:
    """Visible edges of a box in a view as (M, 2, 2) pixels: img_aug @ K @ inv(sensor2ego)."""
    corners = box_corners(sample["gt_boxes"][box : box + 1])[0]
    i0, i1 = np.array(BOX_EDGES).T
    cam = np.linalg.inv(sample["sensor2ego"][view])
    uv, ok = clip_and_project(corners[i0], corners[i1], cam, sample["intrinsics"][view])
    return uv[ok]


def inside(p, h=H, w=W, margin=3) -> bool:
    return margin <= p[0] < w - margin and margin <= p[1] < h - margin


def has_color_near(img: np.ndarray, p: np.ndarray, color) -> bool:
    """``color`` at the pixel nearest ``p`` or one of its 8 neighbours."""
    x, y = np.round(p).astype(int)
    patch = img[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]
    return bool(np.all(patch == color, axis=-1).any())


def distance_to_segments(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Distance of each (x, y) point to the nearest of the (M, 2, 2) segments."""
    a, b = segments[:, 0][None], segments[:, 1][None]
    p = points[:, None].astype(np.float64)
    t = np.clip(((p - a) * (b - a)).sum(-1) / np.maximum(((b - a) ** 2).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * (b - a)), axis=-1).min(axis=1)


def test_saved_picture_has_box_edges_where_the_projection_says(tmp_path):
    sample = make_sample()
    path = tmp_path / "sample.png"
    picture = save_nuscenes_sample(path, sample, view_width=None)
    read = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(read, picture)
    assert path.stat().st_size < 1_000_000
    front = read[0:H, W : 2 * W]  # top row, middle: CAM_FRONT
    edges = projected_edges(sample, 1, 0)
    mids = [(p0 + p1) / 2 for p0, p1 in edges if inside((p0 + p1) / 2)]
    assert len(mids) >= 8
    assert all(has_color_near(front, m, CLASS_COLORS[CAR]) for m in mids)
    # every car-coloured pixel is on a projected edge (or a diagonal of the front face): within
    # the line's reach (cv2's thickness-2 line covers up to 1.5 pixels from its axis on a
    # diagonal) plus the rounding of its endpoints to pixels
    corners = box_corners(sample["gt_boxes"][:1])[0]
    cam = np.linalg.inv(sample["sensor2ego"][1])
    diag, _ = clip_and_project(corners[[0, 1]], corners[[2, 3]], cam, K)
    ys, xs = np.nonzero(np.all(front == CLASS_COLORS[CAR], axis=-1))
    assert len(ys) > 100
    dist = distance_to_segments(np.c_[xs, ys], np.concatenate([edges, diag]))
    assert dist.max() <= 1.5 + math.sqrt(0.5)
    # the pedestrian behind the ego shows in CAM_BACK only, never in CAM_FRONT
    assert not np.all(front == CLASS_COLORS[PEDESTRIAN], axis=-1).any()
    back = read[H : 2 * H, W : 2 * W]
    assert np.all(back == CLASS_COLORS[PEDESTRIAN], axis=-1).sum() > 20
    mids = [(p0 + p1) / 2 for p0, p1 in projected_edges(sample, 4, 1)]
    assert all(has_color_near(back, m, CLASS_COLORS[PEDESTRIAN]) for m in mids if inside(m))
    others = np.concatenate([read[:H, :W], read[:H, 2 * W : 3 * W], read[H : 2 * H, :W]])
    assert not any(np.all(others == color, axis=-1).any() for color in CLASS_COLORS)


def test_bev_plot_draws_the_map_turned_and_the_footprints():
    sample = make_sample()
    img = bev_plot(sample["gt_seg_mask"], sample["gt_boxes"], sample["gt_labels"], scale=2)
    assert img.shape == (800, 400, 3)  # x (60 m) up, y (30 m) across
    # the divider at y = 0 (rows 100..102 of the raster) becomes a vertical band left of centre
    col = bev_pixel(np.array([5.0, 0.0]), scale=2)[0]
    assert tuple(img[100, int(round(col)) - 3]) == MAP_COLORS[1]
    assert tuple(img[100, 10]) == MAP_COLORS[0]
    corners = box_corners(sample["gt_boxes"][:1])[0]
    foot = bev_pixel(corners[[0, 1, 5, 4], :2], scale=2)  # front-left, front-right, rear ...
    for i in range(4):
        assert has_color_near(img, (foot[i] + foot[(i + 1) % 4]) / 2, CLASS_COLORS[CAR])
    # the car faces forward (its front edge higher up) and turned left (front to the left)
    assert foot[0:2, 1].mean() < foot[2:4, 1].mean() - 20
    assert foot[0:2, 0].mean() < foot[2:4, 0].mean() - 5
    # the car (12 m ahead, 0.5 m left) is above and left of the ego; the pedestrian below it
    ego = bev_pixel(np.zeros(2), scale=2)
    np.testing.assert_allclose(ego, [199.5, 399.5])
    car = bev_pixel(sample["gt_boxes"][0, :2], scale=2)
    np.testing.assert_allclose(car, [199.5 - 0.5 / 0.15 * 2, 399.5 - 12 / 0.15 * 2])
    ped = bev_pixel(sample["gt_boxes"][1, :2], scale=2)
    assert has_color_near(img, ped + [0, 0.7 / 0.15], CLASS_COLORS[PEDESTRIAN])
    assert ped[1] > ego[1] + 100


def test_predictions_are_dashed_and_filtered_by_score():
    sample = make_sample()
    pred = {
        "bboxes": sample["gt_boxes"][:1],
        "scores": np.array([0.9]),
        "labels": np.array([CAR]),
    }
    solid = draw_boxes_on_view(
        sample["img"][1], sample["gt_boxes"][:1], [CAR], K, sample["sensor2ego"][1]
    )
    dashed = draw_boxes_on_view(
        sample["img"][1], pred["bboxes"], pred["labels"], K, sample["sensor2ego"][1], dashed=True
    )
    on_solid = np.all(solid == CLASS_COLORS[CAR], axis=-1)
    on_dashed = np.all(dashed == CLASS_COLORS[CAR], axis=-1)
    assert 0.35 * on_solid.sum() < on_dashed.sum() < 0.8 * on_solid.sum()
    assert not (on_dashed & ~on_solid).sum() > 0.05 * on_dashed.sum()
    low = dict(pred, scores=np.array([0.1]))
    no_gt = dict(sample, gt_boxes=np.zeros((0, 9)), gt_labels=np.zeros(0, np.int64))
    grid_low = camera_grid(no_gt, low, view_width=None)
    assert not np.all(grid_low == CLASS_COLORS[CAR], axis=-1).any()
    grid_high = camera_grid(no_gt, pred, view_width=None)
    assert np.all(grid_high == CLASS_COLORS[CAR], axis=-1).sum() > 50


def test_edges_behind_the_camera_are_clipped_at_the_near_plane():
    cam_from_ego = np.eye(4)  # camera frame = ego frame here: z is depth
    p0 = np.array([[1.0, 0.5, -5.0]])
    p1 = np.array([[1.0, 0.5, 5.0]])
    uv, ok = clip_and_project(p0, p1, cam_from_ego, K, near=0.1)
    assert ok.all()
    # the end behind the camera moves to depth 0.1 along the segment
    np.testing.assert_allclose(uv[0, 0], [80 + 120 * 1.0 / 0.1, 45 + 120 * 0.5 / 0.1])
    np.testing.assert_allclose(uv[0, 1], [80 + 120 / 5, 45 + 120 * 0.5 / 5])
    _, ok = clip_and_project(p0, p0 + [0.0, 0.0, 1.0], cam_from_ego, K)
    assert not ok.any()


def test_views_of_a_bev_augmented_sample_show_the_boxes_on_the_same_pixels():
    from hat.data.transforms.bev_flip import BevFlip
    from hat.data.transforms.bev_rotate import BevRotate

    sample = make_sample()
    before = camera_grid(sample, view_width=None)
    augmented = BevFlip(1.0, 1.0, (51.2, 51.2, 0.8))(
        BevRotate((51.2, 51.2, 0.8), (0.3, 0.3))(sample)
    )
    assert not np.allclose(augmented["gt_boxes"][:, :2], sample["gt_boxes"][:, :2])
    np.testing.assert_array_equal(camera_grid(augmented, view_width=None), before)


def test_picture_rejects_transformed_tensor_views():
    import torch

    sample = make_sample()
    sample["img"] = [torch.zeros(3, H, W) for _ in YAWS]
    with pytest.raises(TypeError, match="before BevImgTransformWrapper"):
        camera_grid(sample)
