"""Painters of the synthetic Cityscapes: one function per kind of thing in a street scene.

Every painter takes the :class:`Canvas`, the :class:`Camera`, the random generator and a world
position (metres); sizes follow the distance (``camera.ppm(z)`` pixels per metre). Planar
surfaces (facades, walls, fences, vehicle sides) are flat textures mapped by homography, so
windows and wheels get the right perspective. Label ids are the official Cityscapes labelIds.
"""

from __future__ import annotations

import cv2
import numpy as np

from hat.data.synthetic.cityscapes_canvas import Camera, Canvas, jitter_color

__all__ = [
    "ID",
    "paint_bicycle",
    "paint_building_side",
    "paint_fence",
    "paint_motorcycle",
    "paint_person",
    "paint_pole",
    "paint_tree",
    "paint_vehicle",
    "paint_wall",
]

ID = {
    "unlabeled": 0, "ego vehicle": 1, "rectification border": 2, "out of roi": 3, "static": 4,
    "dynamic": 5, "ground": 6, "road": 7, "sidewalk": 8, "parking": 9, "rail track": 10,
    "building": 11, "wall": 12, "fence": 13, "guard rail": 14, "pole": 17, "traffic light": 19,
    "traffic sign": 20, "vegetation": 21, "terrain": 22, "sky": 23, "person": 24, "rider": 25,
    "car": 26, "truck": 27, "bus": 28, "train": 31, "motorcycle": 32, "bicycle": 33,
}  # fmt: skip

BUILDING_COLORS = [
    (190, 175, 150), (165, 95, 70), (140, 140, 140), (205, 200, 190), (180, 160, 120),
    (120, 110, 100), (215, 190, 160), (150, 160, 170), (175, 130, 110), (100, 105, 115),
]  # fmt: skip
CAR_COLORS = [
    (25, 25, 28), (200, 200, 205), (150, 152, 158), (140, 20, 25), (25, 45, 120),
    (235, 235, 235), (70, 75, 80), (90, 110, 70), (160, 120, 60), (40, 90, 140),
]  # fmt: skip
TRUCK_COLORS = [(225, 225, 220), (120, 125, 130), (150, 40, 35), (60, 60, 65), (200, 195, 180)]
BUS_COLORS = [(235, 200, 40), (240, 140, 30), (40, 90, 170), (60, 150, 90), (225, 215, 180)]
TRAIN_COLORS = [(240, 240, 240), (200, 30, 40), (170, 175, 185), (120, 30, 60)]
CLOTHES = [
    (30, 30, 35), (60, 60, 70), (40, 50, 90), (120, 30, 40), (150, 140, 120), (200, 200, 200),
    (80, 100, 60), (170, 90, 40), (50, 80, 130), (100, 60, 90), (210, 180, 60), (90, 70, 50),
]  # fmt: skip
BRIGHT = [(240, 220, 30), (250, 120, 20), (40, 200, 60), (230, 40, 40), (30, 120, 230)]
SKIN = [(230, 190, 160), (200, 150, 110), (150, 100, 70), (100, 70, 50)]
HAIR = [(30, 25, 20), (90, 60, 30), (200, 170, 100), (150, 150, 150)]
GLASS = (45, 55, 70)


def _flat_texture(
    rng: np.random.Generator, h: int, w: int, color: np.ndarray, grain: float = 6.0
) -> np.ndarray:
    """A ``(h, w, 3)`` float32 texture: ``color`` with low-frequency stains and grain."""
    h, w = max(int(h), 2), max(int(w), 2)
    stains = cv2.resize(
        rng.normal(0, 1, (max(h // 16, 2), max(w // 16, 2))).astype(np.float32), (w, h)
    )
    tex = color[None, None, :] * (1 + 0.06 * stains[..., None])
    return tex + rng.normal(0, grain, (h, w, 1)).astype(np.float32)


def _tex_size(meters_w: float, meters_h: float, ppm: float) -> tuple[int, int, float]:
    """Texture size (h, w) for a surface, at most 2048 px per side; returns the used ppm."""
    scale = min(ppm, 2048 / max(meters_w, 1e-3), 2048 / max(meters_h, 1e-3))
    return max(int(meters_h * scale), 2), max(int(meters_w * scale), 2), scale


# ------------------------------------------------------------------ buildings, walls, fences
def facade_texture(
    rng: np.random.Generator, length: float, height: float, ppm: float
) -> np.ndarray:
    """Facade in (Z along, Y up) texture coordinates: floors of windows, shops at the bottom."""
    th, tw, s = _tex_size(length, height, ppm)
    color = jitter_color(rng, BUILDING_COLORS[rng.integers(len(BUILDING_COLORS))])
    tex = _flat_texture(rng, th, tw, color)
    floor_h = rng.uniform(2.9, 3.6)
    win_w, win_h = rng.uniform(1.0, 1.6), rng.uniform(1.3, 1.8)
    spacing = rng.uniform(2.4, 3.8)
    glass = jitter_color(rng, GLASS, 0.3)
    frame = np.clip(color * rng.uniform(0.6, 1.3), 0, 255)
    n_floors = int(height // floor_h)
    for f in range(1, n_floors):
        y_bottom = height - f * floor_h - 0.9  # texture rows grow downwards from the roof
        for k in range(int(length // spacing)):
            x = (k + 0.5) * spacing - win_w / 2
            p0 = (int(x * s), int((y_bottom - win_h) * s))
            p1 = (int((x + win_w) * s), int(y_bottom * s))
            cv2.rectangle(tex, p0, p1, frame.tolist(), -1)
            m = max(1, int(0.08 * s))
            g = (glass * rng.uniform(0.7, 1.3)).tolist()
            cv2.rectangle(tex, (p0[0] + m, p0[1] + m), (p1[0] - m, p1[1] - m), g, -1)
    # ground floor: shop windows and doors
    shop = np.clip(glass * 0.8, 0, 255).tolist()
    x = rng.uniform(0.5, 2.0)
    while x < length - 2:
        w = rng.uniform(1.5, 4.0)
        cv2.rectangle(tex, (int(x * s), int((height - 2.6) * s)), (int((x + w) * s), th), shop, -1)
        x += w + rng.uniform(1.0, 3.0)
    cv2.rectangle(tex, (0, 0), (tw, max(1, int(0.4 * s))), (color * 0.7).tolist(), -1)  # cornice
    return tex


def paint_building_side(
    cv: Canvas,
    cam: Camera,
    rng: np.random.Generator,
    x: float,
    z0: float,
    z1: float,
    height: float,
) -> None:
    """A facade on the plane ``X = x`` from depth ``z0`` to ``z1``."""
    tex = facade_texture(rng, z1 - z0, height, 12 * cv.unit)
    cv.paint_quad(cam.side_quad(x, z0, z1, 0.0, height), tex, ID["building"], noise=4.0)


def paint_wall(
    cv: Canvas,
    cam: Camera,
    rng: np.random.Generator,
    x: float,
    z0: float,
    z1: float,
    height: float,
) -> None:
    """A concrete or brick wall along ``X = x``."""
    th, tw, s = _tex_size(z1 - z0, height, 24 * cv.unit)
    base = (
        rng.uniform(150, 205, 1).repeat(3) * np.array([1.0, 0.98, 0.93])
        if rng.random() < 0.6
        else np.array(rng.choice([(170, 120, 95), (120, 120, 110), (200, 190, 170)]), float)
    )
    tex = _flat_texture(rng, th, tw, jitter_color(rng, base), grain=8)
    seam = (np.asarray(base) * 0.7).tolist()
    step = rng.uniform(1.5, 3.5)
    for k in range(1, int((z1 - z0) / step) + 1):
        xx = int(k * step * s)
        cv2.line(tex, (xx, 0), (xx, th), seam, max(1, int(0.06 * s)))
    cv2.rectangle(tex, (0, 0), (tw, max(1, int(0.12 * s))), (np.asarray(base) * 0.8).tolist(), -1)
    cv.paint_quad(cam.side_quad(x, z0, z1, 0.0, height), tex, ID["wall"], noise=5.0)


def paint_fence(
    cv: Canvas,
    cam: Camera,
    rng: np.random.Generator,
    x: float,
    z0: float,
    z1: float,
    height: float,
) -> None:
    """A see-through metal lattice or an opaque wooden fence along ``X = x``."""
    th, tw, s = _tex_size(z1 - z0, height, 24 * cv.unit)
    quad = cam.side_quad(x, z0, z1, 0.0, height)
    if rng.random() < 0.6:  # lattice: the whole area is "fence", the background shows through
        color = jitter_color(rng, [(60, 90, 60), (90, 90, 95), (40, 40, 40)][rng.integers(3)])
        cv.paint_quad(quad, _flat_texture(rng, th, tw, color * 0.6), ID["fence"], alpha=0.6)
        bars = np.zeros((th, tw), np.uint8)
        step = rng.uniform(0.1, 0.2) * s
        thick = max(1, int(0.05 * s))
        for k in range(int(tw / step) + 1):
            cv2.line(bars, (int(k * step), 0), (int(k * step), th), 1, thick)
        if rng.random() < 0.7:
            for k in range(int(th / step) + 1):
                cv2.line(bars, (0, int(k * step)), (tw, int(k * step)), 1, thick)
        cv2.rectangle(bars, (0, 0), (tw, max(2, int(0.08 * s))), 1, -1)
        tex = _flat_texture(rng, th, tw, color)
        cv.paint_quad(quad, tex, ID["fence"], tex_mask=bars, noise=3.0)
    else:  # wooden planks
        color = jitter_color(rng, (140, 100, 60), 0.25)
        tex = _flat_texture(rng, th, tw, color, grain=10)
        step = rng.uniform(0.1, 0.2) * s
        for k in range(int(tw / step) + 1):
            cv2.line(tex, (int(k * step), 0), (int(k * step), th), (color * 0.5).tolist(), 1)
        cv.paint_quad(quad, tex, ID["fence"], noise=4.0)


# ------------------------------------------------------------------ poles, signs, lights, trees
def paint_pole(
    cv: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float, kind: str
) -> None:
    """A pole (``kind``: "plain", "sign" or "light") with what it carries."""
    s = cam.ppm(z)
    bx, by = cam.project(x, 0.0, z)
    height = rng.uniform(3.0, 6.5) if kind != "sign" else rng.uniform(2.6, 3.6)
    width = max(rng.uniform(0.3, 0.45) * s, 3.0 * cv.unit)
    top = by - height * s
    color = jitter_color(rng, [(110, 112, 115), (70, 90, 75), (150, 150, 150)][rng.integers(3)])
    cv.paint_line((bx, by), (bx, top), width, ID["pole"], cv.solid(color, fine=5, shade=None))
    if kind == "sign":
        _paint_sign(cv, rng, bx, top + 0.35 * s, s)
    elif kind == "light":
        side = -1.0 if x > 0 else 1.0  # an arm over the road, or the light on the pole itself
        lx = bx
        if rng.random() < 0.5:
            arm = rng.uniform(1.0, 3.5) * s
            cv.paint_line((bx, top), (bx + side * arm, top), width * 0.8, ID["pole"], color)
            lx = bx + side * arm
        _paint_light(cv, rng, lx, top, s)
        if rng.random() < 0.4:
            _paint_sign(cv, rng, bx, by - 2.3 * s, s * 0.8)


def _paint_sign(cv: Canvas, rng: np.random.Generator, cx: float, cy: float, s: float) -> None:
    r = rng.uniform(0.45, 0.65) * s
    shape = rng.integers(4)
    sid = ID["traffic sign"]
    if shape == 0:  # round: red ring, white/blue inside
        cv.paint_ellipse((cx, cy), (r, r), sid, jitter_color(rng, (200, 30, 35), 0.1))
        inner = (235, 235, 235) if rng.random() < 0.6 else (30, 80, 180)
        cv.paint_ellipse((cx, cy), (r * 0.72, r * 0.72), sid, jitter_color(rng, inner, 0.1))
    elif shape == 1:  # triangle: red border
        pts = [(cx, cy - r), (cx + r, cy + 0.8 * r), (cx - r, cy + 0.8 * r)]
        cv.paint_poly(pts, sid, jitter_color(rng, (200, 30, 35), 0.1))
        pts = [(cx, cy - 0.55 * r), (cx + 0.6 * r, cy + 0.55 * r), (cx - 0.6 * r, cy + 0.55 * r)]
        cv.paint_poly(pts, sid, jitter_color(rng, (235, 235, 230), 0.1))
    elif shape == 2:  # blue square
        cv.paint_poly(
            [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)],
            sid,
            cv.solid(jitter_color(rng, (30, 80, 180), 0.15), fine=4),
        )
        cv.paint_ellipse((cx, cy), (r * 0.4, r * 0.4), sid, (235, 235, 235))
    else:  # yellow diamond / direction board
        pts = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
        cv.paint_poly(pts, sid, jitter_color(rng, (240, 200, 30), 0.1))


def _paint_light(cv: Canvas, rng: np.random.Generator, cx: float, top: float, s: float) -> None:
    w, h = rng.uniform(0.35, 0.45) * s, rng.uniform(1.0, 1.3) * s
    lid = ID["traffic light"]
    body = jitter_color(rng, (35, 35, 30), 0.3)
    cv.paint_poly([(cx - w, top), (cx + w, top), (cx + w, top + h), (cx - w, top + h)], lid, body)
    if rng.random() < 0.5:  # yellow backing plate
        m = 0.12 * s
        pts = [(cx - w - m, top), (cx - w, top), (cx - w, top + h), (cx - w - m, top + h)]
        cv.paint_poly(pts, lid, (220, 190, 40))
        pts = [(cx + w, top), (cx + w + m, top), (cx + w + m, top + h), (cx + w, top + h)]
        cv.paint_poly(pts, lid, (220, 190, 40))
    lit = rng.integers(3)
    lamps = [(230, 40, 30), (240, 180, 30), (40, 220, 90)]
    for k in range(3):
        color = lamps[k] if k == lit else tuple(c * 0.3 for c in lamps[k])
        cy = top + h * (k + 0.5) / 3
        cv.paint_ellipse((cx, cy), (w * 0.6, w * 0.6), lid, color)


def paint_tree(cv: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float) -> None:
    """Trunk and crown (both "vegetation" in Cityscapes)."""
    s = cam.ppm(z)
    bx, by = cam.project(x, 0.0, z)
    trunk_h = rng.uniform(1.8, 4.0)
    veg = ID["vegetation"]
    cv.paint_line((bx, by), (bx, by - trunk_h * s), max(0.3 * s, 1.5), veg, (80, 65, 50))
    radius = rng.uniform(1.4, 3.2)
    green_a = jitter_color(rng, (45, 80, 30), 0.25)
    green_b = jitter_color(rng, (95, 135, 55) if rng.random() < 0.8 else (150, 140, 60), 0.2)
    tex = cv.mottled(green_a, green_b, fine=14)
    cy = by - (trunk_h + radius * 0.7) * s
    for _ in range(int(rng.integers(3, 7))):
        ox, oy = rng.normal(0, 0.45 * radius, 2) * s
        ax = rng.uniform(0.5, 0.9) * radius * s
        cv.paint_ellipse((bx + ox, cy + oy), (ax, ax * rng.uniform(0.7, 1.1)), veg, tex)


# ------------------------------------------------------------------ people and two-wheelers
def paint_person(
    cv: Canvas,
    cam: Camera,
    rng: np.random.Generator,
    x: float,
    z: float,
    label: str = "person",
    seated: tuple[float, float, float] | None = None,
) -> None:
    """A pedestrian standing at ``(x, z)``; with ``seated = (hip_x, hip_y, hand_dx)`` in pixels,
    a rider sitting on a two-wheeler (legs to the pedals, arms to the handlebar)."""
    s = cam.ppm(z)
    bx, by = cam.project(x, 0.0, z)
    lid = ID[label]
    inst = cv.new_instance(lid)
    height = rng.uniform(1.55, 1.95) * s
    bright = label == "rider" and rng.random() < 0.5
    top_c = jitter_color(rng, (BRIGHT if bright else CLOTHES)[rng.integers(5 if bright else 12)])
    legs_c = jitter_color(rng, CLOTHES[rng.integers(4)])
    skin = jitter_color(rng, SKIN[rng.integers(len(SKIN))], 0.08)
    leg_w = max(0.18 * s, 1.5)
    if seated is None:
        hip = (bx, by - 0.5 * height)
        spread = rng.uniform(0.0, 0.25) * s
        for sign in (-1, 1):
            cv.paint_line(hip, (bx + sign * spread, by), leg_w, lid, legs_c, inst)
        lean = rng.normal(0, 0.03) * height
    else:
        hip = (seated[0], seated[1])
        foot = (hip[0] + 0.2 * seated[2], hip[1] + 0.42 * height)
        cv.paint_line(
            hip, (hip[0] + 0.35 * seated[2], hip[1] + 0.1 * height), leg_w, lid, legs_c, inst
        )
        cv.paint_line(
            (hip[0] + 0.35 * seated[2], hip[1] + 0.1 * height), foot, leg_w, lid, legs_c, inst
        )
        lean = 0.12 * seated[2] / max(abs(seated[2]), 1e-6) * height
    shoulder_y = hip[1] - 0.32 * height
    sh = (hip[0] + lean, shoulder_y)
    half_w = 0.24 * s
    torso = [
        (sh[0] - half_w, sh[1]),
        (sh[0] + half_w, sh[1]),
        (hip[0] + half_w * 0.8, hip[1]),
        (hip[0] - half_w * 0.8, hip[1]),
    ]
    tex = cv.solid(top_c, fine=5, med=0.06, shade=(sh[1], hip[1] - sh[1]))
    cv.paint_poly(torso, lid, tex, inst)
    arm_w = max(0.12 * s, 1.2)
    if seated is None:
        for sign in (-1, 1):
            hand = (sh[0] + sign * (half_w + rng.uniform(0, 0.15) * s), hip[1] + 0.05 * height)
            cv.paint_line((sh[0] + sign * half_w * 0.9, sh[1]), hand, arm_w, lid, top_c, inst)
        if rng.random() < 0.25:  # a bag
            bag = jitter_color(rng, CLOTHES[rng.integers(12)])
            bx0 = sh[0] + half_w
            y0, y1 = hip[1] - 0.1 * s, hip[1] + 0.25 * s
            pts = [(bx0, y0), (bx0 + 0.3 * s, y0), (bx0 + 0.3 * s, y1), (bx0, y1)]
            cv.paint_poly(pts, lid, bag, inst)
    else:
        hand = (hip[0] + seated[2], hip[1] - 0.12 * height)
        cv.paint_line(sh, hand, arm_w, lid, top_c, inst)
    head_r = 0.13 * s
    head = (sh[0], sh[1] - head_r * 1.3)
    cv.paint_ellipse(head, (head_r, head_r * 1.2), lid, skin, inst)
    if label == "rider" and seated is not None and rng.random() < 0.75:  # helmet
        helmet = jitter_color(rng, (BRIGHT + CLOTHES[:3])[rng.integers(8)])
        cv.paint_ellipse(
            (head[0], head[1] - head_r * 0.3), (head_r * 1.2, head_r), lid, helmet, inst
        )
    else:
        hair = jitter_color(rng, HAIR[rng.integers(len(HAIR))])
        top = (head[0], head[1] - head_r * 0.5)
        cv.paint_ellipse(top, (head_r * 1.05, head_r * 0.7), lid, hair, inst)


def paint_bicycle(
    cv: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float, facing: int
) -> tuple[float, float, float]:
    """A bicycle in side view; returns the rider's seat ``(hip_x, hip_y, hand_dx)`` in pixels."""
    s = cam.ppm(z)
    bx, by = cam.project(x, 0.0, z)
    lid = ID["bicycle"]
    inst = cv.new_instance(lid)
    frame_c = jitter_color(rng, (CAR_COLORS + BRIGHT)[rng.integers(15)])
    r = 0.34 * s

    def p(u: float, v: float) -> tuple[float, float]:
        return bx + facing * u * s, by - v * s

    tire = max(0.09 * s, 1.5)
    for u in (-0.52, 0.52):
        cv.paint_ring(p(u, 0.34), r, tire, lid, (25, 25, 25), inst, inner_tex=(90, 90, 90))
    thick = max(0.08 * s, 1.5)
    rear, front, bb = p(-0.52, 0.34), p(0.52, 0.34), p(-0.05, 0.3)
    seat, head, bar = p(-0.22, 0.86), p(0.4, 0.9), p(0.36, 1.05)
    for a, b in ((rear, bb), (bb, seat), (seat, rear), (seat, head), (bb, head), (head, front)):
        cv.paint_line(a, b, thick, lid, frame_c, inst)
    cv.paint_line(head, bar, thick, lid, (40, 40, 40), inst)
    cv.paint_line(p(-0.3, 0.9), p(-0.12, 0.9), thick * 1.3, lid, (30, 30, 30), inst)  # saddle
    return seat[0], seat[1], bar[0] - seat[0]


def paint_motorcycle(
    cv: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float, facing: int
) -> tuple[float, float, float]:
    """A motorcycle in side view; returns the rider's seat ``(hip_x, hip_y, hand_dx)``."""
    s = cam.ppm(z)
    bx, by = cam.project(x, 0.0, z)
    lid = ID["motorcycle"]
    inst = cv.new_instance(lid)

    def p(u: float, v: float) -> tuple[float, float]:
        return bx + facing * u * s, by - v * s

    r = 0.34 * s
    for u in (-0.72, 0.72):
        cv.paint_ring(
            p(u, 0.34),
            r,
            max(0.15 * s, 2.0),
            lid,
            (20, 20, 20),
            inst,
            inner_tex=(150, 150, 155),
            inner_alpha=0.8,
        )
    body_c = jitter_color(rng, (BRIGHT + CAR_COLORS[:6])[rng.integers(11)])
    body = [p(-0.85, 0.65), p(-0.2, 0.95), p(0.4, 1.05), p(0.65, 0.75), p(0.25, 0.3), p(-0.5, 0.35)]
    cv.paint_poly(body, lid, cv.solid(body_c, fine=5, med=0.08), inst)
    cv.paint_poly(
        [p(-0.2, 0.35), p(0.25, 0.35), p(0.2, 0.6), p(-0.15, 0.6)], lid, (70, 70, 75), inst
    )
    cv.paint_line(p(0.5, 1.0), p(0.72, 0.34), max(0.09 * s, 1.5), lid, (170, 170, 175), inst)
    cv.paint_line(p(0.5, 1.0), p(0.55, 1.2), max(0.07 * s, 1.2), lid, (40, 40, 40), inst)
    cv.paint_line(p(-0.9, 0.45), p(-0.3, 0.4), max(0.08 * s, 1.2), lid, (190, 190, 195), inst)
    seat = p(-0.25, 1.0)
    return seat[0], seat[1], p(0.55, 1.2)[0] - seat[0]


# ------------------------------------------------------------------ vehicles
VEHICLE_DIMS = {  # width, height, length ranges (m)
    "car": ((1.7, 1.9), (1.4, 1.6), (4.0, 4.8)),
    "truck": ((2.3, 2.5), (3.0, 3.8), (6.5, 10.0)),
    "bus": ((2.5, 2.55), (2.9, 3.2), (11.0, 13.0)),
    "train": ((2.4, 2.65), (3.4, 3.8), (22.0, 32.0)),
}
VEHICLE_COLORS = {
    "car": CAR_COLORS,
    "truck": TRUCK_COLORS,
    "bus": BUS_COLORS,
    "train": TRAIN_COLORS,
}


def _side_texture(
    rng: np.random.Generator,
    kind: str,
    length: float,
    height: float,
    color: np.ndarray,
    ppm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Side of a vehicle (front at texture column 0) and its silhouette mask."""
    th, tw, s = _tex_size(length, height, ppm)
    tex = _flat_texture(rng, th, tw, color, grain=4)
    mask = np.ones((th, tw), np.uint8)
    glass = jitter_color(rng, GLASS, 0.3).tolist()
    wheel_r = {"car": 0.33, "truck": 0.5, "bus": 0.5, "train": 0.42}[kind]

    def px(u: float, v: float) -> tuple[int, int]:  # u along from the front, v up from ground
        return int(u * s), int((height - v) * s)

    if kind == "car":
        mask[:] = 0
        hood, roof0, roof1 = 0.22 * length, 0.38 * length, 0.82 * length
        belt = 0.55 * height
        body = [
            px(0, 0.25),
            px(0, belt),
            px(hood, belt + 0.05),
            px(roof0, height),
            px(roof1, height),
            px(length * 0.97, belt + 0.05),
            px(length, belt),
            px(length, 0.25),
        ]
        cv2.fillPoly(mask, [np.array(body, np.int32)], 1)
        win = [
            px(hood + 0.25, belt + 0.08),
            px(roof0 + 0.1, height - 0.08),
            px(roof1 - 0.1, height - 0.08),
            px(length * 0.93, belt + 0.08),
        ]
        cv2.fillPoly(tex, [np.array(win, np.int32)], glass)
        cv2.line(tex, px(length * 0.55, 0.3), px(length * 0.55, belt), (color * 0.6).tolist(), 1)
    else:
        band0 = {"truck": 0.55, "bus": 0.45, "train": 0.5}[kind] * height
        band1 = {"truck": 0.85, "bus": 0.9, "train": 0.82}[kind] * height
        if kind == "truck":  # windows only on the cab
            cab = 2.0
            cv2.rectangle(tex, px(0.1, band1), px(cab - 0.3, band0), glass, -1)
            cv2.line(tex, px(cab, 0), px(cab, height), (color * 0.5).tolist(), max(1, int(0.1 * s)))
            if rng.random() < 0.5:  # stripe on the cargo box
                stripe = jitter_color(rng, BRIGHT[rng.integers(5)]).tolist()
                cv2.rectangle(
                    tex, px(cab + 0.3, 0.5 * height), px(length - 0.3, 0.4 * height), stripe, -1
                )
        else:
            pitch = rng.uniform(1.2, 1.8)
            u = 0.4
            while u + pitch < length - 0.3:
                cv2.rectangle(tex, px(u, band1), px(u + pitch - 0.2, band0), glass, -1)
                u += pitch
            if kind == "train" or rng.random() < 0.5:  # two-tone band
                band = jitter_color(
                    rng, BUS_COLORS[rng.integers(5)] if kind == "bus" else (200, 30, 40)
                )
                cv2.rectangle(
                    tex, px(0, 0.35 * height), px(length, 0.2 * height), band.tolist(), -1
                )
            for d in np.arange(3.0, length - 2.0, rng.uniform(5.0, 8.0)):  # doors
                cv2.rectangle(
                    tex, px(d, band1 - 0.1), px(d + 1.1, 0.25), (color * 0.75).tolist(), 2
                )
        cv2.rectangle(tex, px(0, 0.3), px(length, 0), (color * 0.45).tolist(), -1)  # skirt
    axles = {
        "car": (0.18, 0.8),
        "truck": (0.15, 0.62, 0.85),
        "bus": (0.18, 0.78),
        "train": (0.1, 0.2, 0.8, 0.9),
    }[kind]
    for a in axles:
        c = px(a * length, wheel_r)
        cv2.circle(tex, c, int(wheel_r * s), (22, 22, 22), -1)
        cv2.circle(mask, c, int(wheel_r * s), 1, -1)
        cv2.circle(tex, c, max(1, int(wheel_r * s * 0.45)), (110, 110, 115), -1)
    return tex, mask


def paint_vehicle(
    cv: Canvas,
    cam: Camera,
    rng: np.random.Generator,
    x: float,
    z: float,
    kind: str,
    facing_camera: bool,
) -> None:
    """A car/truck/bus/train whose nearest face is at depth ``z``, centred on ``X = x``: its
    visible side (a textured plane) then its front or rear face."""
    (w0, w1), (h0, h1), (l0, l1) = VEHICLE_DIMS[kind]
    width, height, length = rng.uniform(w0, w1), rng.uniform(h0, h1), rng.uniform(l0, l1)
    lid = ID[kind]
    inst = cv.new_instance(lid)
    colors = VEHICLE_COLORS[kind]
    color = jitter_color(rng, colors[rng.integers(len(colors))], 0.1)
    if abs(x) > width / 2:  # the side facing the camera axis is visible
        side_x = x - width / 2 if x > 0 else x + width / 2
        tex, mask = _side_texture(rng, kind, length, height, color, 14 * cv.unit)
        if not facing_camera:  # driving away: the front is at the far end
            tex, mask = tex[:, ::-1].copy(), mask[:, ::-1].copy()
        quad = cam.side_quad(side_x, z, z + length, 0.0, height)
        cv.paint_quad(quad, tex, lid, inst, tex_mask=mask, noise=3.0)
    _paint_end_face(cv, cam, rng, kind, x, z, width, height, color, facing_camera, inst)
    if kind == "train":  # pantograph on the roof
        s = cam.ppm(z + length * 0.3)
        bx, by = cam.project(x, height, z + length * 0.3)
        hw, ph = 0.6 * s, 0.9 * s
        pts = [(bx - hw, by), (bx, by - ph), (bx + hw, by)]
        for a, b in ((pts[0], pts[1]), (pts[1], pts[2])):
            cv.paint_line(a, b, max(0.08 * s, 1.0), lid, (60, 60, 60), inst)
        cv.paint_line(
            (bx - hw * 1.2, by - ph),
            (bx + hw * 1.2, by - ph),
            max(0.08 * s, 1.0),
            lid,
            (60, 60, 60),
            inst,
        )


def _paint_end_face(
    cv: Canvas,
    cam: Camera,
    rng: np.random.Generator,
    kind: str,
    x: float,
    z: float,
    width: float,
    height: float,
    color: np.ndarray,
    facing_camera: bool,
    inst: int,
) -> None:
    s = cam.ppm(z)
    cx, by = cam.project(x, 0.0, z)
    lid = ID[kind]
    hw = width / 2 * s

    def p(u: float, v: float) -> tuple[float, float]:  # u: metres from centre, v: up
        return cx + u * s, by - v * s

    def box(u0: float, u1: float, v0: float, v1: float) -> list[tuple[float, float]]:
        """The rectangle (u0, v0), (u1, v0), (u1, v1), (u0, v1) in image pixels."""
        return [p(u0, v0), p(u1, v0), p(u1, v1), p(u0, v1)]

    body = cv.solid(color, fine=3, med=0.04, shade=(by - height * s, height * s))
    glass = jitter_color(rng, GLASS, 0.3)
    if kind == "car":
        belt = 0.55 * height
        cv.paint_poly(box(-width / 2, width / 2, 0.2, belt), lid, body, inst)
        cab = [
            p(-width / 2 + 0.05, belt),
            p(width / 2 - 0.05, belt),
            p(width / 2 - 0.25, height),
            p(-width / 2 + 0.25, height),
        ]
        cv.paint_poly(cab, lid, body, inst)
        win = [
            p(-width / 2 + 0.15, belt + 0.05),
            p(width / 2 - 0.15, belt + 0.05),
            p(width / 2 - 0.3, height - 0.07),
            p(-width / 2 + 0.3, height - 0.07),
        ]
        cv.paint_poly(win, lid, glass, inst)
        for sign in (-1, 1):
            wheel = box(sign * (width / 2 - 0.02), sign * (width / 2 - 0.3), 0, 0.35)
            cv.paint_poly(wheel, lid, (20, 20, 20), inst)
    else:
        top = height - (0.15 if kind == "train" else 0.0)
        cv.paint_poly(box(-width / 2, width / 2, 0.15, top), lid, body, inst)
        if kind == "train":
            cv.paint_ellipse(p(0, top), (hw, 0.25 * s), lid, body, inst)
        if facing_camera or kind != "truck":
            w0 = 0.45 if kind == "truck" else 0.5
            window = box(-width / 2 + 0.15, width / 2 - 0.15, w0 * height, 0.88 * height)
            cv.paint_poly(window, lid, glass, inst)
        if kind == "bus" and facing_camera:  # destination display
            cv.paint_poly(box(-0.8, 0.8, 0.9 * height, 0.97 * height), lid, (240, 150, 30), inst)
        if kind == "truck" and not facing_camera:  # cargo doors
            cv.paint_line(p(0, 0.2), p(0, top - 0.1), max(0.05 * s, 1.0), lid, color * 0.6, inst)
        for sign in (-1, 1):
            wheel = box(sign * (width / 2 - 0.05), sign * (width / 2 - 0.45), 0, 0.5)
            cv.paint_poly(wheel, lid, (20, 20, 20), inst)
    light = (250, 245, 220) if facing_camera else (210, 30, 30)
    for sign in (-1, 1):
        cx0 = sign * (width / 2 - 0.25)
        cv.paint_ellipse(
            p(cx0, 0.75 if kind == "car" else 0.5), (0.12 * s, 0.08 * s), lid, light, inst
        )
