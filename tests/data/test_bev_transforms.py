"""Multi-view image transforms keep projections on the same image content; BEV augmentations
move boxes and the map target together."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from hat.data.transforms.bev_flip import BevFlip
from hat.data.transforms.bev_img_crop import BevImgCrop
from hat.data.transforms.bev_img_flip import BevImgFlip
from hat.data.transforms.bev_img_resize import BevImgResize
from hat.data.transforms.bev_img_rotate import BevImgRotate
from hat.data.transforms.bev_img_wrapper import BevImgTransformWrapper
from hat.data.transforms.bev_rotate import BevRotate
from hat.data.transforms.compose import Compose
from hat.data.transforms.functional import rgb_to_yuv444
from hat.registry import build_from_registry

H, W = 180, 320  # a 1600x900 view at 1/5
F = 250.0
# nuScenes camera axes (z forward, x right, y down) in the ego frame, per view: yaw of the
# optical axis about ego z (front-left, front, front-right, back-left, back, back-right).
YAWS = (55.0, 0.0, -55.0, 110.0, 180.0, -110.0)
POINT_IN_VIEW = (8.0, 0.7, 0.4)  # (forward, left, up) in each camera's own heading


def _sensor2ego(yaw_deg: float) -> np.ndarray:
    a = math.radians(yaw_deg)
    fwd = np.array([math.cos(a), math.sin(a), 0.0])
    left = np.array([-math.sin(a), math.cos(a), 0.0])
    m = np.eye(4)
    m[:3, :3] = np.stack([-left, [0.0, 0.0, -1.0], fwd], axis=1)  # columns: cam x, y, z
    m[:3, 3] = (1.0, 0.0, 1.6) + 0.5 * fwd
    return m


def _point_for_view(yaw_deg: float) -> np.ndarray:
    a = math.radians(yaw_deg)
    f, lft, up = POINT_IN_VIEW
    fwd = np.array([math.cos(a), math.sin(a), 0.0])
    left = np.array([-math.sin(a), math.cos(a), 0.0])
    return np.array([1.0, 0.0, 1.6]) + f * fwd + lft * left + np.array([0.0, 0.0, up])


def _project(sample: dict, v: int, p: np.ndarray) -> np.ndarray:
    """img_aug @ K @ inv(sensor2ego) @ p -> pixel (x, y)."""
    cam = np.linalg.inv(sample["sensor2ego"][v]) @ np.append(p, 1.0)
    uvw = sample["img_aug"][v] @ sample["intrinsics"][v] @ cam[:3]
    return uvw[:2] / uvw[2]


def _blob_sample(sigma: float = 5.0) -> dict:
    """6 views, each black with one Gaussian blob where its 3D point projects."""
    k = np.array([[F, 0.0, W / 2 - 3.0], [0.0, F, H / 2 + 4.0], [0.0, 0.0, 1.0]])
    sample = {
        "intrinsics": np.stack([k] * 6),
        "sensor2ego": np.stack([_sensor2ego(y) for y in YAWS]),
        "img": [],
    }
    sample["img_aug"] = np.stack([np.eye(3)] * 6)
    ys, xs = np.mgrid[0:H, 0:W]
    for v, yaw in enumerate(YAWS):
        u = _project(sample, v, _point_for_view(yaw))
        g = np.exp(-((xs - u[0]) ** 2 + (ys - u[1]) ** 2) / (2 * sigma**2))
        img = np.zeros((H, W, 3), np.uint8)
        img[..., 0] = np.round(250 * g)
        img[..., 1] = np.round(120 * g)
        sample["img"].append(img)
    del sample["img_aug"]  # transforms start from identities
    return sample


def _centroid(img: np.ndarray) -> np.ndarray:
    w = img[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def _assert_projection_on_blob(sample: dict, tol: float) -> None:
    for v, yaw in enumerate(YAWS):
        expected = _project(sample, v, _point_for_view(yaw))
        got = _centroid(sample["img"][v])
        assert np.abs(got - expected).max() < tol, (v, got, expected)


def test_blob_fixture_projects_on_its_blob():
    sample = _blob_sample()
    sample["img_aug"] = np.stack([np.eye(3)] * 6)
    _assert_projection_on_blob(sample, 0.02)


@pytest.mark.parametrize(
    "transform",
    [
        BevImgResize(size=(108, 192)),
        BevImgResize(scales=(0.6, 0.8)),
        BevImgResize(size=(360, 640)),
        BevImgCrop(size=(150, 260)),
        BevImgCrop(size=(150, 260), random=True),
        BevImgFlip(prob=1.0),
        BevImgRotate(rot=(-5.4, 5.4)),
        BevImgRotate(rot=(30.0, 30.0)),
    ],
    ids=repr,
)
def test_projection_lands_on_the_same_content(transform):
    np.random.seed(3)
    out = transform(_blob_sample())
    assert out["img_aug"].shape == (6, 3, 3)
    _assert_projection_on_blob(out, 0.03)


def test_the_seed_train_pipeline_keeps_projections_and_draws_per_view():
    pipeline = Compose(
        [
            dict(type="BevImgResize", scales=(0.6, 0.8)),
            dict(type="BevImgCrop", size=(100, 190), random=True),
            dict(type="BevImgFlip", prob=0.5),
            dict(type="BevImgRotate", rot=(-5.4, 5.4)),
        ]
    )
    np.random.seed(0)
    out = pipeline(_blob_sample())
    assert all(img.shape == (100, 190, 3) for img in out["img"])
    _assert_projection_on_blob(out, 0.05)
    # each view drew its own scale / offset / flip / angle
    assert len({tuple(np.round(m.ravel(), 6)) for m in out["img_aug"]}) == 6
    flips = [np.linalg.det(m[:2, :2]) < 0 for m in out["img_aug"]]
    assert 0 < sum(flips) < 6


def test_resize_matrix_is_exact_for_the_half_pixel_model():
    out = BevImgResize(size=(90, 160))(_blob_sample())
    np.testing.assert_allclose(
        out["img_aug"][0], [[0.5, 0.0, -0.25], [0.0, 0.5, -0.25], [0.0, 0.0, 1.0]]
    )


def test_crop_keeps_the_bottom_rows_and_flip_maps_columns():
    sample = {"img": [np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)]}
    out = BevImgCrop(size=(4, 4))(sample)
    np.testing.assert_array_equal(out["img"][0], sample["img"][0][2:6, 2:6])
    np.testing.assert_array_equal(out["img_aug"][0][:2, 2], [-2, -2])
    flipped = BevImgFlip(prob=1.0)(out)
    np.testing.assert_array_equal(flipped["img"][0], sample["img"][0][2:6, 5:1:-1])
    # pixel (col 0) of the crop is column 3 of the flip
    np.testing.assert_allclose(flipped["img_aug"][0] @ [2.0, 2.0, 1.0], [3.0, 0.0, 1.0])


def test_geometric_transforms_reject_bad_input():
    with pytest.raises(ValueError, match="larger than view 0"):
        BevImgCrop(size=(200, 100))({"img": [np.zeros((100, 100, 3), np.uint8)]})
    with pytest.raises(TypeError, match="before BevImgTransformWrapper"):
        BevImgFlip(1.0)({"img": [torch.zeros(3, 4, 4)]})
    with pytest.raises(ValueError, match="exactly one"):
        BevImgResize()
    with pytest.raises(ValueError, match=r"img_aug'\] has shape"):
        BevImgFlip(1.0)({"img": [np.zeros((4, 4, 3), np.uint8)], "img_aug": np.eye(3)})


def test_wrapper_applies_the_seed_image_transforms_to_every_view():
    rng = np.random.default_rng(0)
    views = [rng.integers(0, 256, (6, 10, 3), dtype=np.uint8) for _ in range(6)]
    wrapper = build_from_registry(
        dict(
            type="BevImgTransformWrapper",
            transforms=[
                dict(type="PILToTensor"),
                dict(type="BgrToYuv444", rgb_input=True),
                dict(type="Normalize", mean=128.0, std=128.0),
            ],
        )
    )
    assert isinstance(wrapper, BevImgTransformWrapper)
    out = wrapper({"img": views, "sample_token": "t"})
    assert out["sample_token"] == "t" and len(out["img"]) == 6
    for view, got in zip(views, out["img"]):
        chw = torch.from_numpy(view).permute(2, 0, 1).float()
        expected = (rgb_to_yuv444(chw, True) - 128.0) / 128.0
        assert got.dtype == torch.float32 and got.shape == (3, 6, 10)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


# ---------------------------------------------------------------- BEV-space augmentations

RES, MAP_H, MAP_W = 0.15, 200, 400  # HDMapNet grid: rows = ego y (+-15 m), cols = ego x (+-30 m)
BEV_SIZE = (51.2, 51.2, 0.8)


def _draw_boxes(boxes: np.ndarray, values: list[int]) -> np.ndarray:
    """Cells whose centre lies inside a box footprint get that box's value."""
    rows, cols = np.mgrid[0:MAP_H, 0:MAP_W]
    x = (cols + 0.5) * RES - MAP_W * RES / 2
    y = (rows + 0.5) * RES - MAP_H * RES / 2
    mask = np.zeros((MAP_H, MAP_W), np.int64)
    for box, value in zip(boxes, values):
        c, s = math.cos(box[6]), math.sin(box[6])
        dx, dy = x - box[0], y - box[1]
        along, across = c * dx + s * dy, -s * dx + c * dy
        mask[(np.abs(along) <= box[4] / 2) & (np.abs(across) <= box[3] / 2)] = value
    return mask


BOXES = np.array(
    [
        # x, y, z, w, l, h, yaw, vx, vy
        [12.0, 4.0, 0.8, 2.0, 4.5, 1.6, 0.3, 5.0, 1.0],
        [-9.0, -6.0, 0.5, 0.8, 0.8, 1.8, -2.0, 0.0, -1.2],
        [3.0, -10.0, 1.0, 2.5, 7.0, 3.0, 1.2, -2.0, 3.0],
    ]
)


def _bev_sample() -> dict:
    return {"gt_boxes": BOXES.copy(), "gt_seg_mask": _draw_boxes(BOXES, [1, 2, 3])}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


def _within_one_cell(a: np.ndarray, b: np.ndarray) -> bool:
    """Every cell of ``a`` touches ``b`` and vice versa (3x3 neighbourhood)."""
    kernel = np.ones((3, 3), np.uint8)
    grow = lambda m: cv2.dilate(m.astype(np.uint8), kernel).astype(bool)  # noqa: E731
    return bool(np.all(grow(b)[a]) and np.all(grow(a)[b]))


def _assert_aligned(mask: np.ndarray, boxes: np.ndarray) -> None:
    """The augmented map shows each box where the augmented box is, up to resampling."""
    moved = _draw_boxes(boxes, [1, 2, 3])
    for value in (1, 2, 3):
        assert _within_one_cell(mask == value, moved == value), value
    assert _iou(mask == 1, moved == 1) > 0.93 and _iou(mask == 3, moved == 3) > 0.93


@pytest.mark.parametrize("angle", [0.3925, -0.2, 0.05])
def test_bev_rotate_moves_boxes_and_map_together(angle):
    out = BevRotate(BEV_SIZE, rot=(angle, angle))(_bev_sample())
    _assert_aligned(out["gt_seg_mask"], out["gt_boxes"])
    # centre, heading and velocity turn by the angle; sizes and heights stay
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    np.testing.assert_allclose(out["gt_boxes"][:, :2], BOXES[:, :2] @ rot.T)
    np.testing.assert_allclose(out["gt_boxes"][:, 7:9], BOXES[:, 7:9] @ rot.T)
    dyaw = np.angle(np.exp(1j * (out["gt_boxes"][:, 6] - BOXES[:, 6] - angle)))
    np.testing.assert_allclose(dyaw, 0.0, atol=1e-12)
    np.testing.assert_array_equal(out["gt_boxes"][:, [2, 3, 4, 5]], BOXES[:, [2, 3, 4, 5]])
    # bev_aug maps the original ego frame onto the augmented one
    centres = np.c_[BOXES[:, :3], np.ones(3)] @ out["bev_aug"].T
    np.testing.assert_allclose(centres[:, :3], out["gt_boxes"][:, :3])


@pytest.mark.parametrize("flip", [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_bev_flip_mirrors_boxes_and_map_exactly(flip):
    out = BevFlip(*flip, bev_size=BEV_SIZE)(_bev_sample())
    np.testing.assert_array_equal(out["gt_seg_mask"], _draw_boxes(out["gt_boxes"], [1, 2, 3]))
    sx, sy = (-1.0 if f else 1.0 for f in flip)
    np.testing.assert_allclose(out["gt_boxes"][:, 0], sx * BOXES[:, 0])
    np.testing.assert_allclose(out["gt_boxes"][:, 1], sy * BOXES[:, 1])
    np.testing.assert_allclose(out["gt_boxes"][:, 7], sx * BOXES[:, 7])
    np.testing.assert_allclose(out["gt_boxes"][:, 8], sy * BOXES[:, 8])
    heading = np.c_[sx * np.cos(BOXES[:, 6]), sy * np.sin(BOXES[:, 6])]
    np.testing.assert_allclose(np.cos(out["gt_boxes"][:, 6]), heading[:, 0], atol=1e-12)
    np.testing.assert_allclose(np.sin(out["gt_boxes"][:, 6]), heading[:, 1], atol=1e-12)
    np.testing.assert_allclose(out["bev_aug"], np.diag([sx, sy, 1.0, 1.0]))


def test_bev_augmentations_compose_their_record_and_draw_once_per_sample():
    np.random.seed(5)
    pipeline = Compose(
        [
            dict(type="BevRotate", bev_size=BEV_SIZE, rot=(-0.3925, 0.3925)),
            dict(type="BevFlip", prob_x=0.5, prob_y=0.5, bev_size=BEV_SIZE),
        ]
    )
    flips = set()
    for _ in range(12):
        out = pipeline(_bev_sample())
        centres = np.c_[BOXES[:, :3], np.ones(3)] @ out["bev_aug"].T
        np.testing.assert_allclose(centres[:, :3], out["gt_boxes"][:, :3], atol=1e-12)
        _assert_aligned(out["gt_seg_mask"], out["gt_boxes"])
        flips.add(round(float(np.linalg.det(out["bev_aug"][:2, :2]))))
    assert flips == {-1, 1}


def test_bev_augmentations_reject_bad_arguments():
    with pytest.raises(ValueError, match="bev_size"):
        BevRotate((51.2, 0.8))
    with pytest.raises(ValueError, match="prob_x"):
        BevFlip(1.5, 0.5, BEV_SIZE)
    with pytest.raises(ValueError, match=r"gt_boxes must be \(N, 9\)"):
        BevFlip(1.0, 0.0, BEV_SIZE)({"gt_boxes": np.zeros((2, 7))})
