"""Render one camera image of the synthetic nuScenes world (z-buffered, vectorised).

Per pixel: the ray through the pixel centre (``K^-1 [u+0.5, v+0.5, 1]``, rotated to the global
frame) hits the sky, the ground plane (coloured by :class:`GroundPainter`, with contact shadows
under objects) or a cuboid face. Faces are filled with ``cv2.fillConvexPoly`` (after clipping
at the near plane) and their exact per-pixel depth comes from the face's plane, so occlusion is
a true z-buffer. Faces are shaded by a sun direction and patterned by style (windows, tyre
bands, clothes, cone stripes, facade windows); far surfaces fade into haze.

Besides the image the renderer returns the owner of each pixel (actor index, or -1 sky,
-2 ground, -3 building) and, per actor, the pixels it covers with and without occlusion (the
visibility of nuScenes' annotations is the ratio, summed over the 6 cameras).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hat.data.synthetic.nuscenes_ground import GroundPainter
from hat.data.synthetic.nuscenes_parts import STYLE, Cuboid

__all__ = ["CameraView", "RenderResult", "render_camera"]

_SKY, _GROUND, _BUILDING = -1, -2, -3
_NEAR = 0.05
_MAX_RANGE = 350.0
_HAZE = np.array((196, 201, 206), np.float32)
_GLASS = np.array((38, 48, 62), np.float32)
_SKIN = np.array((205, 165, 135), np.float32)
_WHITE = np.array((235, 235, 235), np.float32)
_TYRE = np.array((28, 28, 30), np.float32)
# faces of a cuboid: corner indices (see Cuboid.corners: bit0 x, bit1 y, bit2 z), local normal
_FACES = (
    ((1, 3, 7, 5), (1, 0, 0)),
    ((0, 4, 6, 2), (-1, 0, 0)),
    ((2, 6, 7, 3), (0, 1, 0)),
    ((0, 1, 5, 4), (0, -1, 0)),
    ((4, 5, 7, 6), (0, 0, 1)),
    ((0, 2, 3, 1), (0, 0, -1)),
)


@dataclass
class CameraView:
    """A camera at one instant: intrinsics ``K`` (3, 3), ``rotation`` (3, 3) and
    ``position`` (3,) camera -> global, image ``width`` x ``height``."""

    K: np.ndarray
    rotation: np.ndarray
    position: np.ndarray
    width: int
    height: int


@dataclass
class RenderResult:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    owner: np.ndarray  # (H, W) int32
    visible: dict[int, int]  # actor -> pixels showing it
    footprint: dict[int, int]  # actor -> pixels it would cover without occlusion


class _Rays:
    """Per-pixel camera-frame rays (z = 1) of one intrinsic matrix and image size, cached."""

    _cache: dict[tuple, np.ndarray] = {}

    @classmethod
    def get(cls, K: np.ndarray, width: int, height: int) -> np.ndarray:
        key = (K.tobytes(), width, height)
        if key not in cls._cache:
            if len(cls._cache) > 16:
                cls._cache.clear()
            u, v = np.meshgrid(
                np.arange(width, dtype=np.float64) + 0.5, np.arange(height, dtype=np.float64) + 0.5
            )
            kinv = np.linalg.inv(K)
            rays = np.stack([u, v, np.ones_like(u)], -1) @ kinv.T
            cls._cache[key] = rays.astype(np.float32)
        return cls._cache[key]


def _clip_near(pts: np.ndarray) -> np.ndarray:
    """Clip a convex polygon (k, 3) in camera coordinates to z >= near."""
    out = []
    k = len(pts)
    for i in range(k):
        a, b = pts[i], pts[(i + 1) % k]
        ina, inb = a[2] >= _NEAR, b[2] >= _NEAR
        if ina:
            out.append(a)
        if ina != inb:
            t = (_NEAR - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out)


def _sky(dirs_z: np.ndarray, norm: np.ndarray, tone: float) -> np.ndarray:
    """Sky colours of rays by elevation (``dirs_z / norm``): pale at the horizon, blue above."""
    el = np.clip(dirs_z / norm * 3.0, 0.0, 1.0)[..., None]
    horizon = np.array((205, 215, 226), np.float32) * tone
    zenith = np.array((105, 148, 210), np.float32) * (0.85 + 0.15 * tone)
    return horizon * (1 - el) + zenith * el


def render_camera(
    view: CameraView,
    ground: GroundPainter,
    cuboids: list[Cuboid],
    sun: np.ndarray,
    sky_tone: float = 1.0,
) -> RenderResult:
    """Render ``cuboids`` over the ground and sky as seen by ``view``."""
    h, w = view.height, view.width
    rays = _Rays.get(view.K, w, h)  # camera frame, z = 1: ray parameter = depth
    o = view.position.astype(np.float64)
    dirs = rays @ view.rotation.astype(np.float32).T  # global directions (H, W, 3)
    norm = np.sqrt(np.einsum("hwc,hwc->hw", dirs, dirs))
    image = np.empty((h, w, 3), np.float32)
    depth = np.full((h, w), np.inf, np.float32)
    owner = np.full((h, w), _SKY, np.int32)

    dz = dirs[..., 2].ravel()
    r_t = view.rotation.T

    # ---- keep the cuboids in front of the camera and inside its field of view (with margin)
    if cuboids:
        centres = np.array([c.centre for c in cuboids]) - o
        radius = np.array([np.linalg.norm(c.size) / 2 for c in cuboids])
        cam = centres @ r_t.T
        half_fov = np.hypot(w, h) / 2 / min(view.K[0, 0], view.K[1, 1])
        keep = cam[:, 2] > -radius
        keep &= np.hypot(cam[:, 0], cam[:, 1]) < half_fov * np.maximum(cam[:, 2], 0) + radius * 1.5
        cuboids = [c for c, k in zip(cuboids, keep, strict=True) if k]

    # ---- cuboids, z-buffered (they stand on the ground: it never hides them, so it comes after)
    footprint: dict[int, int] = {}
    by_owner: dict[int, list[Cuboid]] = {}
    for cub in cuboids:
        by_owner.setdefault(cub.owner if cub.owner >= 0 else -10 - len(by_owner), []).append(cub)
    for key, parts in by_owner.items():
        cover = _draw_owner(parts, view, rays, o, r_t, dirs, image, depth, owner, sun)
        if key >= 0 and cover is not None:
            footprint[key] = cover

    # ---- the ground plane z = 0 where no cuboid is in front of it
    cand = np.flatnonzero((dz < -1e-6) & (owner.ravel() == _SKY))
    tg = (-o[2] / dz[cand]).astype(np.float32)
    near = tg * norm.ravel()[cand] < _MAX_RANGE
    ground_px, tg = cand[near], tg[near]
    flat = dirs.reshape(-1, 3)
    gx = (o[0] + tg * flat[ground_px, 0]).astype(np.float32)
    gy = (o[1] + tg * flat[ground_px, 1]).astype(np.float32)
    colour, _ = ground.colours(gx, gy, tg * norm.ravel()[ground_px])
    image.reshape(-1, 3)[ground_px] = colour
    depth.reshape(-1)[ground_px] = tg
    owner.reshape(-1)[ground_px] = _GROUND

    # ---- contact shadows: darken the visible ground under each object's footprint
    for cub in cuboids:
        if cub.owner < 0 or cub.centre[2] - cub.size[2] / 2 > 0.5:
            continue
        foot = cub.corners()[[0, 1, 3, 2]].copy()
        foot[:, 2] = 0.0
        foot[:, :2] += (foot[:, :2] - cub.centre[:2]) * 0.12 + sun[:2] * 0.25 * cub.size[2]
        _shade_polygon(image, owner, (foot - o) @ r_t.T, view.K, 0.62)
    shown = owner[owner >= 0]
    counts = np.bincount(shown) if shown.size else np.zeros(0, np.int64)
    visible = {int(i): int(counts[i]) for i in np.flatnonzero(counts)}

    # ---- sky where nothing was hit; haze with distance; a touch of lens blur
    sky = np.flatnonzero(owner.ravel() == _SKY)
    image.reshape(-1, 3)[sky] = _sky(dz[sky], norm.ravel()[sky], sky_tone)
    solid = np.flatnonzero(np.isfinite(depth.ravel()))
    dist = depth.ravel()[solid] * norm.ravel()[solid]
    far = dist > 70.0
    solid, dist = solid[far], dist[far]
    haze = np.clip((dist - 70.0) / 420.0, 0.0, 0.6)[:, None]
    image.reshape(-1, 3)[solid] = image.reshape(-1, 3)[solid] * (1 - haze) + _HAZE * haze
    image = cv2.GaussianBlur(image, (3, 3), 0.55)
    return RenderResult(np.clip(image + 0.5, 0, 255).astype(np.uint8), owner, visible, footprint)


def _project(pts_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    uvw = pts_cam @ K.T
    return uvw[:, :2] / uvw[:, 2:3]


def _shade_polygon(image, owner, pts_cam, K, factor) -> None:
    poly = _clip_near(pts_cam)
    if len(poly) < 3:
        return
    uv = _project(poly, K)
    h, w = owner.shape
    x0, y0 = np.floor(uv.min(0)).astype(int)
    x1, y1 = np.ceil(uv.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1 + 1, w), min(y1 + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = np.round((uv - (x0, y0)) * 16).astype(np.int32)
    cv2.fillConvexPoly(mask, pts, 1, cv2.LINE_8, 4)
    sel = (mask > 0) & (owner[y0:y1, x0:x1] == _GROUND)
    image[y0:y1, x0:x1][sel] *= factor


def _draw_owner(parts, view, rays, o, r_t, dirs, image, depth, owner, sun) -> int | None:
    """Draw the visible faces of one object's parts; return its unoccluded pixel count."""
    h, w = owner.shape
    union = None  # (x0, y0, mask) over the object's bounding box
    faces = []
    for cub in parts:
        corners = cub.corners()
        cam = (corners - o) @ r_t.T
        if cam[:, 2].max() < _NEAR:
            continue
        rot = cub.rotation()
        for idx, normal_local in _FACES:
            n = rot @ np.asarray(normal_local, float)
            face = corners[list(idx)]
            view_dir = face.mean(0) - o
            if np.dot(n, view_dir) >= -1e-3 * np.linalg.norm(view_dir):  # back or edge-on
                continue
            poly = _clip_near(cam[list(idx)])
            if len(poly) < 3:
                continue
            uv = _project(poly, view.K)
            x0, y0 = np.floor(uv.min(0)).astype(int)
            x1, y1 = np.ceil(uv.max(0)).astype(int)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1 + 1, w), min(y1 + 1, h)
            if x1 <= x0 or y1 <= y0:
                continue
            faces.append(
                (
                    cub,
                    n,
                    face,
                    uv,
                    (x0, y0, x1, y1),
                    normal_local,
                    (poly[:, 2].min(), poly[:, 2].max()),
                )
            )
    if not faces:
        return None
    bx0 = min(f[4][0] for f in faces)
    by0 = min(f[4][1] for f in faces)
    bx1 = max(f[4][2] for f in faces)
    by1 = max(f[4][3] for f in faces)
    union = np.zeros((by1 - by0, bx1 - bx0), bool)
    for cub, n, face, uv, (x0, y0, x1, y1), normal_local, (zmin, zmax) in faces:
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        pts = np.round((uv - (x0, y0)) * 16).astype(np.int32)
        cv2.fillConvexPoly(mask, pts, 1, cv2.LINE_8, 4)
        inside = mask > 0
        if not inside.any():
            continue
        union[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0] |= inside
        # exact depth on the face's plane: n_c . (t * ray) = n_c . p0 (camera frame)
        n_c = view.rotation.T @ n
        p0_c = view.rotation.T @ (face[0] - o)
        ray = rays[y0:y1, x0:x1]
        denom = ray @ n_c.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.float32(n_c @ p0_c) / denom
        zsub = depth[y0:y1, x0:x1]
        # pixels on the polygon's rim can see the plane far beyond the face: bound the depth
        win = inside & (t >= zmin * 0.999 - 1e-3) & (t <= zmax * 1.001 + 1e-3) & (t < zsub)
        if not win.any():
            continue
        zsub[win] = t[win]
        owner[y0:y1, x0:x1][win] = cub.owner
        image[y0:y1, x0:x1][win] = _face_colour(
            cub, n, normal_local, face, t[win], o, dirs[y0:y1, x0:x1][win], sun
        )
    return int(union.sum())


def _face_colour(cub, n, normal_local, face, t, o, dirs, sun) -> np.ndarray:
    """Shaded, patterned colours of the pixels of one face (t: depths, dirs: global rays)."""
    pts_z = o[2] + t * dirs[:, 2]
    bottom = cub.centre[2] - cub.size[2] / 2
    zf = (pts_z - bottom) / max(cub.size[2], 1e-3)
    vertical = normal_local[2] == 0
    base = np.broadcast_to(cub.colour, (len(t), 3)).copy()
    style = cub.style
    if style == STYLE["cabin"] and vertical:
        base[zf < 0.82] = _GLASS
    elif style == STYLE["body"] and vertical and normal_local[1] != 0:
        base[zf < 0.3] = _TYRE
    elif style == STYLE["person"]:
        base[zf < 0.47] = cub.accent * 0.55
        base[zf > 0.84] = _SKIN
    elif style == STYLE["cone"]:
        base[(zf > 0.45) & (zf < 0.63)] = _WHITE
    elif style == STYLE["barrier"]:
        base[zf < 0.18] = _TYRE * 2
    elif style == STYLE["bus"] and vertical:
        base[(zf > 0.45) & (zf < 0.86)] = _GLASS
        base[zf < 0.1] = _TYRE
    elif style == STYLE["building"] and vertical:
        edge = max(face[1] - face[0], face[3] - face[0], key=lambda e: np.hypot(e[0], e[1]))
        edge_len = np.hypot(edge[0], edge[1])
        if edge_len > 0:
            px = o[0] + t * dirs[:, 0] - face[0][0]
            py = o[1] + t * dirs[:, 1] - face[0][1]
            u = (px * edge[0] + py * edge[1]) / edge_len
            win = (np.mod(u, 3.6) > 0.9) & (np.mod(u, 3.6) < 2.7)
            win &= (np.mod(pts_z, 3.3) > 1.0) & (np.mod(pts_z, 3.3) < 2.5) & (pts_z > 0.5)
            base[win] = _GLASS * 1.3
    shade = 0.55 + 0.45 * max(float(np.dot(n, sun)), 0.0)
    if not vertical and normal_local[2] > 0:
        shade = min(shade + 0.1, 1.05)
    return base * shade
