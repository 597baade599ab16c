"""Scene recipes for the three synthetic SceneFlow subsets (layers for :mod:`.stereo_scene`).

All sizes scale with ``unit = width / 576``; ``max_disp`` is the design range in pixels at the
rendered size (most disparities lie in ``0..max_disp``; none exceeds ``1.2 * max_disp``).

- ``FlyingThings3D``: a slanted background plane (sometimes a second one) and 5-10 flying
  objects (polygons, ellipses, unions, rectangles), about half of them slanted.
- ``Driving``: a far fronto-parallel backdrop, a ground plane below the horizon whose disparity
  grows towards the bottom, vehicles and poles standing on it (fronto-parallel, sized by their
  depth).
- ``Monkaa``: a strongly slanted background and 3-6 large organic blobs; more weakly textured
  surfaces.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hat.data.synthetic.stereo_scene import StereoLayer, order_layers
from hat.data.synthetic.stereo_texture import make_texture

__all__ = ["SCENE_BUILDERS", "build_scene"]

_SHAPES = ("polygon", "ellipse", "union", "rect")


def _shape_mask(rng: np.random.Generator, size: int, shape: str, aspect: float = 1.0) -> np.ndarray:
    """A ``size x size`` float32 {0, 1} mask; ``aspect`` = width / height for rect and bar."""
    mask = np.zeros((size, size), np.uint8)
    c = size / 2.0
    if shape in ("polygon", "union"):
        n = int(rng.integers(5, 11))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.45, 0.95, n) * c * 0.95
        pts = np.stack([c + rad * np.cos(ang), c + rad * np.sin(ang)], 1).round().astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    if shape in ("ellipse", "union"):
        axes = (int(rng.uniform(0.35, 0.95) * c), int(rng.uniform(0.35, 0.95) * c))
        cv2.ellipse(mask, (int(c), int(c)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    if shape in ("rect", "bar"):
        half_w, half_h = (c, c / aspect) if aspect >= 1 else (c * aspect, c)
        x0, y0 = int(round(c - half_w)), int(round(c - half_h))
        x1, y1 = int(round(c + half_w)) - 1, int(round(c + half_h)) - 1
        cv2.rectangle(mask, (x0, y0), (x1, y1), 1, -1)
    if not mask.any():
        cv2.circle(mask, (int(c), int(c)), max(1, int(c * 0.6)), 1, -1)
    return mask.astype(np.float32)


def _frame_box(corners: np.ndarray, h: int, w: int) -> tuple[float, float, float, float]:
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return max(0.0, x0), max(0.0, y0), min(w - 1.0, x1), min(h - 1.0, y1)


def _object(
    rng: np.random.Generator,
    h: int,
    w: int,
    unit: float,
    mask: np.ndarray,
    center: tuple[float, float],
    d0: float,
    slope: float,
    angle: float = 0.0,
    kind: str | None = None,
    contrast: float | None = None,
) -> StereoLayer:
    """A masked surface centred at ``center`` with disparity ``d0`` there, slopes <= ``slope``."""
    size = mask.shape[0]
    cx, cy = center
    rad = math.radians(angle)
    rot = np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
    place = np.eye(3)
    place[:2, :2] = rot
    place[:2, 2] = np.array([cx, cy]) - rot @ np.array([size / 2.0, size / 2.0])
    b, c = rng.uniform(-slope, slope, 2) if slope > 0 else (0.0, 0.0)
    x, y, bw, bh = cv2.boundingRect((mask > 0).astype(np.uint8))
    box = np.array([[x, y, 1], [x + bw, y, 1], [x, y + bh, 1], [x + bw, y + bh, 1]], np.float64)
    texture = make_texture(rng, size, size, unit, kind, contrast)
    plane = (d0 - b * cx - c * cy, b, c)
    return StereoLayer(texture, mask, place, plane, _frame_box((place @ box.T).T[:, :2], h, w))


def _full(
    rng: np.random.Generator,
    h: int,
    w: int,
    unit: float,
    plane: tuple[float, float, float],
    kind: str | None = None,
    rows_from: float | None = None,
) -> StereoLayer:
    """A surface covering the frame (or the rows from ``rows_from`` down), with a margin wide
    enough for what the right camera sees of it."""
    a, b, c = plane
    d_max = max(a + b * x + c * y for x in (0, w - 1) for y in (0, h - 1))
    margin = int(d_max * 1.1 + 0.05 * w) + 8
    fx, fy = rng.uniform(0, 1, 2)  # sub-pixel placement: both views are resampled
    place = np.eye(3)
    place[:2, 2] = (-margin + fx, -margin + fy)
    size = (h + 2 * margin, w + 2 * margin)
    mask, box = None, (0.0, 0.0, w - 1.0, h - 1.0)
    if rows_from is not None:
        mask = np.zeros(size, np.float32)
        mask[int(math.ceil(rows_from + margin - fy)) :] = 1.0
        box = (0.0, float(rows_from), w - 1.0, h - 1.0)
    return StereoLayer(make_texture(rng, *size, unit, kind), mask, place, plane, box)


def _slanted_plane(
    rng: np.random.Generator, h: int, w: int, d_lo: float, d_hi: float, spread: float
) -> tuple[float, float, float]:
    """A plane with disparity in about ``[d_lo, d_hi]`` varying by <= ``spread`` px across."""
    b = rng.uniform(-1, 1) * spread / w
    c = rng.uniform(-1, 1) * spread / h
    lows = [b * x + c * y for x in (0, w - 1) for y in (0, h - 1)]
    a = rng.uniform(d_lo, max(d_lo, d_hi)) - min(lows)
    return a, b, c


def _flyingthings(rng: np.random.Generator, h: int, w: int, max_d: float) -> list[StereoLayer]:
    unit = w / 576.0
    layers = [_full(rng, h, w, unit, _slanted_plane(rng, h, w, 1.0, 0.2 * max_d, 0.15 * max_d))]
    if rng.random() < 0.5:  # a second, nearer background wall covering part of the view
        size = int(rng.uniform(0.6, 0.9) * max(h, w))
        center = (rng.uniform(0, w), rng.uniform(0, h))
        mask = _shape_mask(rng, size, "polygon")
        d0 = rng.uniform(0.15, 0.3) * max_d
        layers.append(_object(rng, h, w, unit, mask, center, d0, 0.05, rng.uniform(0, 360)))
    for _ in range(int(rng.integers(5, 11))):
        size = max(12, int(rng.uniform(0.15, 0.45) * min(h, w) * 1.3))
        mask = _shape_mask(rng, size, str(rng.choice(_SHAPES)), rng.uniform(0.5, 2.0))
        center = (rng.uniform(-0.05, 1.05) * w, rng.uniform(-0.05, 1.05) * h)
        slope = 0.06 if rng.random() < 0.5 else 0.0
        d0 = rng.uniform(0.15, 0.9) * max_d
        layers.append(_object(rng, h, w, unit, mask, center, d0, slope, rng.uniform(0, 360)))
    return layers


def _driving(rng: np.random.Generator, h: int, w: int, max_d: float) -> list[StereoLayer]:
    unit = w / 576.0
    horizon = rng.uniform(0.35, 0.5) * h
    d_far = rng.uniform(0.5, 2.0) * unit
    g = (rng.uniform(0.55, 0.9) * max_d - d_far) / (h - 1 - horizon)
    road_b = rng.uniform(-0.01, 0.01)
    ground = (d_far + 0.5 - g * horizon - road_b * w / 2, road_b, g)
    layers = [
        _full(rng, h, w, unit, (d_far, 0.0, 0.0), "blobs"),
        _full(rng, h, w, unit, ground, str(rng.choice(["stripes", "noise"])), horizon),
    ]
    # (shape, width in px per px of disparity, width / height): vehicles, then poles
    things = [("rect", rng.uniform(2.5, 4.0), rng.uniform(1.1, 2.2)) for _ in range(8)]
    things = things[: int(rng.integers(3, 9))] + [("bar", 0.3, 0.06)] * int(rng.integers(0, 4))
    for shape, width_per_d, aspect in things:
        foot = rng.uniform(horizon + 0.04 * h, 1.1 * h)
        x_mid = rng.uniform(0, w)
        d = ground[0] + ground[1] * x_mid + ground[2] * foot
        width, height = width_per_d * d, width_per_d * d / aspect
        size = int(max(width, height)) + 2
        if min(width, height) < 2 or size > 2 * max(h, w):
            continue
        mask = _shape_mask(rng, size, shape, aspect)
        layers.append(_object(rng, h, w, unit, mask, (x_mid, foot - height / 2), d, 0.0))
    return layers


def _monkaa(rng: np.random.Generator, h: int, w: int, max_d: float) -> list[StereoLayer]:
    unit = w / 576.0
    layers = [_full(rng, h, w, unit, _slanted_plane(rng, h, w, 2.0, 0.2 * max_d, 0.3 * max_d))]
    for _ in range(int(rng.integers(3, 7))):
        size = max(16, int(rng.uniform(0.3, 0.65) * min(h, w) * 1.3))
        mask = _shape_mask(rng, size, str(rng.choice(["ellipse", "union"])))
        center = (rng.uniform(0, w), rng.uniform(0, h))
        slope = 0.08 if rng.random() < 0.5 else 0.0
        kind = "blobs" if rng.random() < 0.5 else None
        contrast = rng.uniform(6, 14) if rng.random() < 0.25 else None
        d0 = rng.uniform(0.2, 1.0) * max_d
        layers.append(
            _object(rng, h, w, unit, mask, center, d0, slope, rng.uniform(0, 360), kind, contrast)
        )
    return layers


SCENE_BUILDERS = {"FlyingThings3D": _flyingthings, "Driving": _driving, "Monkaa": _monkaa}


def build_scene(
    rng: np.random.Generator, subset: str, h: int, w: int, max_disp: float
) -> list[StereoLayer]:
    """The ordered layers of one scene of ``subset`` (a key of :data:`SCENE_BUILDERS`)."""
    if subset not in SCENE_BUILDERS:
        raise ValueError(
            f"unknown SceneFlow subset {subset!r}: expected one of {list(SCENE_BUILDERS)}"
        )
    limit = min(1.2 * max_disp, 190.0)
    return order_layers(SCENE_BUILDERS[subset](rng, h, w, max_disp), limit)
