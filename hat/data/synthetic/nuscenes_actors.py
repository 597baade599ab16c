"""The moving world of one synthetic nuScenes scene: the ego drive and the objects around it.

The ego drives one road of the location in one lane, with a speed profile (cruising,
speeding up, braking to a stop, or standing), a slight sway inside its lane. Around its path:

* lane traffic on the ego road: cars, trucks (some towing trailers), buses, motorcycles and
  bicycles with riders, a police car now and then; the ego lane's vehicles keep their gap to
  the ego (same speed profile), the other lanes flow at their own constant speed or stand in a
  queue, so vehicles of a lane never overlap;
* shoulders: parked cars, trucks and trailers, road works (a construction vehicle with a line of
  traffic cones and barriers), some debris;
* walkways: pedestrians (adults, children, construction workers, police officers) walking or
  standing, some sitting; bicycles parked at bicycle racks, a pushed pushable object, a dog;
* junctions on the way: vehicles stopped at the stop lines of the crossing roads, parked cars
  and pedestrians on the crossing roads.

All motion is analytic (position and yaw are functions of time), so any camera or lidar time
gets exact poses. Sizes are drawn around nuScenes' per-class means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hat.data.synthetic.nuscenes_world import Road, World

__all__ = ["Actor", "EgoDrive", "ScenePlan", "plan_scene"]

# (w, l, h) mean and spread per category (nuScenes' per-class statistics, rounded)
SIZES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "vehicle.car": ((1.95, 4.62, 1.73), (0.12, 0.35, 0.15)),
    "vehicle.emergency.police": ((2.0, 5.0, 1.8), (0.05, 0.2, 0.1)),
    "vehicle.truck": ((2.52, 6.94, 2.84), (0.25, 1.3, 0.4)),
    "vehicle.bus.rigid": ((2.94, 11.19, 3.47), (0.08, 0.9, 0.2)),
    "vehicle.trailer": ((2.92, 12.28, 3.87), (0.15, 1.8, 0.3)),
    "vehicle.construction": ((2.82, 6.37, 3.19), (0.25, 1.0, 0.35)),
    "vehicle.motorcycle": ((0.77, 2.11, 1.47), (0.08, 0.15, 0.1)),
    "vehicle.bicycle": ((0.60, 1.70, 1.28), (0.06, 0.1, 0.08)),
    "human.pedestrian.adult": ((0.67, 0.73, 1.77), (0.07, 0.1, 0.09)),
    "human.pedestrian.child": ((0.50, 0.50, 1.25), (0.05, 0.05, 0.12)),
    "human.pedestrian.construction_worker": ((0.70, 0.75, 1.78), (0.06, 0.08, 0.08)),
    "human.pedestrian.police_officer": ((0.70, 0.72, 1.80), (0.05, 0.05, 0.06)),
    "movable_object.trafficcone": ((0.41, 0.41, 1.07), (0.04, 0.04, 0.12)),
    "movable_object.barrier": ((2.53, 0.50, 0.98), (0.25, 0.06, 0.08)),
    "movable_object.debris": ((0.6, 0.8, 0.3), (0.2, 0.2, 0.1)),
    "movable_object.pushable_pullable": ((0.62, 0.85, 1.05), (0.05, 0.08, 0.08)),
    "static_object.bicycle_rack": ((1.6, 6.0, 1.1), (0.2, 1.5, 0.1)),
    "animal": ((0.32, 0.85, 0.62), (0.05, 0.1, 0.08)),
}
_CAR_COLOURS = np.array(
    [
        (235, 235, 232),
        (30, 30, 34),
        (150, 152, 156),
        (110, 112, 118),
        (160, 30, 30),
        (35, 60, 130),
        (200, 200, 190),
        (90, 60, 40),
        (40, 90, 60),
        (225, 190, 40),
    ],
    np.float32,
)
_CLOTHES = np.array(
    [
        (40, 40, 45),
        (60, 70, 110),
        (150, 40, 40),
        (200, 200, 200),
        (90, 110, 60),
        (120, 90, 70),
        (30, 60, 120),
        (180, 150, 60),
    ],
    np.float32,
)


@dataclass
class Actor:
    """One object instance: category, box size (w, l, h), motion, colour and role."""

    category: str
    size: tuple[float, float, float]
    pose: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # t (n,) -> xy (n, 2), yaw (n,)
    colour: np.ndarray
    role: str  # 'lane', 'queue', 'parked', 'works', 'walk', 'stand', 'sit', 'static', 'rack'
    accent: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))

    def speed(self, t: np.ndarray) -> np.ndarray:
        """Ground speed (m/s) at times ``t``, by central differences of the analytic motion."""
        t = np.asarray(t, float)
        a, _ = self.pose(t - 0.05)
        b, _ = self.pose(t + 0.05)
        return np.linalg.norm(b - a, axis=-1) / 0.1


@dataclass
class EgoDrive:
    """The ego's motion: along-position ``s(t)`` on ``lane`` of ``road`` plus a small sway."""

    road: Road
    direction: int
    lateral: float
    times: np.ndarray  # fine time grid (s)
    along: np.ndarray  # s(t) on the grid
    sway_amp: float
    sway_period: float
    sway_phase: float

    def s(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self.times, self.along)

    def pose(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ego position (n, 2) and yaw (n,) at times ``t``."""
        t = np.atleast_1d(np.asarray(t, float))
        w = 2 * np.pi / self.sway_period
        sway = self.sway_amp * np.sin(w * t + self.sway_phase)
        dsway = self.sway_amp * w * np.cos(w * t + self.sway_phase)
        s = self.s(t)
        v = np.gradient(self.along, self.times)
        speed = np.interp(t, self.times, v)
        xy = self.road.point(s, self.lateral + sway)
        # the sway turns the heading by atan(d lateral / d along); lateral is left of +axis
        yaw = self.road.heading(self.direction) + np.arctan2(
            dsway * self.direction, np.maximum(speed, 0.5)
        ) * (speed > 0.05)
        return xy, yaw


@dataclass
class ScenePlan:
    """A scene's world, ego drive and actors; ``duration`` seconds from t = 0."""

    world: World
    ego: EgoDrive
    actors: list[Actor]
    duration: float
    description: str


def _size(rng: np.random.Generator, category: str) -> tuple[float, float, float]:
    mean, spread = SIZES[category]
    s = np.asarray(mean) + np.asarray(spread) * np.clip(rng.standard_normal(3), -2, 2)
    return tuple(float(round(v, 3)) for v in np.maximum(s, 0.15))


def _road_pose(
    road: Road, direction: int, lateral: float, along: Callable, yaw_offset: float = 0.0
):
    heading = road.heading(direction) + yaw_offset

    def pose(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.atleast_1d(np.asarray(t, float))
        return road.point(along(t), lateral), np.full(t.shape, heading)

    return pose


def _linear(s0: float, v: float) -> Callable:
    return lambda t: s0 + v * t


def _ego_drive(world: World, rng: np.random.Generator, duration: float) -> tuple[EgoDrive, str]:
    road = world.roads[int(rng.integers(len(world.roads)))]
    direction = int(rng.choice([-1, 1]))
    lane = int(rng.integers(world.lanes_per_direction))
    profile = rng.choice(["cruise", "accelerate", "brake", "stand"], p=[0.45, 0.2, 0.25, 0.1])
    times = np.linspace(0.0, duration + 1.0, int((duration + 1.0) * 50) + 1)
    v0 = rng.uniform(6.0, 12.0)
    if profile == "cruise":
        speed = v0 + rng.uniform(-1.0, 1.0) * np.sin(times / max(duration, 1.0) * np.pi)
    elif profile == "accelerate":
        speed = np.minimum(rng.uniform(0.0, 3.0) + rng.uniform(0.8, 1.6) * times, 13.0)
    elif profile == "brake":
        t_stop = rng.uniform(0.4, 0.8) * duration
        speed = v0 * np.clip(1.0 - times / max(t_stop, 1e-3), 0.0, 1.0) ** 0.7
    else:
        speed = np.zeros_like(times)
    along = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(times))])
    length = world.length[road.axis]
    travel = float(along[-1])
    lo, hi = 40.0, length - 40.0 - travel
    start = rng.uniform(lo, max(hi, lo + 1.0))
    if direction < 0:
        start = length - start
    drive = EgoDrive(
        road,
        direction,
        world.lane_lateral(direction, lane),
        times,
        start + direction * along,
        sway_amp=float(rng.uniform(0.0, 0.25)),
        sway_period=float(rng.uniform(6.0, 14.0)),
        sway_phase=float(rng.uniform(0, 2 * np.pi)),
    )
    return drive, str(profile)


def _vehicle_category(rng: np.random.Generator, lane: int, lanes: int) -> str:
    outer = lane == lanes - 1
    r = rng.random()
    if r < 0.64:
        return "vehicle.car"
    if r < 0.78:
        return "vehicle.truck"
    if r < 0.84:
        return "vehicle.bus.rigid"
    if r < 0.86:
        return "vehicle.construction" if rng.random() < 0.3 else "vehicle.emergency.police"
    if r < 0.90:
        return "vehicle.motorcycle"
    return "vehicle.bicycle" if outer else "vehicle.car"


def _colour(rng: np.random.Generator, category: str) -> tuple[np.ndarray, np.ndarray]:
    """Base colour and accent colour of an object of ``category``."""
    if category in ("vehicle.car", "vehicle.truck", "vehicle.trailer"):
        base = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))]
    elif category == "vehicle.emergency.police":
        base = np.array((30, 35, 60), np.float32)
    elif category == "vehicle.bus.rigid":
        base = np.array(
            [(200, 40, 40), (230, 230, 225), (40, 110, 60)][rng.integers(3)], np.float32
        )
    elif category == "vehicle.construction":
        base = np.array((230, 170, 20), np.float32)
    elif category == "movable_object.trafficcone":
        base = np.array((245, 100, 20), np.float32)
    elif category == "movable_object.barrier":
        base = np.array(
            [(235, 235, 230), (200, 40, 35), (240, 200, 40)][rng.integers(3)], np.float32
        )
    elif category.startswith("human"):
        base = _CLOTHES[rng.integers(len(_CLOTHES))]
        if category.endswith("construction_worker"):
            base = np.array((250, 140, 20), np.float32)
        elif category.endswith("police_officer"):
            base = np.array((25, 30, 70), np.float32)
    elif category == "animal":
        base = np.array((120, 85, 50), np.float32)
    else:
        base = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))] * 0.8
    accent = _CLOTHES[rng.integers(len(_CLOTHES))]
    tint = rng.uniform(0.94, 1.06, 3).astype(np.float32)
    return np.clip(base * tint, 0, 255).astype(np.float32), accent.astype(np.float32)


class _Planner:
    def __init__(self, world: World, rng: np.random.Generator, ego: EgoDrive, duration: float):
        self.world, self.rng, self.ego, self.duration = world, rng, ego, duration
        self.actors: list[Actor] = []
        s = ego.along
        self.span = (float(s.min()) - 85.0, float(s.max()) + 85.0)

    def add(self, category: str, pose: Callable, role: str, size=None) -> Actor:
        colour, accent = _colour(self.rng, category)
        actor = Actor(category, size or _size(self.rng, category), pose, colour, role, accent)
        self.actors.append(actor)
        return actor

    def near_junction(self, road: Road, along: float, margin: float) -> bool:
        w = self.world
        return any(abs(along - jc) < w.road_half_width + margin for jc in w.crossings_of(road))

    # ---------------------------------------------------------------- lanes of the ego road
    def lane_traffic(self) -> None:
        w, ego = self.world, self.ego
        road = ego.road
        for direction in (1, -1):
            for lane in range(w.lanes_per_direction):
                lateral = w.lane_lateral(direction, lane)
                if direction == ego.direction and abs(lateral - ego.lateral) < 0.1:
                    self._platoon(road, direction, lane, lateral)
                else:
                    self._flow(road, direction, lane, lateral)

    def _platoon(self, road: Road, direction: int, lane: int, lateral: float) -> None:
        """Vehicles ahead of and behind the ego in its lane, keeping their gaps."""
        rng, ego = self.rng, self.ego
        for sign in (1, -1):
            offset = 4.8 * sign  # clear of the ego body (its pose is the rear axle, as nuScenes)
            for _ in range(int(rng.integers(0, 4 if sign > 0 else 3))):
                cat = _vehicle_category(rng, lane, self.world.lanes_per_direction)
                size = _size(rng, cat)
                offset += sign * (rng.uniform(6.0, 25.0) + size[1] / 2)
                if abs(offset) > 80:
                    break
                off = offset * direction

                def along(t, off=off):
                    return ego.s(t) + off

                self.add(cat, _road_pose(road, direction, lateral, along), "lane", size)
                offset += sign * size[1] / 2

    def _flow(self, road: Road, direction: int, lane: int, lateral: float) -> None:
        """A lane flowing at one constant speed (0: a standing queue), vehicles spaced apart."""
        rng, w = self.rng, self.world
        v = 0.0 if rng.random() < 0.15 else rng.uniform(4.0, 13.0)
        lo, hi = self.span
        # cover the part of the lane that will pass the ego's surroundings during the scene
        lo, hi = (lo - v * self.duration, hi) if direction > 0 else (lo, hi + v * self.duration)
        pos = lo + rng.uniform(0, 20)
        role = "lane" if v > 0 else "queue"
        while pos < hi:
            cat = _vehicle_category(rng, lane, w.lanes_per_direction)
            size = _size(rng, cat)
            parts = [("vehicle.trailer", _size(rng, "vehicle.trailer")), (cat, size)]
            if cat != "vehicle.truck" or rng.random() < 0.6:
                parts = parts[1:]
            elif direction < 0:  # the trailer follows the truck: behind = higher along
                parts = parts[::-1]
            for part_cat, part_size in parts:  # occupy [pos, pos + length] along the lane
                centre = pos + part_size[1] / 2
                pose = _road_pose(road, direction, lateral, _linear(centre, direction * v))
                self.add(part_cat, pose, role, part_size)
                pos += part_size[1] + 0.6
            pos += rng.uniform(8.0, 45.0) if v > 0 else rng.uniform(2.0, 6.0)
            if v == 0 and rng.random() < 0.2:
                pos += rng.uniform(20.0, 60.0)

    # ---------------------------------------------------------------- shoulders
    def shoulders(self, road: Road, span: tuple[float, float]) -> None:
        w, rng = self.world, self.rng
        centre = w.lanes_half_width + w.shoulder / 2
        for side in (-1, 1):
            pos = span[0] + rng.uniform(0, 15)
            direction = 1 if w.side_of(1) == side else -1  # parked along the traffic direction
            works = False  # at most one road works per shoulder
            while pos < span[1]:
                r = rng.random()
                if self.near_junction(road, pos, 14.0):
                    pos += 6.0
                    continue
                if r < 0.03 and not works:
                    pos = self._road_works(road, side, pos, direction)
                    works = True
                elif r < 0.33:
                    cat = (
                        "vehicle.car"
                        if rng.random() < 0.8
                        else str(
                            rng.choice(
                                [
                                    "vehicle.truck",
                                    "vehicle.trailer",
                                    "vehicle.construction",
                                    "vehicle.motorcycle",
                                ]
                            )
                        )
                    )
                    size = _size(rng, cat)
                    pos += size[1] / 2
                    lat = side * (centre + rng.uniform(-0.15, 0.15) + (size[0] - 2.0) * 0.3)
                    self.add(
                        cat,
                        _road_pose(
                            road, direction, lat, _linear(pos, 0.0), rng.uniform(-0.04, 0.04)
                        ),
                        "parked",
                        size,
                    )
                    pos += size[1] / 2 + rng.uniform(1.0, 4.0)
                elif r < 0.345:
                    self.add(
                        "movable_object.debris",
                        _road_pose(
                            road,
                            direction,
                            side * centre,
                            _linear(pos, 0.0),
                            rng.uniform(-np.pi, np.pi),
                        ),
                        "static",
                    )
                    pos += 3.0
                else:
                    pos += rng.uniform(5.0, 25.0)

    def _road_works(self, road: Road, side: int, pos: float, direction: int) -> float:
        """A construction vehicle behind a line of cones on the shoulder, barriers at its ends."""
        w, rng = self.world, self.rng
        edge = side * (w.lanes_half_width - 0.2)
        start = pos
        cone_pose = _road_pose(road, direction, edge, _linear(pos, 0.0))
        for _ in range(int(rng.integers(4, 9))):
            cone_pose = _road_pose(
                road,
                direction,
                edge + side * rng.uniform(-0.1, 0.1),
                _linear(pos, 0.0),
                rng.uniform(-np.pi, np.pi),
            )
            self.add("movable_object.trafficcone", cone_pose, "static")
            pos += rng.uniform(2.5, 4.0)
        mid = (start + pos) / 2
        size = _size(rng, "vehicle.construction")
        lat = side * (w.lanes_half_width + w.shoulder / 2 + 0.2)
        self.add(
            "vehicle.construction",
            _road_pose(road, direction, lat, _linear(mid, 0.0)),
            "parked",
            size,
        )
        for end in (start - 1.0, pos + 0.5):  # barriers across the shoulder at both ends
            self.add(
                "movable_object.barrier",
                _road_pose(
                    road,
                    direction,
                    side * (w.lanes_half_width + w.shoulder / 2),
                    _linear(end, 0.0),
                    np.pi / 2,
                ),
                "static",
            )
        for _ in range(int(rng.integers(0, 3))):
            self._pedestrian(
                road,
                side,
                mid + rng.uniform(-4, 4),
                "human.pedestrian.construction_worker",
                lateral=side * (w.lanes_half_width + w.shoulder - 0.6),
                walking=False,
            )
        return pos + rng.uniform(4.0, 10.0)

    # ---------------------------------------------------------------- walkways
    def walkways(self, road: Road, span: tuple[float, float], density: float) -> None:
        w, rng = self.world, self.rng
        for side in (-1, 1):
            length = span[1] - span[0]
            for _ in range(int(rng.poisson(density * length / 10.0))):
                pos = rng.uniform(*span)
                r = rng.random()
                if r < 0.06:
                    cat = "human.pedestrian.child"
                elif r < 0.09:
                    cat = "human.pedestrian.police_officer"
                else:
                    cat = "human.pedestrian.adult"
                self._pedestrian(road, side, pos, cat)
            if rng.random() < 0.3:  # a row of barriers along the curb
                pos = rng.uniform(*span)
                for _ in range(int(rng.integers(3, 9))):
                    lat = side * (w.road_half_width + 0.35)
                    pose = _road_pose(road, 1, lat, _linear(pos, 0.0), np.pi / 2)
                    self.add("movable_object.barrier", pose, "static")
                    pos += rng.uniform(2.6, 3.0)
            if rng.random() < 0.2:  # a bicycle rack with parked bicycles at the walkway's edge
                pos = rng.uniform(*span)
                lat = side * (w.walkway_outer - 0.9)
                rack = self.add(
                    "static_object.bicycle_rack",
                    _road_pose(road, 1, lat, _linear(pos, 0.0)),
                    "rack",
                )
                n = int(rack.size[1] // 1.0)
                for i in range(n):
                    if rng.random() < 0.6:
                        along = pos - rack.size[1] / 2 + 0.5 + i
                        self.add(
                            "vehicle.bicycle",
                            _road_pose(road, 1, lat, _linear(along, 0.0), np.pi / 2),
                            "parked",
                        )
            if rng.random() < 0.3:  # something pushed along the walkway, maybe a dog walking
                pos, v = rng.uniform(*span), rng.choice([-1, 1]) * rng.uniform(0.8, 1.3)
                lat = side * (w.road_half_width + rng.uniform(0.8, w.walkway - 0.8))
                direction = 1 if v > 0 else -1
                cat = "movable_object.pushable_pullable" if rng.random() < 0.6 else "animal"
                self.add(cat, _road_pose(road, direction, lat, _linear(pos, v)), "walk")
                self._pedestrian(
                    road,
                    side,
                    pos - np.sign(v) * 1.2,
                    "human.pedestrian.adult",
                    lateral=lat + 0.1,
                    speed=float(v),
                )

    def _pedestrian(
        self,
        road: Road,
        side: int,
        pos: float,
        category: str,
        lateral: float | None = None,
        walking: bool | None = None,
        speed: float | None = None,
    ) -> None:
        w, rng = self.world, self.rng
        if lateral is None:
            lateral = side * (w.road_half_width + rng.uniform(0.5, w.walkway - 0.5))
        if speed is None:
            walking = rng.random() < 0.65 if walking is None else walking
            speed = float(rng.choice([-1, 1]) * rng.uniform(0.8, 1.7)) if walking else 0.0
        if speed != 0.0:
            direction = 1 if speed > 0 else -1
            self.add(category, _road_pose(road, direction, lateral, _linear(pos, speed)), "walk")
            return
        role = "sit" if rng.random() < 0.12 and category == "human.pedestrian.adult" else "stand"
        size = _size(rng, category)
        if role == "sit":
            size = (size[0], size[1] + 0.2, round(size[2] * 0.7, 3))
        self.add(
            category,
            _road_pose(road, 1, lateral, _linear(pos, 0.0), rng.uniform(-np.pi, np.pi)),
            role,
            size,
        )

    # ---------------------------------------------------------------- crossing roads
    def crossing_roads(self) -> None:
        w, rng, ego = self.world, self.rng, self.ego
        lo, hi = self.span
        for jc in w.crossings_of(ego.road):
            if not lo - 20 < jc < hi + 20:
                continue
            cross = next(r for r in w.roads if r.axis != ego.road.axis and r.offset == jc)
            j_along = ego.road.offset
            arm_span_lo = (j_along - 80.0, j_along - w.road_half_width - 2.0)
            arm_span_hi = (j_along + w.road_half_width + 2.0, j_along + 80.0)
            s0, _ = w.stop_band()
            for out in (-1, 1):  # the two arms of the crossing road
                inbound = -out  # direction of traffic arriving at the junction on this arm
                for lane in range(w.lanes_per_direction):
                    lateral = w.lane_lateral(inbound, lane)
                    pos = j_along + out * (s0 + 1.0)
                    for _ in range(int(rng.integers(0, 4))):
                        cat = _vehicle_category(rng, lane, w.lanes_per_direction)
                        size = _size(rng, cat)
                        pos += out * size[1] / 2
                        self.add(
                            cat,
                            _road_pose(cross, inbound, lateral, _linear(pos, 0.0)),
                            "queue",
                            size,
                        )
                        pos += out * (size[1] / 2 + rng.uniform(1.5, 4.0))
                span = arm_span_hi if out > 0 else arm_span_lo
                self.walkways(cross, span, density=0.15)
            self.shoulders(cross, arm_span_lo)
            self.shoulders(cross, arm_span_hi)


def plan_scene(world: World, rng: np.random.Generator, duration: float) -> ScenePlan:
    """Draw a scene: the ego drive on ``world`` and every actor around its path."""
    ego, profile = _ego_drive(world, rng, duration)
    p = _Planner(world, rng, ego, duration)
    p.lane_traffic()
    p.shoulders(ego.road, p.span)
    p.walkways(ego.road, p.span, density=float(rng.uniform(0.15, 0.5)))
    p.crossing_roads()
    words = {
        "cruise": "driving",
        "accelerate": "accelerating",
        "brake": "braking to a stop",
        "stand": "waiting",
    }
    cats = {a.category.split(".")[-1] for a in p.actors}
    extras = [n for n in ("construction", "bus", "trailer", "police", "bicycle") if n in cats]
    description = f"Synthetic, {world.location}, ego {words[profile]}" + (
        ", " + ", ".join(extras) if extras else ""
    )
    return ScenePlan(world, ego, p.actors, duration, description)
