"""A synthetic Cityscapes: procedurally drawn street scenes with exact labelIds and instances.

Each image is a street seen from a car (pinhole camera 1.3-1.8 m above the road, horizon at
36-47 % of the height): sky and a far skyline, a road with lane markings (sometimes a
crosswalk, a parking strip, tram rails), sidewalks with paving, grass strips, facades with
windows in perspective, walls, fences, hedges, then standing things sorted far to near: poles
carrying traffic signs and lights, trees, pedestrians, cars, trucks, buses, trams, riders on
bicycles and motorcycles, parked two-wheelers, bins. Sizes follow the distance. Every class
has its own colours and texture, with random tints, noise, ground shadows, global lighting and
sensor noise, so the task is learnable but not trivial. Void pixels: the ego vehicle's bonnet,
an out-of-roi frame, rectification borders, parking, rail track, static objects, ground.

All 19 evaluated classes are present across any 9 consecutive images of a split (two of the
rarer ones are forced in turn into each image); most images hold most classes.

Written layout (as the real release)::

    <out>/leftImg8bit/{train,val,test}/{city}/{city}_{seq:06d}_000019_leftImg8bit.png
    <out>/gtFine/{split}/{city}/..._gtFine_labelIds.png     (8-bit labelIds)
    <out>/gtFine/{split}/{city}/..._gtFine_instanceIds.png  (16-bit: labelId*1000+k, or labelId)
    <out>/gtFine/{split}/{city}/..._gtFine_color.png        (official palette)
    <out>/README_synthetic.txt                              (written last: marks a complete tree)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from hat.data.cityscapes_labels import color_of_label_ids
from hat.data.readers.cityscapes_layout import (
    COLOR_SUFFIX,
    IMG_SUFFIX,
    INSTANCE_SUFFIX,
    LABEL_SUFFIX,
)
from hat.data.synthetic.cityscapes_canvas import Camera, Canvas, jitter_color
from hat.data.synthetic.cityscapes_objects import (
    BUILDING_COLORS,
    ID,
    paint_bicycle,
    paint_building_side,
    paint_fence,
    paint_motorcycle,
    paint_person,
    paint_pole,
    paint_tree,
    paint_vehicle,
    paint_wall,
)
from hat.utils.process_map import ProcessMap

__all__ = [
    "RARE_CLASSES",
    "TEST_CITIES",
    "TRAIN_CITIES",
    "VAL_CITIES",
    "SyntheticSeg",
    "make_cityscapes",
    "render_scene",
    "sample_rng",
]

TRAIN_CITIES = (
    "aachen", "bochum", "bremen", "cologne", "darmstadt", "dusseldorf", "erfurt", "hamburg",
    "hanover", "jena", "krefeld", "monchengladbach", "strasbourg", "stuttgart", "tubingen", "ulm",
    "weimar", "zurich",
)  # fmt: skip
VAL_CITIES = ("frankfurt", "lindau", "munster")
TEST_CITIES = ("berlin", "bielefeld", "bonn", "leverkusen", "mainz", "munich")
SPLIT_CITIES = {"train": TRAIN_CITIES, "val": VAL_CITIES, "test": TEST_CITIES}
SPLIT_KEYS = {"train": 0, "val": 1, "test": 2}
RARE_CLASSES = (
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
    "rider",
    "wall",
    "fence",
    "terrain",
)
GROUND_IDS = (
    ID["road"],
    ID["sidewalk"],
    ID["terrain"],
    ID["parking"],
    ID["rail track"],
    ID["ground"],
)
_PALETTE = np.array(color_of_label_ids(), np.uint8)
# Depth ranges (m) of standing things: near enough to stay a few output cells wide at 128x256.
DEPTHS = {
    "pole": (5, 28), "tree": (7, 50), "person": (4, 22), "crossing": (6, 18), "car": (5, 40),
    "big": (7, 30), "train": (7, 25), "two-wheeler": (4, 18), "bin": (5, 25),
}  # fmt: skip


@dataclass
class SyntheticSeg:
    """``image`` (H, W, 3) uint8 RGB, ``label_ids`` (H, W) uint8, ``instance_ids`` (H, W) uint16."""

    image: np.ndarray
    label_ids: np.ndarray
    instance_ids: np.ndarray

    @property
    def color(self) -> np.ndarray:
        """The ``_gtFine_color`` picture (RGB) of the labels."""
        return _PALETTE[self.label_ids]


@dataclass
class _Street:
    """Lateral layout (metres, X to the right): road, sidewalks, grass strips, building lines."""

    road_l: float
    road_r: float
    walk_l: float
    walk_r: float
    grass_l: float
    grass_r: float

    def edge(self, side: int) -> float:
        """Road edge (curb) on ``side`` (-1 left, +1 right)."""
        return -self.road_l if side < 0 else self.road_r

    def walk_out(self, side: int) -> float:
        """Outer edge of the sidewalk."""
        return self.edge(side) + side * (self.walk_l if side < 0 else self.walk_r)

    def building(self, side: int) -> float:
        return self.walk_out(side) + side * (self.grass_l if side < 0 else self.grass_r)


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of ``split``: independent of the number of samples."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_KEYS[split], index)))


# ------------------------------------------------------------------ background and ground
def _sky(cv: Canvas, cam: Camera, rng: np.random.Generator) -> None:
    overcast = rng.random() < 0.35
    top = np.array((200, 205, 210) if overcast else (95, 145, 215), np.float32)
    low = np.array((225, 228, 230) if overcast else (175, 205, 235), np.float32)
    top, low = jitter_color(rng, top, 0.08), jitter_color(rng, low, 0.05)
    clouds = cv.mottled((0, 0, 0), (255, 255, 255), fine=0, scale="coarse")
    amount = rng.uniform(0.0, 0.5)
    horizon = max(cam.yh, 1.0)

    def tex(y0: int, x0: int, h: int, w: int) -> np.ndarray:
        t = np.clip(np.arange(y0, y0 + h, dtype=np.float32) / horizon, 0, 1)[:, None, None]
        base = top * (1 - t) + low * t
        c = clouds(y0, x0, h, w)[..., :1] / 255.0
        c = np.clip((c - 0.55) * 3, 0, 1) * amount
        return base * (1 - c) + 240 * c + np.zeros((1, w, 1), np.float32)

    cv.paint_mask(np.ones((cv.h, cv.w), bool), 0, 0, ID["sky"], tex)


def _skyline(cv: Canvas, cam: Camera, rng: np.random.Generator, haze: np.ndarray) -> None:
    """Far buildings and trees across the horizon, hazy."""
    z = rng.uniform(110, 200)
    half = (cv.w / cam.f) * z
    x = -half - rng.uniform(0, 20)
    while x < half:
        w = rng.uniform(8, 30)
        s = cam.ppm(z)
        x0, yb = cam.project(x, 0.0, z)
        if rng.random() < 0.25:  # trees
            h = rng.uniform(6, 14)
            tex = cv.mottled(haze * 0.4 + (40, 70, 30), haze * 0.4 + (80, 110, 50), fine=8)
            cv.paint_ellipse(
                (x0 + w * s / 2, yb - h * s / 2), (w * s / 2, h * s / 2), ID["vegetation"], tex
            )
        else:
            h = rng.uniform(8, 40)
            color = 0.55 * jitter_color(rng, BUILDING_COLORS[rng.integers(10)]) + 0.45 * haze
            cv.paint_poly(
                [(x0, yb), (x0 + w * s, yb), (x0 + w * s, yb - h * s), (x0, yb - h * s)],
                ID["building"],
                cv.solid(color, fine=4, med=0.05),
            )
        x += w + (rng.uniform(2, 15) if rng.random() < 0.3 else 0.0)


def _ground_strip(
    cv: Canvas, cam: Camera, x0: float, x1: float, z0: float, z1: float, label: int, tex
) -> None:
    cv.paint_poly(cam.ground_quad(x0, x1, z0, z1), label, tex)


def _ground_lines(
    cv: Canvas, cam: Camera, segs: list[tuple[float, float, float, float]], label: int, color
) -> None:
    """Thin ground rectangles along Z: ``(x, z0, z1, width)`` in metres."""
    for x, z0, z1, w in segs:
        _ground_strip(cv, cam, x - w / 2, x + w / 2, z0, z1, label, color)


def _ground(
    cv: Canvas, cam: Camera, rng: np.random.Generator, st: _Street, want: set[str], z_far: float
) -> dict:
    """Paint the ground plane; returns facts the rest of the scene needs (the tram lane)."""
    zn = 0.5
    grass = cv.mottled(
        jitter_color(rng, (95, 130, 50), 0.2), jitter_color(rng, (150, 160, 80), 0.2), fine=10
    )
    if rng.random() < 0.2:  # dry soil instead of grass
        grass = cv.mottled((120, 100, 70), (150, 130, 95), fine=10)
    _ground_strip(cv, cam, -400, 400, zn, z_far, ID["terrain"], grass)
    asphalt = cv.solid(jitter_color(rng, (95, 95, 100), 0.2), fine=9, med=0.05, coarse=0.06)
    _ground_strip(cv, cam, -st.road_l, st.road_r, zn, z_far, ID["road"], asphalt)
    facts: dict = {"tram_x": None}
    if "train" in want:  # tram rails in a lane
        tx = rng.uniform(-st.road_l + 1.5, st.road_r - 1.5)
        rail_bed = cv.solid(jitter_color(rng, (105, 100, 95), 0.15), fine=10, med=0.08)
        _ground_strip(cv, cam, tx - 1.0, tx + 1.0, zn, z_far, ID["rail track"], rail_bed)
        rails = [(tx - 0.72, zn, z_far, 0.1), (tx + 0.72, zn, z_far, 0.1)]
        _ground_lines(cv, cam, rails, ID["rail track"], (175, 175, 180))
        facts["tram_x"] = tx
    _road_markings(cv, cam, rng, st, facts["tram_x"], zn)
    if rng.random() < 0.3:  # a parking strip along a curb (void)
        side = 1 if rng.random() < 0.5 else -1
        e = st.edge(side)
        za = rng.uniform(5, 20)
        park = cv.solid(jitter_color(rng, (120, 115, 115), 0.1), fine=8, med=0.05)
        x0, x1 = sorted((e, e - side * 2.2))
        _ground_strip(cv, cam, x0, x1, za, za + rng.uniform(8, 30), ID["parking"], park)
    for side in (-1, 1):
        _sidewalk(cv, cam, rng, st, side, grass, zn, z_far)
    _ground_shadows(cv, cam, rng, st)
    return facts


def _road_markings(
    cv: Canvas, cam: Camera, rng: np.random.Generator, st: _Street, tram_x: float | None, zn: float
) -> None:
    """Dashed centre line, edge lines, sometimes a crosswalk (all labelled road)."""
    white = jitter_color(rng, (225, 225, 220), 0.08)
    mid = -st.road_l + (st.road_l + st.road_r) * rng.uniform(0.4, 0.6)
    if tram_x is None or abs(mid - tram_x) > 1.3:
        dash, gap = rng.uniform(2.5, 4.0), rng.uniform(4.0, 8.0)
        z = zn + rng.uniform(0, dash + gap)
        segs = []
        while z < 120:
            segs.append((mid, z, z + dash, 0.18))
            z += dash + gap
        _ground_lines(cv, cam, segs, ID["road"], white)
    if rng.random() < 0.6:
        edges = [(-st.road_l + 0.35, zn, 150, 0.15), (st.road_r - 0.35, zn, 150, 0.15)]
        _ground_lines(cv, cam, edges, ID["road"], white)
    if rng.random() < 0.25:  # crosswalk
        zc = rng.uniform(9, 30)
        x = -st.road_l + 0.3
        segs = []
        while x < st.road_r - 0.3:
            segs.append((x + 0.25, zc, zc + 3.0, 0.5))
            x += 1.0
        _ground_lines(cv, cam, segs, ID["road"], white)


def _sidewalk(
    cv: Canvas, cam: Camera, rng: np.random.Generator, st: _Street, side: int, grass,
    zn: float, z_far: float,
) -> None:  # fmt: skip
    """Paving with joints and a curb stone; sometimes a grass verge or a bare patch."""
    paving = jitter_color(rng, [(150, 150, 150), (175, 165, 150), (160, 120, 110)][rng.integers(3)])
    walk = cv.solid(paving, fine=7, med=0.05, coarse=0.04)
    e, o = st.edge(side), st.walk_out(side)
    _ground_strip(cv, cam, min(e, o), max(e, o), zn, z_far, ID["sidewalk"], walk)
    _paving_grid(cv, cam, rng, min(e, o), max(e, o), paving * 0.75)
    _ground_lines(cv, cam, [(e + side * 0.1, zn, z_far, 0.2)], ID["sidewalk"], paving * 1.15)
    if rng.random() < 0.3:  # a grass verge along the curb
        v = e + side * rng.uniform(1.0, 2.5)
        _ground_strip(cv, cam, min(e, v), max(e, v), zn, z_far, ID["terrain"], grass)
    if rng.random() < 0.2:  # a patch of bare ground (void)
        za = rng.uniform(6, 25)
        x0, x1 = sorted((o, o - side * 0.8))
        _ground_strip(cv, cam, x0, x1, za, za + 4, ID["ground"], (125, 105, 85))


def _paving_grid(
    cv: Canvas, cam: Camera, rng: np.random.Generator, x0: float, x1: float, color
) -> None:
    """Tile joints: lines of constant Z (while they stay apart on screen) and of constant X."""
    step = rng.uniform(0.6, 1.2)
    joints = []
    z = 0.5
    while z < 60 and cam.project(0, 0, z)[1] - cam.project(0, 0, z + step)[1] > 2.5:
        joints.append(z)
        z += step
    lid = ID["sidewalk"]
    for z in joints:
        _ground_strip(cv, cam, x0, x1, z, z + 0.04 * z**0.5, lid, color)
    x = x0 + step
    while x < x1 - 0.1:
        _ground_lines(cv, cam, [(x, 0.5, 40.0, 0.05)], lid, color)
        x += step


def _ground_shadows(cv: Canvas, cam: Camera, rng: np.random.Generator, st: _Street) -> None:
    """Sunny days: darken bands of the ground where buildings cast shadows."""
    if rng.random() < 0.4:
        return
    side = 1 if rng.random() < 0.5 else -1
    shade = rng.uniform(0.45, 0.75)
    z = rng.uniform(0.5, 10)
    while z < 150:
        length = rng.uniform(8, 35)
        reach = rng.uniform(2, st.road_l + st.road_r + 4)
        b = st.building(side)
        quad = cam.ground_quad(min(b, b - side * reach), max(b, b - side * reach), z, z + length)
        mask = np.zeros((cv.h, cv.w), np.uint8)
        cv2.fillPoly(mask, [np.round(quad).astype(np.int32)], 1)
        sel = mask.astype(bool) & np.isin(cv.label, GROUND_IDS)
        cv.img[sel] *= shade
        z += length + rng.uniform(5, 30)


# ------------------------------------------------------------------ sides of the street
def _sides(cv: Canvas, cam: Camera, rng: np.random.Generator, st: _Street, want: set[str]) -> None:
    forced_side = {name: (1 if rng.random() < 0.5 else -1) for name in ("wall", "fence")}
    for side in (-1, 1):
        xb = st.building(side)
        green = rng.random() < 0.2  # a park: trees instead of facades
        z = rng.uniform(1.0, 6.0)
        segs = []
        while z < 170:
            length = rng.uniform(8, 30)
            if not green and rng.random() > 0.12:
                segs.append((z, z + length, rng.uniform(6, 28)))
            z += length
        for z0, z1, h in reversed(segs):
            paint_building_side(cv, cam, rng, xb, z0, z1, h)
        if green:
            veg = _foliage(cv, rng)
            quad = cam.side_quad(xb, 1.0, 170, 0.0, rng.uniform(4, 12))
            cv.paint_poly(quad, ID["vegetation"], veg)
        xo = st.walk_out(side)
        for name, prob in (("fence", 0.35), ("wall", 0.35), ("hedge", 0.3)):
            forced = name in want and forced_side.get(name) == side
            if not forced and rng.random() > prob:
                continue
            z0 = rng.uniform(4, 25)
            z1 = z0 + rng.uniform(6, 30)
            if name == "wall":
                paint_wall(cv, cam, rng, xo, z0, z1, rng.uniform(0.8, 2.5))
            elif name == "fence":
                paint_fence(cv, cam, rng, xo, z0, z1, rng.uniform(1.0, 2.2))
            else:
                quad = cam.side_quad(xo, z0, z1, 0.0, rng.uniform(0.7, 1.6))
                cv.paint_poly(quad, ID["vegetation"], _foliage(cv, rng))
        if rng.random() < 0.1:  # guard rail (void)
            e = st.edge(side) - side * 0.15
            z0 = rng.uniform(5, 20)
            quad = cam.side_quad(e, z0, z0 + rng.uniform(10, 40), 0.4, 0.75)
            cv.paint_poly(quad, ID["guard rail"], cv.solid((170, 170, 175), fine=5))


def _foliage(cv: Canvas, rng: np.random.Generator):
    return cv.mottled(jitter_color(rng, (40, 78, 32)), jitter_color(rng, (85, 125, 50)), fine=14)


# ------------------------------------------------------------------ things standing in the street
Painter = Callable[[float], None]
Thing = tuple[float, Painter, tuple[str, ...]]


def _things(
    cv: Canvas, cam: Camera, rng: np.random.Generator, st: _Street, want: set[str], facts: dict
) -> list[Thing]:
    """Standing things as ``(depth, paint(depth), classes)``; painted far to near."""
    out: list[Thing] = []

    def add(z: float, fn: Callable[..., None], x: float, *rest, classes: tuple = ()) -> None:
        z = max(z, cam.min_depth_in_view(x))  # not wasted outside the frame
        paint = lambda zz, fn=fn, x=x, rest=rest: fn(cv, cam, rng, x, zz, *rest)  # noqa: E731
        out.append((z, paint, classes))

    def side() -> int:
        return 1 if rng.random() < 0.5 else -1

    def walk(s: int) -> float:
        return st.walk_r if s > 0 else st.walk_l

    def road(s: int) -> float:
        return st.road_r if s > 0 else st.road_l

    extra = rng.choice(["plain", "sign", "light"], int(rng.integers(1, 5)))
    for kind in ["sign", "light", *[str(k) for k in extra]]:
        s = side()
        add(rng.uniform(*DEPTHS["pole"]), paint_pole, st.edge(s) + s * rng.uniform(0.3, 0.8), kind)
    for _ in range(int(rng.integers(1, 6))):
        s = side()
        x = st.edge(s) + s * rng.uniform(0.6, 0.9) * walk(s)
        if rng.random() < 0.4:
            x = st.walk_out(s) + s * rng.uniform(0.5, 2.0)
        add(rng.uniform(*DEPTHS["tree"]), paint_tree, x)
    for _ in range(int(rng.integers(1, 6))):
        s = side()
        add(
            rng.uniform(*DEPTHS["person"]),
            paint_person,
            st.edge(s) + s * rng.uniform(0.4, max(walk(s) - 0.3, 0.5)),
        )
    if rng.random() < 0.3:
        add(
            rng.uniform(*DEPTHS["crossing"]),
            paint_person,
            rng.uniform(-st.road_l + 0.5, st.road_r - 0.5),
        )
    for _ in range(int(rng.integers(1, 6))):
        s = side()
        lane = rng.random() < 0.55
        x = s * rng.uniform(1.0, max(road(s) - 1.2, 1.1)) if lane else st.edge(s) - s * 1.1
        add(rng.uniform(*DEPTHS["car"]), paint_vehicle, x, "car", lane and s < 0)
    for kind, prob in (("truck", 0.3), ("bus", 0.3)):
        if kind in want or rng.random() < prob:
            s = side()
            x = s * rng.uniform(1.3, max(road(s) - 1.3, 1.4))
            add(rng.uniform(*DEPTHS["big"]), paint_vehicle, x, kind, s < 0, classes=(kind,))
    if facts["tram_x"] is not None:
        z = rng.uniform(*DEPTHS["train"])
        add(z, paint_vehicle, facts["tram_x"], "train", rng.random() < 0.5, classes=("train",))
    for kind, prob in (("bicycle", 0.4), ("motorcycle", 0.3)):
        if kind in want or (kind == "bicycle" and "rider" in want) or rng.random() < prob:
            s = side()
            ridden = "rider" in want or rng.random() < 0.6
            x = st.edge(s) - s * rng.uniform(0.5, 1.5) if ridden else st.edge(s) + s * 0.8
            add(
                rng.uniform(*DEPTHS["two-wheeler"]),
                _paint_two_wheeler,
                x,
                kind,
                ridden,
                1 if rng.random() < 0.5 else -1,
                classes=(kind, "rider") if ridden else (kind,),
            )
    if rng.random() < 0.4:  # a bin (void "static")
        s = side()
        add(rng.uniform(*DEPTHS["bin"]), _paint_bin, st.edge(s) + s * rng.uniform(0.3, 1.0))
    return out


def _paint_two_wheeler(
    cv: Canvas,
    cam: Camera,
    rng: np.random.Generator,
    x: float,
    z: float,
    kind: str,
    ridden: bool,
    facing: int,
) -> None:
    painter = paint_bicycle if kind == "bicycle" else paint_motorcycle
    seat = painter(cv, cam, rng, x, z, facing)
    if ridden:
        paint_person(cv, cam, rng, x, z, "rider", seated=seat)


def _paint_bin(cv: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float) -> None:
    s = cam.ppm(z)
    bx, by = cam.project(x, 0.0, z)
    w, h = rng.uniform(0.25, 0.4) * s, rng.uniform(0.8, 1.1) * s
    color = jitter_color(rng, [(60, 90, 60), (90, 90, 95), (150, 120, 40)][rng.integers(3)])
    cv.paint_poly(
        [(bx - w, by), (bx + w, by), (bx + w, by - h), (bx - w, by - h)],
        ID["static"],
        cv.solid(color, fine=5),
    )


# ------------------------------------------------------------------ void overlays and camera
def _void_overlays(cv: Canvas, rng: np.random.Generator) -> None:
    h, w = cv.h, cv.w
    if rng.random() < 0.9:  # the ego vehicle's bonnet
        top = h * (1 - rng.uniform(0.05, 0.11))
        color = jitter_color(rng, [(30, 30, 35), (170, 170, 175), (60, 70, 90)][rng.integers(3)])
        cv.paint_ellipse(
            (w / 2 + rng.normal(0, 0.03 * w), top + h * 0.5),
            (w * 0.8, h * 0.5),
            ID["ego vehicle"],
            cv.solid(color, fine=3, med=0.08, coarse=0.1),
        )
    if rng.random() < 0.3:
        b = max(1, int(w * rng.uniform(0.005, 0.02)))
        for x0 in (0, w - b):
            m = np.ones((h, b), bool)
            cv.paint_mask(m, 0, x0, ID["rectification border"], (5, 5, 5))
    if rng.random() < 0.5:
        b = max(1, int(round(2 * cv.unit)))
        m = np.zeros((h, w), bool)
        m[:b], m[-b:], m[:, :b], m[:, -b:] = True, True, True, True
        cv.paint_mask(m, 0, 0, ID["out of roi"], (0, 0, 0))


def _camera_look(cv: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Global light, white balance, vignetting, blur and sensor noise -> uint8 RGB."""
    img = cv.img * rng.uniform(0.65, 1.2) * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    yy, xx = np.mgrid[0 : cv.h, 0 : cv.w].astype(np.float32)
    r2 = ((xx / cv.w - 0.5) ** 2 + (yy / cv.h - 0.5) ** 2) * 2
    img *= (1 - rng.uniform(0.0, 0.3) * r2)[..., None]
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.8) * max(cv.unit, 0.5))
    img += rng.normal(0, rng.uniform(2, 6), img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def render_scene(
    rng: np.random.Generator, height: int = 256, width: int = 512, force: tuple[str, ...] = ()
) -> SyntheticSeg:
    """Render one street scene; ``force`` names classes (from :data:`RARE_CLASSES`) to include."""
    want = set(force)
    cv = Canvas(rng, height, width)
    cam = Camera(
        f=width * rng.uniform(1.05, 1.35),
        h_cam=rng.uniform(1.3, 1.8),
        xv=width * rng.uniform(0.42, 0.58),
        yh=height * rng.uniform(0.36, 0.47),
        height=height,
        width=width,
    )
    st = _Street(
        road_l=rng.uniform(3.2, 7.5),
        road_r=rng.uniform(3.2, 7.5),
        walk_l=rng.uniform(1.8, 5.0),
        walk_r=rng.uniform(1.8, 5.0),
        grass_l=rng.uniform(2.5, 6.0) if "terrain" in want or rng.random() < 0.6 else 0.0,
        grass_r=rng.uniform(2.5, 6.0) if rng.random() < 0.6 else 0.0,
    )
    if "train" not in want and rng.random() < 0.2:
        want.add("train")
    _sky(cv, cam, rng)
    haze = np.array((200, 205, 210), np.float32)
    _skyline(cv, cam, rng, haze)
    facts = _ground(cv, cam, rng, st, want, z_far=400.0)
    _sides(cv, cam, rng, st, want)
    things = _things(cv, cam, rng, st, want, facts)
    for z, paint, _ in sorted(things, key=lambda t: -t[0]):
        paint(z)
    for name in sorted(want):  # a forced thing hidden by nearer ones is painted again on top
        if not (cv.label == ID[name]).any():
            for z, paint, classes in things:
                if name in classes:
                    paint(z)
                    break
    _void_overlays(cv, rng)
    return SyntheticSeg(_camera_look(cv, rng), cv.label.copy(), cv.inst.copy())


# ------------------------------------------------------------------ writing the tree
def _sample_names(split: str, n: int) -> list[tuple[str, str]]:
    """``(city, stem)`` of each sample: cities in blocks, ``{city}_{seq:06d}_000019``."""
    cities = SPLIT_CITIES[split]
    out, seq = [], {}
    for i in range(n):
        city = cities[i * len(cities) // n]
        k = seq.get(city, 0)
        seq[city] = k + 1
        out.append((city, f"{city}_{k:06d}_{19:06d}"))
    return out


def forced_classes(index: int) -> tuple[str, str]:
    """The two rarer classes forced into image ``index``: any 9 consecutive images hold all."""
    n = len(RARE_CLASSES)
    return RARE_CLASSES[index % n], RARE_CLASSES[(index + 4) % n]


class _SampleWriter:
    """Picklable: render sample ``(split, index)`` and write its four files."""

    def __init__(self, out_dir: str, seed: int, height: int, width: int, names: dict) -> None:
        self.out_dir, self.seed, self.height, self.width = out_dir, seed, height, width
        self.names = names

    def __call__(self, job: tuple[str, int]) -> None:
        split, index = job
        city, stem = self.names[split][index]
        scene = render_scene(
            sample_rng(self.seed, split, index), self.height, self.width, forced_classes(index)
        )
        img_dir = os.path.join(self.out_dir, "leftImg8bit", split, city)
        gt_dir = os.path.join(self.out_dir, "gtFine", split, city)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(gt_dir, exist_ok=True)
        _imwrite(os.path.join(img_dir, stem + IMG_SUFFIX), scene.image[..., ::-1])
        _imwrite(os.path.join(gt_dir, stem + LABEL_SUFFIX), scene.label_ids)
        _imwrite(os.path.join(gt_dir, stem + INSTANCE_SUFFIX), scene.instance_ids)
        _imwrite(os.path.join(gt_dir, stem + COLOR_SUFFIX), scene.color[..., ::-1])


def _imwrite(path: str, img: np.ndarray) -> None:
    if not cv2.imwrite(path, np.ascontiguousarray(img), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"could not write {path}")


README_NAME = "README_synthetic.txt"


def make_cityscapes(
    out_dir: str,
    num_train: int,
    num_val: int,
    num_test: int = 0,
    seed: int = 0,
    height: int = 256,
    width: int = 512,
    num_workers: int = 0,
    overwrite: bool = False,
) -> dict[str, int]:
    """Write a synthetic Cityscapes tree at ``out_dir``; same arguments -> identical files.

    If ``out_dir`` already holds a complete tree made with the same arguments, nothing is
    written (``summary["skipped"] == 1``); a different or incomplete tree needs ``overwrite``.
    """
    counts = {"train": int(num_train), "val": int(num_val), "test": int(num_test)}
    if min(counts.values()) < 0 or counts["train"] + counts["val"] + counts["test"] == 0:
        raise ValueError(f"sample counts must be >= 0 and not all 0, got {counts}")
    if height < 32 or width < 64:
        raise ValueError(f"height must be >= 32 and width >= 64, got {height}x{width}")
    readme_path = os.path.join(out_dir, README_NAME)
    readme = _readme(counts, seed, height, width)
    summary = {**counts, "skipped": 0}
    dirs = [os.path.join(out_dir, d) for d in ("leftImg8bit", "gtFine")]
    if any(os.path.isdir(d) and os.listdir(d) for d in dirs):
        if not overwrite:
            if _up_to_date(readme_path, readme):
                summary["skipped"] = 1
                return summary
            raise FileExistsError(
                f"{out_dir} already holds leftImg8bit/ or gtFine/ not completely generated with "
                "these parameters; pass overwrite=True / --overwrite to replace them"
            )
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    if os.path.exists(readme_path):
        os.remove(readme_path)  # written last: it marks a complete tree
    os.makedirs(out_dir, exist_ok=True)
    names = {split: _sample_names(split, n) for split, n in counts.items()}
    jobs = [(split, i) for split, n in counts.items() for i in range(n)]
    writer = _SampleWriter(out_dir, seed, height, width, names)
    desc = f"synthetic Cityscapes -> {out_dir}"
    if num_workers <= 1:
        for job in tqdm(jobs, desc=desc, unit="img"):
            writer(job)
    else:
        with ProcessMap(writer, jobs, num_workers, chunksize=4) as written:
            for _ in tqdm(written, total=len(jobs), desc=desc):
                pass
    with open(readme_path, "w", encoding="ascii") as f:
        f.write(readme)
    return summary


def _up_to_date(readme_path: str, readme: str) -> bool:
    try:
        with open(readme_path, encoding="ascii") as f:
            return f.read() == readme
    except (OSError, UnicodeDecodeError):
        return False


def _readme(counts: dict[str, int], seed: int, height: int, width: int) -> str:
    return (
        "Synthetic Cityscapes (made by hat.data.synthetic.cityscapes; NOT the real dataset)\n"
        f"train {counts['train']}, val {counts['val']}, test {counts['test']} images of "
        f"{width}x{height}, seed {seed}\n"
        "Layout as the real release: leftImg8bit/<split>/<city>/*_leftImg8bit.png and\n"
        "gtFine/<split>/<city>/*_gtFine_{labelIds,instanceIds,color}.png (no polygons json).\n"
        "Content: procedurally drawn street scenes, official labelIds, instance ids\n"
        "labelId*1000+k for people and vehicles, the official colour palette.\n"
    )
