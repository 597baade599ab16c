"""Render rectified stereo pairs of layered planar scenes with exact left-view disparity.

A scene is a stack of layers painted back to front. Layer ``L`` has a texture (in its own
coordinates), an optional mask, a placement ``G`` (texture -> left-image pixels) and a plane
``d(x, y) = a + b x + c y`` giving its disparity at left pixel ``(x, y)``. The right camera sees
left pixel ``(x, y)`` of that surface at ``(x - d(x, y), y)``: an affine map ``R``, so

- left(p) = texture(G^-1 p) of the top layer covering p;
- right(q) = texture(G^-1 R^-1 q) of the top layer covering R^-1 q (backward mapping);
- disp(p) = a + b x + c y of the top layer at p in the left image: exact by construction.

Layers are ordered so that a layer drawn later is nearer (larger disparity) wherever its
bounding box meets one drawn earlier, hence occlusions agree with the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from hat.data.synthetic.layer_render import render_layers
from hat.data.synthetic.warp_check import warp_errors

__all__ = [
    "StereoLayer",
    "StereoPair",
    "check_stereo",
    "order_layers",
    "render_stereo",
    "visible_from_disparity",
]


@dataclass
class StereoPair:
    """left/right ``(H, W, 3)`` uint8 RGB, disp ``(H, W)`` float32, valid ``(H, W)`` bool."""

    left: np.ndarray
    right: np.ndarray
    disp: np.ndarray
    valid: np.ndarray  # left pixels whose match is inside the right image and not occluded


@dataclass
class StereoLayer:
    """One planar surface; see the module docstring."""

    texture: np.ndarray  # (th, tw, 3) float32 0..255
    mask: np.ndarray | None  # (th, tw) float32 {0, 1}; None covers everything
    placement: np.ndarray  # 3x3: texture coords -> left pixels
    plane: tuple[float, float, float]  # (a, b, c): d = a + b x + c y
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 in left pixels

    def right_map(self) -> np.ndarray:
        """3x3: left pixels of this surface -> right pixels."""
        a, b, c = self.plane
        return np.array([[1.0 - b, -c, -a], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])

    def disp_range(self, box: tuple[float, float, float, float]) -> tuple[float, float]:
        """Min and max of the plane over ``box`` (at its corners: the plane is affine)."""
        a, b, c = self.plane
        x0, y0, x1, y1 = box
        values = [a + b * x + c * y for x in (x0, x1) for y in (y0, y1)]
        return min(values), max(values)

    def nearer_by(self, delta: float) -> StereoLayer:
        """The same surface with ``delta`` px more disparity everywhere."""
        a, b, c = self.plane
        return replace(self, plane=(a + delta, b, c))


def _intersect(p: tuple, q: tuple) -> tuple[float, float, float, float] | None:
    x0, y0 = max(p[0], q[0]), max(p[1], q[1])
    x1, y1 = min(p[2], q[2]), min(p[3], q[3])
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def order_layers(layers: list[StereoLayer], limit: float, gap: float = 0.5) -> list[StereoLayer]:
    """Painter's order: background first, the rest by nearness, each pushed ``gap`` px nearer
    than every earlier layer its box meets; layers whose disparity would exceed ``limit`` are
    dropped."""
    kept = [layers[0]]
    for layer in sorted(layers[1:], key=lambda ly: ly.disp_range(ly.bbox)[0]):
        deficit = 0.0
        for below in kept:
            box = _intersect(layer.bbox, below.bbox)
            if box is not None:
                deficit = max(deficit, below.disp_range(box)[1] + gap - layer.disp_range(box)[0])
        if deficit > 0:
            layer = layer.nearer_by(deficit)
        if layer.disp_range(layer.bbox)[1] <= limit:
            kept.append(layer)
    return kept


def _camera(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A camera's response: small gain and offset, sensor noise, 8-bit quantisation."""
    gain, offset = rng.uniform(0.98, 1.02), rng.uniform(-2, 2)
    noisy = img * gain + offset + rng.normal(0.0, 1.0, img.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def render_stereo(
    rng: np.random.Generator, layers: list[StereoLayer], h: int, w: int
) -> StereoPair:
    """Render ordered ``layers`` (see :func:`order_layers`) for both cameras."""
    left, lab_l = render_layers(layers, [ly.placement for ly in layers], h, w)
    right, lab_r = render_layers(layers, [ly.right_map() @ ly.placement for ly in layers], h, w)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = np.array([ly.plane for ly in layers], np.float64)[lab_l]  # (h, w, 3)
    disp = (planes[..., 0] + planes[..., 1] * xs + planes[..., 2] * ys).astype(np.float32)
    valid = _visible(disp, lab_l, lab_r)
    return StereoPair(_camera(rng, left), _camera(rng, right), disp, valid)


def _visible(disp: np.ndarray, lab_l: np.ndarray, lab_r: np.ndarray) -> np.ndarray:
    """Left pixels whose match lies in the right image on the same layer (both neighbours)."""
    w = disp.shape[1]
    xr = np.arange(w)[None, :] - disp
    valid = (xr >= 0) & (xr <= w - 1)
    x0 = np.clip(np.floor(xr).astype(np.int64), 0, w - 1)
    rows = np.arange(disp.shape[0])[:, None]
    for dx in (0, 1):
        valid &= lab_r[rows, np.minimum(x0 + dx, w - 1)] == lab_l
    return valid


def visible_from_disparity(disp: np.ndarray, tol: float = 0.5) -> np.ndarray:
    """Left pixels visible in the right image, judged from the left disparity alone.

    Each pixel is splatted to the two right-image columns around ``x - d``; it is visible when
    it is inside the image and no pixel splatted to those columns is nearer by more than ``tol``.
    """
    h, w = disp.shape
    xr = np.arange(w)[None, :] - disp.astype(np.float64)
    inside = (xr >= 0) & (xr <= w - 1)
    cols = [np.clip(np.floor(xr), 0, w - 1).astype(np.int64)]
    cols.append(np.minimum(cols[0] + 1, w - 1))
    rows = np.broadcast_to(np.arange(h)[:, None], (h, w))
    zbuf = np.full((h, w), -np.inf)
    for c in cols:
        np.maximum.at(zbuf, (rows[inside], c[inside]), disp[inside])
    nearest = np.maximum(zbuf[rows, cols[0]], zbuf[rows, cols[1]])
    return inside & (disp >= nearest - tol)


def check_stereo(
    left: np.ndarray, right: np.ndarray, disp: np.ndarray, valid: np.ndarray | None = None
) -> dict[str, float]:
    """Reconstruction errors of the left image from the right one: warped by ``disp`` (right
    sampled at ``x - d``) vs not warped, as mean absolute grey levels over ``valid`` pixels
    (default :func:`visible_from_disparity`). Returns ``warp_mae``, ``nowarp_mae``, ``ratio``,
    ``valid_fraction``."""
    h, w = disp.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    warped = cv2.remap(
        right.astype(np.float32), xs - disp, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    mask = visible_from_disparity(disp) if valid is None else valid
    return warp_errors(left, right, warped, mask, "check_stereo")
