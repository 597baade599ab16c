"""Cuboid parts that draw each object (inside its annotation box) and the buildings.

Every object is drawn as one to three shaded cuboids that stay inside its box: a car is a body
and a glazed cabin, a truck a cab and a cargo box, a cyclist a thin frame with a rider on top,
a cone a base and a striped body, and so on. A part's ``style`` selects its surface pattern in
the renderer (windows, tyre band, clothes, stripes, facade windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["STYLE", "Cuboid", "actor_parts", "building_parts"]

STYLE = {name: i for i, name in enumerate(
    ("plain", "body", "cabin", "person", "cone", "barrier", "building", "bus"))}  # fmt: skip

# category -> parts: (along offset, lateral offset, length, width  [fractions of l, w],
#                     z bottom, z top [fractions of h], style, colour: 'base'|'accent'|'dark')
_PARTS: dict[str, list[tuple]] = {
    "car": [(0.0, 0.0, 1.0, 1.0, 0.0, 0.55, "body", "base"),
            (-0.05, 0.0, 0.55, 0.92, 0.55, 1.0, "cabin", "base")],
    "truck": [(0.385, 0.0, 0.23, 1.0, 0.0, 0.75, "cabin", "base"),
              (-0.115, 0.0, 0.76, 1.0, 0.12, 1.0, "plain", "accent")],
    "bus": [(0.0, 0.0, 1.0, 1.0, 0.0, 1.0, "bus", "base")],
    "trailer": [(0.0, 0.0, 1.0, 1.0, 0.28, 1.0, "plain", "base"),
                (-0.3, 0.0, 0.3, 0.85, 0.0, 0.28, "body", "dark")],
    "construction": [(0.0, 0.0, 1.0, 1.0, 0.0, 0.45, "body", "base"),
                     (-0.25, 0.0, 0.45, 0.9, 0.45, 1.0, "cabin", "base"),
                     (0.3, 0.0, 0.38, 0.5, 0.45, 0.72, "plain", "base")],
    "cycle": [(0.0, 0.0, 1.0, 0.35, 0.0, 0.55, "body", "dark"),
              (-0.08, 0.0, 0.35, 0.95, 0.42, 1.0, "person", "accent")],
    "parked_cycle": [(0.0, 0.0, 1.0, 0.35, 0.0, 1.0, "body", "base")],
    "person": [(0.0, 0.0, 0.6, 0.8, 0.0, 1.0, "person", "base")],
    "cone": [(0.0, 0.0, 1.0, 1.0, 0.0, 0.08, "plain", "dark"),
             (0.0, 0.0, 0.55, 0.55, 0.08, 1.0, "cone", "base")],
    "barrier": [(0.0, 0.0, 1.0, 1.0, 0.0, 1.0, "barrier", "base")],
    "animal": [(0.0, 0.0, 1.0, 0.8, 0.35, 0.8, "plain", "base"),
               (0.42, 0.0, 0.2, 0.6, 0.6, 1.0, "plain", "base")],
    "plain": [(0.0, 0.0, 1.0, 1.0, 0.0, 1.0, "plain", "base")],
    "rack": [(0.0, 0.0, 1.0, 0.2, 0.0, 0.75, "plain", "dark")],
}  # fmt: skip
_MODEL = {
    "vehicle.car": "car", "vehicle.emergency.police": "car", "vehicle.truck": "truck",
    "vehicle.bus.rigid": "bus", "vehicle.trailer": "trailer",
    "vehicle.construction": "construction", "vehicle.motorcycle": "cycle",
    "vehicle.bicycle": "cycle", "movable_object.trafficcone": "cone",
    "movable_object.barrier": "barrier", "animal": "animal",
    "static_object.bicycle_rack": "rack",
}  # fmt: skip
_DARK = np.array((38, 38, 40), np.float32)


@dataclass
class Cuboid:
    """A drawable box: ``centre`` (x, y, z) global, ``yaw``, ``size`` (w, l, h)."""

    centre: np.ndarray
    yaw: float
    size: tuple[float, float, float]
    colour: np.ndarray
    accent: np.ndarray
    style: int
    owner: int  # index of the actor (>= 0) or -3 for buildings

    def rotation(self) -> np.ndarray:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    def corners(self) -> np.ndarray:
        """(8, 3) global corners; index bits: x (+l/2 if bit 0), y (bit 1), z (bit 2)."""
        w, length, h = self.size
        signs = np.array([[(i >> k & 1) * 2 - 1 for k in range(3)] for i in range(8)], float)
        local = signs * np.array([length / 2, w / 2, h / 2])
        return local @ self.rotation().T + self.centre


def actor_parts(
    category: str, role: str, size: tuple[float, float, float], xy: np.ndarray, yaw: float,
    colour: np.ndarray, accent: np.ndarray, owner: int,
) -> list[Cuboid]:  # fmt: skip
    """The cuboids drawing an object whose box has ``size`` (w, l, h) at ``xy``, ``yaw``."""
    if category.startswith("human"):
        model = "person"
    elif category in ("vehicle.bicycle", "vehicle.motorcycle") and role == "parked":
        model = "parked_cycle"
    else:
        model = _MODEL.get(category, "plain")
    w, length, h = size
    c, s = np.cos(yaw), np.sin(yaw)
    parts = []
    for da, dl, fl, fw, z0, z1, style, source in _PARTS[model]:
        centre = np.array([xy[0] + c * da * length - s * dl * w,
                           xy[1] + s * da * length + c * dl * w, (z0 + z1) / 2 * h])  # fmt: skip
        col = {"base": colour, "accent": accent, "dark": _DARK}[source]
        parts.append(Cuboid(centre, yaw, (fw * w, fl * length, (z1 - z0) * h), col, accent,
                            STYLE[style], owner))  # fmt: skip
    return parts


def building_parts(world, colour_seed: int) -> list[Cuboid]:
    """Cuboids of the world's buildings (footprints in the grid frame, turned with it)."""
    rng = np.random.default_rng(colour_seed)
    parts = []
    for x0, y0, x1, y1, h in world.buildings:
        col = np.array(rng.choice([(170, 160, 150), (140, 135, 130), (190, 180, 165),
                                   (120, 110, 105), (200, 200, 195), (150, 120, 100)]),
                       np.float32) * rng.uniform(0.9, 1.1)  # fmt: skip
        cx, cy = world.to_global((x0 + x1) / 2, (y0 + y1) / 2)
        centre = np.array([float(cx), float(cy), h / 2])
        parts.append(
            Cuboid(centre, world.angle, (y1 - y0, x1 - x0, h), col, col, STYLE["building"], -3)
        )
    return parts
