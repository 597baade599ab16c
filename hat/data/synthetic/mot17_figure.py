"""Articulated, textured people for the synthetic MOT17: head, hair, torso, two arms and two
legs with knees and elbows, posed by a walk cycle and seen from any side.

A figure is drawn as a small label canvas of body parts (cv2 primitives, no anti-aliasing, so
the mask is exact), then coloured per part: skin, hair, shirt with a pattern (plain, stripes,
checks, fabric noise) and a second colour, trousers, shoes; limbs on the far side are darker,
and a vertical and a side light shade the whole figure. The texture is in figure units, so it
scales with the distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Appearance", "Pose", "RenderedFigure", "mannequin_appearance", "random_appearance",
           "render_figure"]  # fmt: skip

# Part ids of the label canvas (0 = empty).
SKIN, HAIR, SHIRT, SHIRT_FAR, PANTS, PANTS_FAR, SHOES = 1, 2, 3, 4, 5, 6, 7
SKIN_TONES = ((60, 80, 110), (90, 125, 170), (120, 160, 205), (150, 185, 225), (70, 100, 140))
HAIR_COLORS = ((20, 20, 25), (30, 45, 70), (60, 90, 130), (150, 160, 170), (40, 40, 40))
PATTERNS = ("plain", "stripes", "checks", "fabric")


@dataclass(frozen=True)
class Appearance:
    """Colours (BGR) and build of one person; ``pattern`` is one of :data:`PATTERNS`."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    shirt2: tuple[int, int, int]
    pants: tuple[int, int, int]
    shoes: tuple[int, int, int]
    pattern: str
    period: float  # pattern period in figure heights
    build: float  # width factor, ~0.85..1.2
    fabric: np.ndarray  # (16, 16) float32 in [-1, 1], the fabric noise tile

    def palette(self) -> np.ndarray:
        """(8, 3) float32 colour of each part id (far limbs darker)."""
        far = 0.72
        rows = [(0, 0, 0), self.skin, self.hair, self.shirt,
                tuple(c * far for c in self.shirt), self.pants,
                tuple(c * far for c in self.pants), self.shoes]  # fmt: skip
        return np.asarray(rows, np.float32)


def _color(rng: np.random.Generator, low: int = 20, high: int = 235) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, 3))  # type: ignore[return-value]


def random_appearance(rng: np.random.Generator) -> Appearance:
    """A random person: clothes of any colour, one of the patterns, a build."""
    return Appearance(
        skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        hair=HAIR_COLORS[int(rng.integers(len(HAIR_COLORS)))],
        shirt=_color(rng),
        shirt2=_color(rng),
        pants=_color(rng, 15, 160),
        shoes=_color(rng, 10, 90),
        pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
        period=float(rng.uniform(0.03, 0.08)),
        build=float(rng.uniform(0.85, 1.2)),
        fabric=rng.uniform(-1, 1, (16, 16)).astype(np.float32),
    )


def mannequin_appearance(rng: np.random.Generator) -> Appearance:
    """A shop mannequin (a MOT17 distractor): one pale colour, no hair, no pattern."""
    pale = tuple(int(v) for v in rng.integers(180, 235) + rng.integers(-12, 12, 3))
    return Appearance(
        skin=pale, hair=pale, shirt=pale, shirt2=pale, pants=pale, shoes=pale,  # type: ignore[arg-type]
        pattern="plain", period=0.05, build=0.9, fabric=np.zeros((16, 16), np.float32),
    )  # fmt: skip


@dataclass(frozen=True)
class Pose:
    """How a figure stands in one frame.

    ``height``: pixels from sole to crown; ``phase``: walk-cycle angle (radians); ``swing``:
    0 standing .. 1 full stride; ``side``: 0 seen from the front/back .. 1 from the side;
    ``facing``: +1 walking to the image right, -1 left; ``away``: seen from the back.
    """

    height: float
    phase: float = 0.0
    swing: float = 0.0
    side: float = 0.0
    facing: int = 1
    away: bool = False


@dataclass(frozen=True)
class RenderedFigure:
    """A figure's pixels: ``image`` (h, w, 3) uint8 BGR and ``mask`` (h, w) bool, whose
    top-left pixel lies at column ``x0``, row ``y0`` of the frame (may be outside it)."""

    image: np.ndarray
    mask: np.ndarray
    x0: int
    y0: int

    @property
    def box_ltwh(self) -> tuple[int, int, int, int]:
        """The tight box of the figure's pixels: left, top, width, height."""
        return self.x0, self.y0, self.mask.shape[1], self.mask.shape[0]


def _limb(
    canvas: np.ndarray,
    root: tuple[float, float],
    angles: tuple[float, float],
    lengths: tuple[float, float],
    side: float,
    facing: int,
    thickness: int,
    part: int,
) -> tuple[float, float]:
    """Draw a two-segment limb hanging from ``root`` (x right, y down); its end point."""
    x, y = root
    for angle, length in zip(angles, lengths, strict=True):
        nx = x + math.sin(angle) * length * side * facing
        ny = y + math.cos(angle) * length
        cv2.line(canvas, (round(x), round(y)), (round(nx), round(ny)), part, thickness)
        x, y = nx, ny
    return x, y


def draw_parts(pose: Pose, build: float) -> tuple[np.ndarray, float, float]:
    """The part-id canvas of ``pose`` and the canvas position ``(x, y)`` of the foot point."""
    u = max(float(pose.height), 8.0)
    cw, ch = int(u * 0.9) + 8, int(u * 1.04) + 8
    canvas = np.zeros((ch, cw), np.uint8)
    cx, fy = cw / 2.0, ch - 4.0
    front, side, facing = 1.0 - pose.side, pose.side, pose.facing
    stride = 0.42 * pose.swing * math.sin(pose.phase)
    leg_t = max(1, round(0.085 * u * build))
    arm_t = max(1, round(0.055 * u * build))
    hip_y, shoulder_y = fy - 0.50 * u, fy - 0.80 * u
    hip_dx = 0.055 * u * build * front
    sh_half = (0.125 * front + 0.07 * side) * u * build
    hip_half = (0.10 * front + 0.07 * side) * u * build
    arm_dx = (sh_half - 0.5 * arm_t) * front
    legs, arms = (0.255 * u, 0.245 * u), (0.17 * u, 0.16 * u)

    def leg(sign: int, part: int) -> None:
        a = sign * stride
        knee = 0.55 * pose.swing * max(0.0, -math.sin(pose.phase * 1.0) * sign)
        end = _limb(canvas, (cx + sign * hip_dx, hip_y), (a, a - knee), legs, side, facing,
                    leg_t, part)  # fmt: skip
        toe = (end[0] + 0.06 * u * side * facing, end[1])
        cv2.line(canvas, (round(end[0]), round(end[1])), (round(toe[0]), round(toe[1])), SHOES,
                 max(1, round(0.04 * u)))  # fmt: skip

    def arm(sign: int, part: int) -> None:
        a = -sign * 1.1 * stride
        end = _limb(canvas, (cx + sign * arm_dx, shoulder_y + 0.02 * u), (a, a + 0.25 * abs(a)),
                    arms, side, facing, arm_t, part)  # fmt: skip
        cv2.circle(canvas, (round(end[0]), round(end[1])), max(1, round(0.03 * u)), SKIN, -1)

    arm(-1, SHIRT_FAR)
    leg(-1, PANTS_FAR)
    torso = np.array(
        [(cx - sh_half, shoulder_y), (cx + sh_half, shoulder_y), (cx + hip_half, hip_y + 0.02 * u),
         (cx - hip_half, hip_y + 0.02 * u)], np.float64)  # fmt: skip
    cv2.fillConvexPoly(canvas, np.round(torso).astype(np.int32), SHIRT)
    top, bottom = hip_y - 0.03 * u, hip_y + 0.06 * u
    pelvis = np.array(
        [(cx - hip_half, top), (cx + hip_half, top), (cx + hip_half, bottom),
         (cx - hip_half, bottom)], np.float64)  # fmt: skip
    cv2.fillConvexPoly(canvas, np.round(pelvis).astype(np.int32), PANTS)
    leg(1, PANTS)
    arm(1, SHIRT)
    head_c = (round(cx + 0.012 * u * side * facing), round(fy - 0.925 * u))
    r = max(1, round(0.062 * u))
    cv2.line(canvas, (round(cx), round(shoulder_y)), head_c, SKIN, max(1, round(0.04 * u)))
    cv2.circle(canvas, head_c, r, HAIR if pose.away else SKIN, -1)
    if not pose.away:  # hair on top (and at the back of the head from the side)
        cv2.ellipse(canvas, head_c, (r, max(1, round(0.6 * r))), 0, 180, 360, HAIR, -1)
        if side > 0.5:
            back = (round(head_c[0] - 0.5 * r * facing), head_c[1])
            cv2.circle(canvas, back, max(1, round(0.75 * r)), HAIR, -1)
    return canvas, cx, fy


def render_figure(app: Appearance, pose: Pose, foot_x: float, foot_y: float) -> RenderedFigure:
    """Draw ``app`` in ``pose`` with its foot point (between the soles) at ``(foot_x, foot_y)``
    of the frame; the result is cropped to the figure's pixels."""
    parts, cx, fy = draw_parts(pose, app.build)
    rows = np.flatnonzero(parts.any(axis=1))
    cols = np.flatnonzero(parts.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    parts = parts[r0:r1, c0:c1]
    mask = parts > 0
    u = max(float(pose.height), 8.0)
    lut = np.zeros((256, 1, 3), np.uint8)
    lut[:8, 0] = np.clip(app.palette(), 0, 255).astype(np.uint8)
    color = cv2.LUT(cv2.merge([parts, parts, parts]), lut)  # (h, w, 3) uint8
    yy = np.arange(r0, r1, dtype=np.float32)[:, None] / u  # figure units, broadcast
    xx = np.arange(c0, c1, dtype=np.float32)[None, :] / u
    if app.pattern in ("stripes", "checks"):
        alt = (np.floor(yy / app.period) % 2) == 1
        if app.pattern == "checks":
            alt = alt ^ ((np.floor(xx / app.period) % 2) == 1)
        shirt2 = np.asarray(app.shirt2, np.float32)
        color[alt & (parts == SHIRT)] = shirt2.astype(np.uint8)
        color[alt & (parts == SHIRT_FAR)] = (shirt2 * 0.72).astype(np.uint8)
    iy = (yy[:, 0] * 40).astype(np.int32) % 16
    ix = (xx[0] * 40).astype(np.int32) % 16
    fabric = app.fabric[iy[:, None], ix[None, :]]
    light = (1.12 - 0.25 * (yy - yy[0, 0])) + 0.12 * (xx - cx / u) * pose.facing + 0.07 * fabric
    light8 = np.clip(light * 128, 0, 255).astype(np.uint8)
    image = cv2.multiply(color, cv2.merge([light8, light8, light8]), scale=1 / 128)
    x0 = int(round(foot_x - cx)) + int(c0)
    y0 = int(round(foot_y - fy)) + int(r0)
    return RenderedFigure(image, mask, x0, y0)
