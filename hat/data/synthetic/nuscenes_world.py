"""The synthetic nuScenes world: a grid of straight two-way roads per location.

Every location is a rectangular grid (``extent`` metres in its own frame) crossed by a few
roads along each of its two axes, turned by ``angle`` and shifted by ``origin`` into nuScenes'
global frame (x east, y north), whose ``canvas_edge`` holds the whole turned grid. Roads,
junctions and blocks are described in the grid's frame (``along`` / ``lateral`` of a road);
:meth:`Road.point` and :meth:`World.to_global` give global coordinates. A road's cross-section,
from its centre line
outwards on each side: ``lanes_per_direction`` lanes of ``lane_width`` m, a shoulder (parking,
road works), a curb, then a walkway. Junctions are the squares where two roads cross; each arm
of a junction has a zebra crossing and, on its inbound lanes, a stop line before it. Boston
drives on the right, Singapore on the left. The map JSON, the semantic prior, the ground texture
of the camera images and the placement of traffic are all derived from this one description.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["LOCATIONS", "Road", "World", "make_world"]

LOCATIONS = (
    "boston-seaport",
    "singapore-onenorth",
    "singapore-hollandvillage",
    "singapore-queenstown",
)


@dataclass(frozen=True)
class Road:
    """A straight road through the whole grid: ``axis`` 0 runs along the grid's x, 1 along y."""

    axis: int
    offset: float  # the centre line in the grid frame: y = offset (axis 0) or x = offset (axis 1)
    angle: float = 0.0  # the grid's turn in the global frame (rad)
    origin: tuple[float, float] = (0.0, 0.0)  # global position of the grid's (0, 0)

    def heading(self, direction: int) -> float:
        """Global yaw (rad, from +x counter-clockwise) of traffic in ``direction`` (+1 or -1)."""
        if self.axis == 0:
            base = 0.0 if direction > 0 else np.pi
        else:
            base = np.pi / 2 if direction > 0 else -np.pi / 2
        return float(np.angle(np.exp(1j * (base + self.angle))))

    def point(self, along: np.ndarray | float, lateral: np.ndarray | float) -> np.ndarray:
        """Global (x, y) of a point ``along`` the road and ``lateral`` m left of its +axis side."""
        along, lateral = np.asarray(along, float), np.asarray(lateral, float)
        if self.axis == 0:
            local = np.stack(np.broadcast_arrays(along, self.offset + lateral), -1)
        else:
            local = np.stack(np.broadcast_arrays(self.offset - lateral, along), -1)
        return _turn(local, self.angle) + np.asarray(self.origin)


def _turn(xy: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * xy[..., 0] - s * xy[..., 1], s * xy[..., 0] + c * xy[..., 1]], -1)


@dataclass(frozen=True)
class World:
    """One location's road grid and cross-section (metres)."""

    location: str
    extent: tuple[float, float]  # the grid's size along its x and y (road lengths)
    roads_x: tuple[float, ...]  # centre lines of the east-west roads (y values)
    roads_y: tuple[float, ...]  # centre lines of the north-south roads (x values)
    lanes_per_direction: int = 2
    lane_width: float = 3.5
    shoulder: float = 2.5
    walkway: float = 3.0
    crossing_gap: float = 1.0  # from the junction edge to the zebra crossing
    crossing_width: float = 4.0
    stop_line_gap: float = 0.5  # from the crossing to the stop line
    stop_line_width: float = 0.4
    # Rectangles (x0, y0, x1, y1) of the grid frame inside blocks: parking lots and buildings.
    carparks: tuple[tuple[float, float, float, float], ...] = ()
    buildings: tuple[tuple[float, float, float, float, float], ...] = ()  # + height
    angle: float = 0.0
    origin: tuple[float, float] = (0.0, 0.0)
    canvas_edge: tuple[float, float] = (0.0, 0.0)  # the global map's size (x, y)

    def to_global(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid-frame coordinates -> global."""
        g = _turn(np.stack(np.broadcast_arrays(np.asarray(x), np.asarray(y)), -1), self.angle)
        return g[..., 0] + self.origin[0], g[..., 1] + self.origin[1]

    def to_local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global coordinates -> grid frame."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        dx, dy = x - self.origin[0], y - self.origin[1]
        return c * dx + s * dy, -s * dx + c * dy

    @property
    def right_hand(self) -> bool:
        """True where traffic keeps right (Boston); Singapore keeps left."""
        return self.location.startswith("boston")

    @property
    def lanes_half_width(self) -> float:
        """From the centre line to the outer lane edge (the shoulder starts there)."""
        return self.lanes_per_direction * self.lane_width

    @property
    def road_half_width(self) -> float:
        """From the centre line to the curb (drivable area edge)."""
        return self.lanes_half_width + self.shoulder

    @property
    def walkway_outer(self) -> float:
        return self.road_half_width + self.walkway

    @property
    def roads(self) -> list[Road]:
        return [Road(0, y, self.angle, self.origin) for y in self.roads_x] + [
            Road(1, x, self.angle, self.origin) for x in self.roads_y
        ]

    @property
    def length(self) -> tuple[float, float]:
        """Road length along axis 0 (x) and axis 1 (y): the grid's extent."""
        return self.extent

    def crossings_of(self, road: Road) -> list[float]:
        """Along-positions of the junctions on ``road`` (the crossing roads' centre lines)."""
        return sorted(self.roads_y if road.axis == 0 else self.roads_x)

    def crossing_band(self) -> tuple[float, float]:
        """Distance range from a junction centre (along an arm) covered by its zebra crossing."""
        start = self.road_half_width + self.crossing_gap
        return start, start + self.crossing_width

    def stop_band(self) -> tuple[float, float]:
        start = self.crossing_band()[1] + self.stop_line_gap
        return start, start + self.stop_line_width

    def markings_start(self) -> float:
        """Distance from a junction centre where lane markings begin on each arm."""
        return self.stop_band()[1]

    def lane_lateral(self, direction: int, lane: int) -> float:
        """Lateral offset (left of the road's +axis side) of lane ``lane`` (0 = inner).

        Traffic in ``direction`` keeps right (Boston) or left (Singapore) of the centre line.
        """
        centre = (lane + 0.5) * self.lane_width
        side = -1.0 if self.right_hand else 1.0  # right of +axis travel is negative lateral
        return side * direction * centre

    def side_of(self, direction: int) -> float:
        """The sign of lateral offsets on which traffic in ``direction`` drives."""
        return (-1.0 if self.right_hand else 1.0) * direction


def _location_rng(location: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(location.encode())])


def make_world(location: str, seed: int = 0) -> World:
    """The road grid of ``location``: 3-4 roads each way, 150-230 m apart, turned by up to
    +-35 deg in the global frame (deterministic)."""
    if location not in LOCATIONS:
        raise ValueError(f"unknown nuScenes location {location!r}; expected one of {LOCATIONS}")
    rng = _location_rng(location, seed)

    def offsets(n: int) -> tuple[float, ...]:
        gaps = rng.uniform(150.0, 230.0, n - 1)
        first = rng.uniform(110.0, 140.0)
        return tuple(
            float(v) for v in np.round(first + np.concatenate([[0.0], np.cumsum(gaps)]), 1)
        )

    roads_x = offsets(int(rng.integers(3, 5)))
    roads_y = offsets(int(rng.integers(3, 5)))
    width = float(np.ceil(roads_y[-1] + rng.uniform(110.0, 140.0)))
    height = float(np.ceil(roads_x[-1] + rng.uniform(110.0, 140.0)))
    world = World(location, (width, height), roads_x, roads_y)
    carparks, buildings = _fill_blocks(world, rng)
    angle = round(float(rng.uniform(-0.6, 0.6)), 4)
    corners = _turn(np.array([(0, 0), (width, 0), (width, height), (0, height)], float), angle)
    margin = 20.0
    lo, hi = corners.min(0), corners.max(0)
    origin = (round(float(margin - lo[0]), 3), round(float(margin - lo[1]), 3))
    canvas = (
        float(np.ceil(hi[0] - lo[0] + 2 * margin)),
        float(np.ceil(hi[1] - lo[1] + 2 * margin)),
    )
    return World(
        location,
        (width, height),
        roads_x,
        roads_y,
        carparks=carparks,
        buildings=buildings,
        angle=angle,
        origin=origin,
        canvas_edge=canvas,
    )


def _fill_blocks(world: World, rng: np.random.Generator) -> tuple[tuple, tuple]:
    """Parking lots beside some roads and rows of buildings set back from the walkways."""
    width, height = world.extent
    xs = [0.0, *world.roads_y, width]
    ys = [0.0, *world.roads_x, height]

    def inner(lo: float, hi: float, edge: float) -> tuple[float, float]:
        """A block's usable span between two roads (or a road and the canvas edge)."""
        a = lo + (5.0 if lo == 0.0 else world.walkway_outer)
        b = hi - (5.0 if hi == edge else world.walkway_outer)
        return a, b

    carparks, buildings = [], []
    for x_lo, x_hi in zip(xs[:-1], xs[1:], strict=True):
        for y_lo, y_hi in zip(ys[:-1], ys[1:], strict=True):
            bx0, bx1 = inner(x_lo, x_hi, width)
            by0, by1 = inner(y_lo, y_hi, height)
            if bx1 - bx0 < 40 or by1 - by0 < 40:
                continue
            if rng.random() < 0.35:  # a parking lot along the block's southern or northern edge
                depth, length = rng.uniform(18, 30), rng.uniform(30, min(80, bx1 - bx0 - 10))
                x0 = rng.uniform(bx0 + 2, bx1 - length - 2)
                south = rng.random() < 0.5
                y0 = by0 + 1.0 if south else by1 - 1.0 - depth
                carparks.append(_rounded(x0, y0, x0 + length, y0 + depth))
                by0, by1 = (y0 + depth + 2.0, by1) if south else (by0, y0 - 2.0)
            # rows of buildings along the block's north and south sides, 3-8 m behind the walkway
            setback = rng.uniform(3, 8)
            x, x_end = bx0 + setback, bx1 - setback
            while x < x_end - 10:
                w = min(rng.uniform(12, 40), x_end - x)
                d = rng.uniform(10, 25)
                for y0 in (by0 + setback, by1 - setback - d):
                    if y0 >= by0 and y0 + d <= by1:
                        h = rng.uniform(6, 45)
                        buildings.append(_rounded(x, y0, x + w, y0 + d, h))
                x += w + rng.uniform(3, 15)
    return tuple(carparks), tuple(buildings)


def _rounded(*values: float) -> tuple[float, ...]:
    return tuple(round(float(v), 1) for v in values)
