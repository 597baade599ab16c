"""One synthetic MOT17 sequence: a street seen by a fixed or panning camera, with people who
walk, stop, turn, cross and occlude each other, enter and leave the frame.

Geometry: a pinhole camera ``cam_height`` metres above a flat ground, horizon at a fixed row,
focal length 1.1 x the image height. A person at ground position ``(X, Z)`` (metres, Z the
depth) has the foot point ``x = W/2 + f X / Z - pan``, ``y = horizon + f cam_height / Z`` and
is ``f height_m / Z`` pixels tall. A moving camera pans (rotates): every world point shifts by the
same ``pan(t)`` pixels, so the background is one panorama cropped at ``pan(t)``; hand-held
sequences also bob vertically.

Who is in the scene, with the MOT17 gt class and consider flag:

* pedestrians (class 1, consider 1): walk with a walk cycle, stop for a while, turn smoothly,
  arrive at the left/right edge of the view and leave through any edge;
* static people (class 7, consider 0): stand still all along;
* distractors (class 8, consider 0): pale shop mannequins near the facade;
* reflections (class 12, consider 0): faint mirrored people walking inside a shop window.

Visibility is **pixel-level**: the figures are painted far to near into the frame and into an
id map; an object's visibility is the number of its pixels left in the id map (not covered by
nearer figures, inside the image) divided by all its pixels (a reflection's pixels are those
inside its window). As in the MOT16 definition, both occlusion and cropping by the image border
lower it. Boxes are the tight boxes of all of a figure's pixels, in the frame's pixel
grid, and may reach outside the image as MOT17's do. An object gets a gt row in every frame
where some of its pixels are inside the image (also when fully occluded: visibility 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from hat.data.synthetic.mot17_figure import (
    Appearance,
    Pose,
    RenderedFigure,
    mannequin_appearance,
    random_appearance,
    render_figure,
)

__all__ = ["FrameObject", "MOT17_SEQUENCES", "SequenceScene", "SequenceSpec"]

PEDESTRIAN, STATIC_PERSON, DISTRACTOR, REFLECTION = 1, 7, 8, 12


@dataclass(frozen=True)
class SequenceSpec:
    """A MOT17 video: its number, split, size, frame rate, length and camera."""

    number: str
    split: str
    width: int
    height: int
    fps: int
    length: int
    moving: bool
    cam_height: float  # metres
    horizon: float  # row of the horizon, fraction of the height
    people: int  # pedestrians in view at a time, about
    shop_window: bool  # a shop window on the facade, with reflections in it


# Sizes, frame rates, lengths and moving cameras of the real videos; the rest is a choice.
MOT17_SEQUENCES = (
    SequenceSpec("02", "train", 1920, 1080, 30, 600, False, 3.0, 0.30, 16, True),
    SequenceSpec("04", "train", 1920, 1080, 30, 1050, False, 8.0, 0.06, 26, True),
    SequenceSpec("05", "train", 640, 480, 14, 837, True, 1.5, 0.45, 7, False),
    SequenceSpec("09", "train", 1920, 1080, 30, 525, False, 1.8, 0.40, 9, True),
    SequenceSpec("10", "train", 1920, 1080, 30, 654, True, 2.0, 0.40, 12, False),
    SequenceSpec("11", "train", 1920, 1080, 30, 900, True, 1.6, 0.42, 10, True),
    SequenceSpec("13", "train", 1920, 1080, 25, 750, True, 3.0, 0.35, 10, False),
    SequenceSpec("01", "test", 1920, 1080, 30, 450, False, 2.5, 0.35, 12, True),
    SequenceSpec("03", "test", 1920, 1080, 30, 1500, False, 7.0, 0.08, 26, True),
    SequenceSpec("06", "test", 640, 480, 14, 1194, True, 1.5, 0.45, 7, False),
    SequenceSpec("07", "test", 1920, 1080, 30, 500, True, 1.8, 0.40, 12, True),
    SequenceSpec("08", "test", 1920, 1080, 30, 625, False, 2.0, 0.40, 12, False),
    SequenceSpec("12", "test", 1920, 1080, 30, 900, True, 1.6, 0.42, 9, True),
    SequenceSpec("14", "test", 1920, 1080, 25, 750, True, 3.0, 0.35, 12, False),
)


@dataclass(frozen=True)
class FrameObject:
    """One gt row of a frame: box ``(left, top, width, height)`` in pixels."""

    track_id: int
    cls: int
    consider: int
    box: tuple[int, int, int, int]
    visibility: float
    pixels: int  # all of the figure's pixels
    visible_pixels: int


@dataclass
class Agent:
    """A person (or mannequin, or reflection) and its motion state."""

    track_id: int
    cls: int
    app: Appearance
    x: float  # metres, lateral
    z: float  # metres, depth
    height_m: float
    heading: float = 0.0  # radians on the ground: 0 = +X (image right), pi/2 = away
    target_heading: float = 0.0
    speed: float = 0.0
    phase: float = 0.0
    swing: float = 0.0
    stop_left: float = 0.0  # seconds of standing still left
    facing: int = 1
    side: float = 1.0
    away: bool = False
    moves: bool = True

    def pose(self, height_px: float) -> Pose:
        return Pose(height_px, self.phase, self.swing, self.side, self.facing, self.away)


@dataclass
class _Glass:
    """A shop window on the facade, in panorama pixels (rows relative to the frame)."""

    x0: int
    x1: int
    y0: int
    y1: int
    agents: list[Agent] = field(default_factory=list)


class SequenceScene:
    """The world of one sequence at ``width`` x ``height`` (possibly scaled from the spec);
    :meth:`render` draws frame ``t`` (0-based) and must be called for t = 0, 1, 2, ...
    """

    def __init__(
        self, spec: SequenceSpec, width: int, height: int, num_frames: int, rng: np.random.Generator
    ):
        self.spec, self.w, self.h, self.n = spec, int(width), int(height), int(num_frames)
        self.rng = rng
        self.dt = 1.0 / spec.fps
        self.f = 1.1 * self.h
        self.horizon = spec.horizon * self.h
        # depth range: feet just below the bottom row (leaving) .. people ~5% of the height
        self.z_min = self.f * spec.cam_height / (1.08 * self.h - self.horizon)
        self.z_max = min(self.f * 1.75 / (0.06 * self.h), 60.0)
        self.z_max = max(self.z_max, 2.5 * self.z_min)
        self.z_facade = self.z_max * 1.15
        self._make_camera()
        self._next_id = 1
        self.agents: list[Agent] = []
        self.glass: _Glass | None = None
        self._t = 0
        self.panorama = self._paint_panorama()
        self._noise = [
            (rng.integers(0, 7, (self.h, self.w, 3), dtype=np.uint8),
             rng.integers(0, 7, (self.h, self.w, 3), dtype=np.uint8))
            for _ in range(3)
        ]  # fmt: skip
        self._populate()

    # ----- camera -----------------------------------------------------------------------
    def _make_camera(self) -> None:
        rng, n = self.rng, max(self.n, 1)
        t = np.arange(n, dtype=np.float64)
        if self.spec.moving:
            amp = rng.uniform(0.3, 0.6) * self.w
            period = rng.uniform(0.8, 1.6) * max(n, 2 * self.spec.fps)
            pan = amp * 0.5 * (1 - np.cos(2 * np.pi * t / period))
            bob = 0.008 * self.h * np.sin(2 * np.pi * t / (0.9 * self.spec.fps))
        else:
            pan = np.zeros(n)
            bob = np.zeros(n)
        self.pan = np.round(pan).astype(np.int64)
        self.bob = np.round(bob).astype(np.int64) if self.spec.width < 1000 else np.zeros(n, int)
        self.margin_y = int(np.abs(self.bob).max()) + 1
        self.pano_w = self.w + int(self.pan.max()) + 1

    def _project(self, a: Agent, t: int) -> tuple[float, float, float]:
        """Foot point (x, y) in the frame and the height in pixels of ``a`` at frame ``t``."""
        x = self.w / 2 + self.f * a.x / a.z - self.pan[t]
        y = self.horizon + self.f * self.spec.cam_height / a.z + self.bob[t]
        return x, y, self.f * a.height_m / a.z

    def _world_x(self, image_x: float, z: float, t: int) -> float:
        return (image_x - self.w / 2 + self.pan[t]) * z / self.f

    # ----- background ---------------------------------------------------------------------
    def _paint_panorama(self) -> np.ndarray:
        rng, h, w = self.rng, self.h + 2 * self.margin_y, self.pano_w
        my = self.margin_y
        pano = np.empty((h, w, 3), np.float32)
        ground_top = int(self.horizon + self.f * self.spec.cam_height / self.z_facade) + my
        ground_top = min(max(ground_top, 1), h - 1)
        # facade: buildings of different colours with rows of windows
        x = 0
        while x < w:
            bw = int(rng.uniform(0.25, 0.7) * self.w) + 1
            base = rng.uniform(70, 200, 3)
            pano[:ground_top, x : x + bw] = base
            win_w, win_h = max(2, int(0.03 * self.h)), max(2, int(0.05 * self.h))
            gap_x, gap_y = win_w * rng.uniform(1.6, 2.6), win_h * rng.uniform(1.5, 2.2)
            for wy in np.arange(ground_top - 2.4 * win_h, -win_h, -gap_y):
                for wx in np.arange(x + 0.5 * gap_x, x + bw - win_w, gap_x):
                    y0, x0 = int(wy), int(wx)
                    pano[max(y0, 0) : max(y0 + win_h, 0), x0 : x0 + win_w] = base * 0.45
            x += bw
        # a shop window: reflections (and its dark glass)
        if self.spec.shop_window and ground_top > 0.12 * self.h:
            gw = int(rng.uniform(0.3, 0.5) * self.w)
            gx0 = int(rng.uniform(0.1, 0.5) * self.w) + int(self.pan.max() * rng.random())
            gy1 = ground_top - my
            gy0 = max(int(gy1 - rng.uniform(0.5, 0.9) * max(gy1, 1)), -my)
            pano[gy0 + my : gy1 + my, gx0 : gx0 + gw] = (
                rng.uniform(40, 80, 3) * np.linspace(1.2, 0.8, gy1 - gy0)[:, None, None]
            )
            self.glass = _Glass(gx0, gx0 + gw, gy0, gy1)
        # pavement: slabs in perspective, converging to the vanishing point
        ground = rng.uniform(90, 170) + rng.uniform(-12, 12, 3)
        rows = np.arange(ground_top, h, dtype=np.float32)[:, None, None]
        pano[ground_top:] = ground * (0.85 + 0.25 * (rows - ground_top) / max(h - ground_top, 1))
        line = tuple(float(c) for c in ground * 0.7)
        thick = max(1, int(0.002 * self.h))
        z = self.z_facade
        while z > 0.5 * self.z_min:
            y = int(self.horizon + self.f * self.spec.cam_height / z) + my
            cv2.line(pano, (0, y), (w, y), line, thick)
            z -= 1.5
        y_far = int(self.horizon + self.f * self.spec.cam_height / self.z_facade) + my
        for xm in np.arange(-60, 60, 1.5):
            x_far = self.w / 2 + self.f * xm / self.z_facade
            x_near = self.w / 2 + self.f * xm / (0.3 * self.z_min)
            y_near = int(self.horizon + self.f * self.spec.cam_height / (0.3 * self.z_min)) + my
            cv2.line(pano, (int(x_far), y_far), (int(x_near), y_near), line, thick)
        # texture: large blotches and fine grain
        small = rng.uniform(0.8, 1.2, (max(h // 24, 2), max(w // 24, 2), 1)).astype(np.float32)
        pano *= cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
        pano += rng.normal(0, 6, (h, w, 1)).astype(np.float32)
        return np.clip(pano, 0, 255).astype(np.uint8)

    # ----- people -------------------------------------------------------------------------
    def _new_agent(self, cls: int, app: Appearance, x: float, z: float, **kw: object) -> Agent:
        agent = Agent(self._next_id, cls, app, x, z, float(self.rng.uniform(1.55, 1.95)), **kw)
        self._next_id += 1
        return agent

    def _random_heading(self) -> float:
        """Mostly across the view, sometimes towards or away from the camera."""
        rng = self.rng
        if rng.random() < 0.7:
            return float((0.0 if rng.random() < 0.5 else math.pi) + rng.normal(0, 0.35))
        return float((math.pi / 2 if rng.random() < 0.5 else -math.pi / 2) + rng.normal(0, 0.4))

    def _walker(self, x: float, z: float, heading: float) -> Agent:
        rng = self.rng
        return self._new_agent(
            PEDESTRIAN, random_appearance(rng), x, z, heading=heading, target_heading=heading,
            speed=float(rng.uniform(0.8, 1.7)), phase=float(rng.uniform(0, 2 * math.pi)),
            swing=1.0,
        )  # fmt: skip

    def _random_depth(self) -> float:
        return float(1.0 / self.rng.uniform(1.0 / (0.85 * self.z_max), 1.0 / (1.1 * self.z_min)))

    def _populate(self) -> None:
        rng = self.rng
        for _ in range(self.spec.people):
            z = self._random_depth()
            self.agents.append(
                self._walker(self._world_x(rng.uniform(0, self.w), z, 0), z, self._random_heading())
            )
        for _ in range(int(rng.integers(1, 4))):  # static people
            z = self._random_depth()
            x = self._world_x(rng.uniform(0.05, 0.95) * self.w, z, 0)
            self.agents.append(self._still(STATIC_PERSON, random_appearance(rng), x, z))
        for _ in range(int(rng.integers(1, 3))):  # mannequins near the facade
            z = self.z_facade * 0.97
            x = self._world_x(rng.uniform(0.05, 0.95) * self.pano_w, z, 0)
            self.agents.append(self._still(DISTRACTOR, mannequin_appearance(rng), x, z))
        if self.glass is not None:
            for _ in range(int(rng.integers(1, 3))):
                g = self.glass
                heading = 0.0 if rng.random() < 0.5 else math.pi
                x = float(rng.uniform(g.x0, g.x1))
                agent = self._new_agent(
                    REFLECTION, random_appearance(rng), x, 1.0, heading=heading,
                    speed=float(rng.uniform(1, 1.5)), swing=1.0,
                )  # fmt: skip
                g.agents.append(agent)

    def _still(self, cls: int, app: Appearance, x: float, z: float) -> Agent:
        rng = self.rng
        return self._new_agent(
            cls, app, x, z, side=float(rng.uniform(0, 1)), facing=1 if rng.random() < 0.5 else -1,
            moves=False,
        )  # fmt: skip

    def _step(self, a: Agent) -> None:
        rng, dt = self.rng, self.dt
        if a.stop_left > 0:
            a.stop_left -= dt
        elif rng.random() < 0.05 * dt:  # stop now and then, for 1-5 s
            a.stop_left = float(rng.uniform(1, 5))
        if rng.random() < 0.08 * dt:  # change direction
            a.target_heading = a.heading + float(rng.choice([-1, 1]) * rng.uniform(0.5, 2.6))
        if a.z < 1.05 * self.z_min and math.sin(a.target_heading) < 0:
            a.target_heading = -a.target_heading  # walk back into the depth
        if a.z > 0.9 * self.z_max and math.sin(a.target_heading) > 0:
            a.target_heading = -a.target_heading
        turn = (a.target_heading - a.heading + math.pi) % (2 * math.pi) - math.pi
        a.heading += max(-1.6 * dt, min(1.6 * dt, turn))  # ~90 degrees per second
        moving = a.stop_left <= 0
        a.swing += (float(moving) - a.swing) * min(1.0, 4 * dt)
        speed = a.speed * a.swing
        a.x += speed * math.cos(a.heading) * dt
        a.z = max(a.z + speed * math.sin(a.heading) * dt, 0.6 * self.z_min)
        a.phase += 2 * math.pi * speed / 1.4 * dt
        a.side = abs(math.cos(a.heading))
        a.facing = 1 if math.cos(a.heading) >= 0 else -1
        a.away = math.sin(a.heading) > 0.35

    def _step_world(self, t: int) -> None:
        rng = self.rng
        for a in self.agents:
            if a.moves:
                self._step(a)
        # leave: far outside the view
        kept = []
        for a in self.agents:
            x, _, hp = self._project(a, t)
            if a.moves and (x < -0.5 * self.w - hp or x > 1.5 * self.w + hp):
                continue
            kept.append(a)
        self.agents = kept
        # arrive at the left or right edge while fewer than ``people`` walk in view
        walking = sum(1 for a in self.agents if a.moves and 0 <= self._project(a, t)[0] < self.w)
        if walking < self.spec.people and rng.random() < 4.0 * self.dt:
            z = self._random_depth()
            hp = self.f * 1.75 / z
            left = rng.random() < 0.5
            image_x = -0.3 * hp if left else self.w + 0.3 * hp
            heading = (0.0 if left else math.pi) + float(rng.normal(0, 0.3))
            self.agents.append(self._walker(self._world_x(image_x, z, t), z, heading))
        if self.glass is not None:
            for a in self.glass.agents:
                a.x += a.speed * 60 * (self.h / 1080) * math.cos(a.heading) * self.dt
                a.phase += 2 * math.pi * a.speed / 1.4 * self.dt
                a.side, a.facing = 1.0, (1 if math.cos(a.heading) >= 0 else -1)
                if (a.x > self.glass.x1 and a.facing > 0) or (a.x < self.glass.x0 and a.facing < 0):
                    a.heading = math.pi - a.heading

    # ----- rendering ----------------------------------------------------------------------
    def render(self, t: int) -> tuple[np.ndarray, np.ndarray, list[FrameObject]]:
        """Frame ``t``: ``(image (H, W, 3) uint8 BGR, id map (H, W) int32, gt objects)``.

        The id map holds at each pixel the ``track_id`` of the figure seen there, 0 for the
        background.
        """
        if t != self._t:
            raise ValueError(f"frames must be rendered in order: expected {self._t}, got {t}")
        if t > 0:
            self._step_world(t)
        self._t += 1
        h, w, my = self.h, self.w, self.margin_y
        y0 = my - int(self.bob[t])
        image = self.panorama[y0 : y0 + h, int(self.pan[t]) : int(self.pan[t]) + w].copy()
        ids = np.zeros((h, w), np.int32)
        drawn: list[tuple[Agent, RenderedFigure, int]] = []
        if self.glass is not None:
            drawn += self._draw_reflections(image, ids, t)
        order = sorted(self.agents, key=lambda a: -a.z)
        for a in order:
            fx, fy, hp = self._project(a, t)
            if fx < -hp or fx > w + hp or fy - hp > h or hp < 4:
                continue
            fig = render_figure(a.app, a.pose(hp), fx, fy)
            self._shadow(image, fx, fy, hp)
            _paste(image, ids, fig, a.track_id)
            drawn.append((a, fig, int(fig.mask.sum())))
        objects = []
        for a, fig, total in drawn:
            inside = _crop(fig, w, h)
            if inside is None:
                continue
            frame_sl, fig_sl = inside
            if not fig.mask[fig_sl].any():
                continue
            visible = int(np.count_nonzero(ids[frame_sl] == a.track_id))
            objects.append(
                FrameObject(
                    a.track_id,
                    a.cls,
                    int(a.cls == PEDESTRIAN),
                    fig.box_ltwh,
                    visible / max(total, 1),
                    total,
                    visible,
                )  # fmt: skip
            )
        pos, neg = self._noise[t % len(self._noise)]
        cv2.add(image, pos, dst=image)
        cv2.subtract(image, neg, dst=image)
        return image, ids, objects

    def _draw_reflections(
        self, image: np.ndarray, ids: np.ndarray, t: int
    ) -> list[tuple[Agent, RenderedFigure, int]]:
        """Faint mirrored people inside the shop window; their pixels are the window's part."""
        g = self.glass
        assert g is not None
        out = []
        gx0, gx1 = g.x0 - int(self.pan[t]), g.x1 - int(self.pan[t])
        gy0, gy1 = g.y0 + int(self.bob[t]), g.y1 + int(self.bob[t])
        hp = 0.55 * (gy1 - gy0)
        for a in g.agents:
            fig = render_figure(a.app, a.pose(hp), a.x - self.pan[t], gy1 + 0.02 * hp)
            fig = RenderedFigure(fig.image[:, ::-1], fig.mask[:, ::-1], fig.x0, fig.y0)
            mh, mw = fig.mask.shape
            ys = np.arange(fig.y0, fig.y0 + mh)[:, None]
            xs = np.arange(fig.x0, fig.x0 + mw)[None, :]
            in_glass = (ys >= gy0) & (ys < gy1) & (xs >= gx0) & (xs < gx1)
            mask = fig.mask & in_glass
            if not mask.any():
                continue
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            fig = RenderedFigure(
                fig.image[r0:r1, c0:c1], mask[r0:r1, c0:c1], fig.x0 + int(c0), fig.y0 + int(r0)
            )
            inside = _crop(fig, self.w, self.h)
            if inside is not None:
                frame_sl, fig_sl = inside
                m = fig.mask[fig_sl]
                region = image[frame_sl]
                blend = 0.6 * region[m].astype(np.float32) + 0.4 * fig.image[fig_sl][m]
                region[m] = blend.astype(np.uint8)
                ids[frame_sl][m] = a.track_id
            out.append((a, fig, int(fig.mask.sum())))
        return out

    def _shadow(self, image: np.ndarray, fx: float, fy: float, hp: float) -> None:
        ax, ay = max(1, int(0.16 * hp)), max(1, int(0.03 * hp))
        x0, x1 = max(int(fx) - ax, 0), min(int(fx) + ax + 1, self.w)
        y0, y1 = max(int(fy) - ay, 0), min(int(fy) + ay + 1, self.h)
        if x1 <= x0 or y1 <= y0:
            return
        region = image[y0:y1, x0:x1]
        mask = np.zeros(region.shape[:2], np.uint8)
        cv2.ellipse(mask, (int(fx) - x0, int(fy) - y0), (ax, ay), 0, 0, 360, 1, -1)
        m = mask.astype(bool)
        region[m] = (region[m] * 0.65).astype(np.uint8)


def _crop(
    fig: RenderedFigure, w: int, h: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """``(frame slices, figure slices)`` of the part of ``fig`` inside a ``w`` x ``h`` frame."""
    fh, fw = fig.mask.shape
    x0, y0 = max(fig.x0, 0), max(fig.y0, 0)
    x1, y1 = min(fig.x0 + fw, w), min(fig.y0 + fh, h)
    if x1 <= x0 or y1 <= y0:
        return None
    return (
        (slice(y0, y1), slice(x0, x1)),
        (slice(y0 - fig.y0, y1 - fig.y0), slice(x0 - fig.x0, x1 - fig.x0)),
    )


def _paste(image: np.ndarray, ids: np.ndarray, fig: RenderedFigure, track_id: int) -> None:
    inside = _crop(fig, image.shape[1], image.shape[0])
    if inside is None:
        return
    frame_sl, fig_sl = inside
    m = fig.mask[fig_sl]
    np.copyto(image[frame_sl], fig.image[fig_sl], where=m[..., None])
    np.copyto(ids[frame_sl], track_id, where=m)
