"""Drawing machinery of the synthetic Cityscapes: a pinhole camera, screen-space noise textures
and a canvas that paints colour, labelIds and instance ids together (painter's algorithm).

World coordinates (metres): X to the right, Y up from the ground, Z forward from the camera.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Camera", "Canvas", "NoiseBank", "Tex", "jitter_color"]

# A texture: (y0, x0, h, w) screen window -> (h, w, 3) float32 RGB colours.
Tex = Callable[[int, int, int, int], np.ndarray]
Color = Sequence[float]


@dataclass
class Camera:
    """Pinhole camera at height ``h_cam`` looking along +Z, no roll; horizon at row ``yh``."""

    f: float
    h_cam: float
    xv: float
    yh: float
    height: int
    width: int

    def project(self, x: float, y: float, z: float) -> tuple[float, float]:
        """Pixel ``(col, row)`` of the world point ``(x, y, z)``."""
        return self.xv + self.f * x / z, self.yh + self.f * (self.h_cam - y) / z

    def ppm(self, z: float) -> float:
        """Pixels per metre of a fronto-parallel object at depth ``z``."""
        return self.f / z

    def min_depth_in_view(self, x: float, margin: float = 0.9) -> float:
        """The smallest depth at which lateral position ``x`` is inside the frame (with margin)."""
        room = (self.width - self.xv) if x > 0 else self.xv
        return self.f * abs(x) / max(margin * room, 1.0)

    def depth_of_row(self, row: float) -> float:
        """Depth of the ground point imaged at ``row`` (below the horizon)."""
        return self.f * self.h_cam / max(row - self.yh, 1e-3)

    def ground_quad(self, x0: float, x1: float, z0: float, z1: float) -> np.ndarray:
        """Image corners of the ground rectangle ``[x0, x1] x [z0, z1]`` (near edge first)."""
        pts = [(x0, z0), (x1, z0), (x1, z1), (x0, z1)]
        return np.array([self.project(x, 0.0, z) for x, z in pts], np.float64)

    def side_quad(self, x: float, z0: float, z1: float, y0: float, y1: float) -> np.ndarray:
        """Image corners of the vertical plane ``X = x``, ``Z in [z0, z1]``, ``Y in [y0, y1]``:
        (z0, y1), (z1, y1), (z1, y0), (z0, y0), i.e. texture TL, TR, BR, BL with Z to the right."""
        pts = [(z0, y1), (z1, y1), (z1, y0), (z0, y0)]
        return np.array([self.project(x, y, z) for z, y in pts], np.float64)


class NoiseBank:
    """Unit-variance noise fields (fine, medium, coarse, colour) a bit larger than the frame;
    each texture reads them at its own random offset, so neighbouring regions differ."""

    def __init__(self, rng: np.random.Generator, height: int, width: int, unit: float) -> None:
        self.pad = max(8, int(64 * unit))
        h, w = height + self.pad, width + self.pad
        self.fields = {
            "fine": _smooth_noise(rng, h, w, 0.7 * unit),
            "med": _smooth_noise(rng, h, w, 3.0 * unit),
            "coarse": _smooth_noise(rng, h, w, 14.0 * unit),
        }
        self.color = np.stack([_smooth_noise(rng, h, w, 2.0 * unit) for _ in range(3)], -1)

    def crop(self, name: str, y0: int, x0: int, h: int, w: int, off: tuple[int, int]) -> np.ndarray:
        src = self.color if name == "color" else self.fields[name]
        return src[y0 + off[0] : y0 + off[0] + h, x0 + off[1] : x0 + off[1] + w]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise, normalised to unit variance; coarse fields made small."""
    step = max(1, int(sigma // 2))
    small = rng.standard_normal((h // step + 2, w // step + 2)).astype(np.float32)
    s = sigma / step
    if s > 0.3:
        small = cv2.GaussianBlur(small, (0, 0), s)
    out = cv2.resize(small, ((w // step + 2) * step, (h // step + 2) * step), cv2.INTER_LINEAR)
    out = out[:h, :w]
    return (out - out.mean()) / (out.std() + 1e-6)


def jitter_color(rng: np.random.Generator, color: Color, amount: float = 0.12) -> np.ndarray:
    """``color`` with random brightness (x (1 +- amount)) and a small per-channel shift."""
    c = np.asarray(color, np.float32) * rng.uniform(1 - amount, 1 + amount)
    return np.clip(c + rng.normal(0, 6, 3), 0, 255).astype(np.float32)


class Canvas:
    """Colour image, labelId map and instance-id map painted together.

    ``paint_*`` methods take a label id, a texture (a :data:`Tex` or a colour) and an optional
    instance id; later paint covers earlier paint (painter's algorithm, far to near).
    """

    def __init__(self, rng: np.random.Generator, height: int, width: int) -> None:
        self.h, self.w = height, width
        self.unit = width / 512.0
        self.rng = rng
        self.img = np.zeros((height, width, 3), np.float32)
        self.label = np.zeros((height, width), np.uint8)
        self.inst = np.zeros((height, width), np.uint16)
        self.noise = NoiseBank(rng, height, width, self.unit)
        self._instances: dict[int, int] = {}

    # ---------------------------------------------------------------- textures
    def offset(self) -> tuple[int, int]:
        p = self.noise.pad
        return int(self.rng.integers(0, p)), int(self.rng.integers(0, p))

    def solid(
        self,
        color: Color,
        fine: float = 4.0,
        med: float = 0.04,
        coarse: float = 0.0,
        chroma: float = 0.0,
        shade: tuple[float, float] | None = None,
    ) -> Tex:
        """``color`` modulated by noise: ``fine`` grey levels of fine noise, relative ``med`` and
        ``coarse`` brightness variation, ``chroma`` grey levels of colour noise, and an optional
        vertical brightness ramp ``shade = (row0, rows)`` (top brighter)."""
        base = np.asarray(color, np.float32)
        off = self.offset()

        def tex(y0: int, x0: int, h: int, w: int) -> np.ndarray:
            gain = 1.0 + med * self.noise.crop("med", y0, x0, h, w, off)
            if coarse:
                gain = gain + coarse * self.noise.crop("coarse", y0, x0, h, w, off)
            if shade is not None:
                rows = np.arange(y0, y0 + h, dtype=np.float32)[:, None]
                gain = gain * (1.08 - 0.2 * np.clip((rows - shade[0]) / max(shade[1], 1), 0, 1))
            out = base * gain[..., None]
            out += fine * self.noise.crop("fine", y0, x0, h, w, off)[..., None]
            if chroma:
                out += chroma * self.noise.crop("color", y0, x0, h, w, off)
            return out

        return tex

    def mottled(
        self, color_a: Color, color_b: Color, fine: float = 12.0, scale: str = "med"
    ) -> Tex:
        """Two colours mixed by a noise field (foliage, grass, clouds)."""
        a, b = np.asarray(color_a, np.float32), np.asarray(color_b, np.float32)
        off = self.offset()

        def tex(y0: int, x0: int, h: int, w: int) -> np.ndarray:
            t = np.clip(0.5 + 0.35 * self.noise.crop(scale, y0, x0, h, w, off), 0, 1)[..., None]
            out = a * (1 - t) + b * t
            return out + fine * self.noise.crop("fine", y0, x0, h, w, off)[..., None]

        return tex

    # ---------------------------------------------------------------- instances
    def new_instance(self, label_id: int) -> int:
        """Next instance id ``label_id * 1000 + k`` (k from 0 per class and image)."""
        k = self._instances.get(label_id, 0)
        self._instances[label_id] = k + 1
        return label_id * 1000 + k

    # ---------------------------------------------------------------- painting
    def _bbox(self, pts: np.ndarray, margin: int = 1) -> tuple[int, int, int, int] | None:
        x0 = max(int(math.floor(pts[:, 0].min())) - margin, 0)
        y0 = max(int(math.floor(pts[:, 1].min())) - margin, 0)
        x1 = min(int(math.ceil(pts[:, 0].max())) + margin + 1, self.w)
        y1 = min(int(math.ceil(pts[:, 1].max())) + margin + 1, self.h)
        if x1 <= x0 or y1 <= y0:
            return None
        return y0, x0, y1 - y0, x1 - x0

    def paint_mask(
        self,
        mask: np.ndarray,
        y0: int,
        x0: int,
        label_id: int,
        tex: Tex | Color | np.ndarray,
        inst: int | None = None,
        alpha: float | np.ndarray = 1.0,
    ) -> None:
        """Paint where ``mask`` (a bool window at ``(y0, x0)``) is set; ``alpha`` < 1 blends the
        colour with what is below (the labels are still replaced)."""
        if not mask.any():
            return
        h, w = mask.shape
        if callable(tex):
            colour = tex(y0, x0, h, w)
        else:
            colour = np.broadcast_to(np.asarray(tex, np.float32), (h, w, 3))
        win = self.img[y0 : y0 + h, x0 : x0 + w]
        if np.isscalar(alpha) and alpha >= 1.0:
            win[mask] = colour[mask]
        else:
            a = np.broadcast_to(np.asarray(alpha, np.float32), (h, w))[mask][:, None]
            win[mask] = a * colour[mask] + (1 - a) * win[mask]
        self.label[y0 : y0 + h, x0 : x0 + w][mask] = label_id
        self.inst[y0 : y0 + h, x0 : x0 + w][mask] = label_id if inst is None else inst

    def paint_poly(
        self,
        pts: np.ndarray | Sequence[Sequence[float]],
        label_id: int,
        tex: Tex | Color,
        inst: int | None = None,
        alpha: float = 1.0,
    ) -> None:
        """Fill a polygon given in pixel coordinates."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        box = self._bbox(pts)
        if box is None:
            return
        y0, x0, h, w = box
        mask = np.zeros((h, w), np.uint8)
        local = np.round(pts - [x0, y0]).astype(np.int32)
        cv2.fillPoly(mask, [local], 1)
        self.paint_mask(mask.astype(bool), y0, x0, label_id, tex, inst, alpha)

    def paint_ellipse(
        self,
        center: tuple[float, float],
        axes: tuple[float, float],
        label_id: int,
        tex: Tex | Color,
        inst: int | None = None,
        angle: float = 0.0,
        alpha: float = 1.0,
    ) -> None:
        ax = (max(int(round(axes[0])), 1), max(int(round(axes[1])), 1))
        pts = cv2.ellipse2Poly(
            (int(round(center[0])), int(round(center[1]))), ax, int(angle), 0, 360, 10
        )
        self.paint_poly(pts, label_id, tex, inst, alpha)

    def paint_line(
        self,
        p0: tuple[float, float],
        p1: tuple[float, float],
        thickness: float,
        label_id: int,
        tex: Tex | Color,
        inst: int | None = None,
    ) -> None:
        """A thick segment (a rotated rectangle, at least 1 px wide)."""
        (xa, ya), (xb, yb) = p0, p1
        dx, dy = xb - xa, yb - ya
        n = math.hypot(dx, dy) or 1.0
        half = max(thickness, 1.0) / 2
        nx, ny = -dy / n * half, dx / n * half
        pts = [(xa + nx, ya + ny), (xb + nx, yb + ny), (xb - nx, yb - ny), (xa - nx, ya - ny)]
        self.paint_poly(pts, label_id, tex, inst)

    def paint_ring(
        self,
        center: tuple[float, float],
        radius: float,
        width: float,
        label_id: int,
        tex: Tex | Color,
        inst: int | None = None,
        inner_tex: Tex | Color | None = None,
        inner_alpha: float = 0.35,
    ) -> None:
        """A wheel: a ring of ``width`` px; its inside gets ``inner_tex`` blended over what is
        below (labelled as the ring: annotators outline the whole wheel)."""
        r = max(radius, 1.0)
        pts = np.array([center[0] - r, center[1] - r, center[0] + r, center[1] + r]).reshape(2, 2)
        box = self._bbox(pts)
        if box is None:
            return
        y0, x0, h, w = box
        yy, xx = np.mgrid[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
        d = np.hypot(xx - center[0], yy - center[1])
        outer = d <= r
        inner = d <= max(r - max(width, 1.0), 0.0)
        self.paint_mask(outer & ~inner, y0, x0, label_id, tex, inst)
        self.paint_mask(inner, y0, x0, label_id, inner_tex or tex, inst, alpha=inner_alpha)

    def paint_quad(
        self,
        quad: np.ndarray,
        texture: np.ndarray,
        label_id: int,
        inst: int | None = None,
        tex_mask: np.ndarray | None = None,
        alpha: float = 1.0,
        noise: float = 3.0,
    ) -> None:
        """Map a flat ``texture`` (th, tw, 3) onto the image quadrilateral ``quad`` (corners for
        the texture's TL, TR, BR, BL) by the homography they define; ``tex_mask`` (th, tw) cuts
        a silhouette out of it."""
        box = self._bbox(quad)
        if box is None:
            return
        y0, x0, h, w = box
        th, tw = texture.shape[:2]
        src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float32)
        m = cv2.getPerspectiveTransform(src, (quad - [x0, y0]).astype(np.float32))
        warped = cv2.warpPerspective(
            texture, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round(quad - [x0, y0]).astype(np.int32)], 1)
        sel = mask.astype(bool)
        if tex_mask is not None:
            wm = cv2.warpPerspective(
                tex_mask.astype(np.uint8),
                m,
                (w, h),
                flags=cv2.INTER_NEAREST,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            sel &= wm.astype(bool)
        if noise:
            off = self.offset()
            warped += noise * self.noise.crop("fine", y0, x0, h, w, off)[..., None]
        self.paint_mask(sel, y0, x0, label_id, warped, inst, alpha)
