"""Write a :class:`World` as nuScenes map files: the map expansion JSON and the semantic prior.

The expansion (``maps/expansion/<location>.json``, version 1.3) holds every layer
nuscenes-devkit's ``NuScenesMap`` loads: the geometry (``node``, ``line``, ``polygon``), the
polygon layers (``drivable_area``, ``road_segment`` incl. junctions, ``road_block`` per
direction, ``lane`` with its divider segments, ``ped_crossing``, ``walkway``, ``stop_line``,
``carpark_area``), the line layers (``road_divider``, ``lane_divider``, ``traffic_light``),
straight ``lane_connector`` s through junctions and their ``arcline_path_3`` centre lines and
``connectivity``. The semantic prior PNG (0.1 m/px, 255 on roads and walkways, row 0 at the
canvas' north edge) is what the ``map`` table's ``filename`` points to.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import cv2
import numpy as np

from hat.data.synthetic.nuscenes_world import Road, World

__all__ = ["MAP_VERSION", "PRIOR_RESOLUTION", "map_expansion", "semantic_prior", "token_of"]

MAP_VERSION = "1.3"
PRIOR_RESOLUTION = 0.1  # m/px, the resolution nuscenes-devkit's MapMask assumes


def token_of(*parts: Any) -> str:
    """A 32-hex-digit token (nuScenes' format), the same for the same ``parts``."""
    return hashlib.md5("/".join(str(p) for p in parts).encode()).hexdigest()


class _MapBuilder:
    """Collects the geometric records and layers of one map, with tokens from names."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.layers: dict[str, list[dict]] = {
            name: []
            for name in (
                "polygon",
                "line",
                "node",
                "drivable_area",
                "road_segment",
                "road_block",
                "lane",
                "ped_crossing",
                "walkway",
                "stop_line",
                "carpark_area",
                "road_divider",
                "lane_divider",
                "traffic_light",
                "lane_connector",
            )
        }
        self.arcline_path_3: dict[str, list[dict]] = {}
        self.connectivity: dict[str, dict[str, list[str]]] = {}
        self._nodes: dict[tuple[float, float], str] = {}

    def token(self, *parts: Any) -> str:
        return token_of(self.location, *parts)

    def node(self, xy: np.ndarray) -> str:
        key = (round(float(xy[0]), 3), round(float(xy[1]), 3))
        if key not in self._nodes:
            tok = self.token("node", *key)
            self._nodes[key] = tok
            self.layers["node"].append({"token": tok, "x": key[0], "y": key[1]})
        return self._nodes[key]

    def polygon(self, name: str, corners: np.ndarray) -> str:
        tok = self.token("polygon", name)
        nodes = [self.node(c) for c in corners]
        self.layers["polygon"].append({"token": tok, "exterior_node_tokens": nodes, "holes": []})
        return tok

    def line(self, name: str, points: np.ndarray) -> tuple[str, list[str]]:
        tok = self.token("line", name)
        nodes = [self.node(p) for p in points]
        self.layers["line"].append({"token": tok, "node_tokens": nodes})
        return tok, nodes

    def add(self, layer: str, record: dict) -> dict:
        self.layers[layer].append(record)
        return record


def _rect(road: Road, a0: float, a1: float, l0: float, l1: float) -> np.ndarray:
    """Corners (counter-clockwise in the road's frame) of along [a0, a1] x lateral [l0, l1]."""
    return road.point([a0, a1, a1, a0], [l0, l0, l1, l1])


def _polyline(road: Road, a0: float, a1: float, lateral: float, step: float = 20.0) -> np.ndarray:
    n = max(int(math.ceil(abs(a1 - a0) / step)), 1)
    return road.point(np.linspace(a0, a1, n + 1), lateral)


def _straight_path(road: Road, a0: float, a1: float, lateral: float, direction: int) -> dict:
    """An ``arcline_path_3`` record for a straight centre line travelled in ``direction``."""
    start, end = (a0, a1) if direction > 0 else (a1, a0)
    (sx, sy), (ex, ey) = road.point([start, end], lateral)
    yaw = float(road.heading(direction))
    return {
        "start_pose": [float(sx), float(sy), yaw],
        "end_pose": [float(ex), float(ey), yaw],
        "shape": "LSL",
        "radius": 999.0,
        "segment_length": [0.0, float(abs(a1 - a0)), 0.0],
    }


def map_expansion(world: World) -> dict[str, Any]:
    """The map expansion JSON object of ``world`` (every layer NuScenesMap reads)."""
    b = _MapBuilder(world.location)
    half, lanes_half, lw = world.road_half_width, world.lanes_half_width, world.lane_width
    divider_type = "DOUBLE_SOLID_YELLOW" if world.right_hand else "DOUBLE_SOLID_WHITE"
    c0, c1 = world.crossing_band()
    s0, s1 = world.stop_band()
    marks = world.markings_start()
    # lane token of (road index, direction, lane, segment index) for connectivity
    lane_tokens: dict[tuple[int, int, int, int], str] = {}
    junction_segments: dict[tuple[float, float], str] = {}

    for ri, road in enumerate(world.roads):
        length = world.length[road.axis]
        name = f"road{ri}"
        area_tok = b.token("drivable_area", name)
        area_poly = b.polygon(f"{name}/drivable", _rect(road, 0.0, length, -half, half))
        b.add("drivable_area", {"token": area_tok, "polygon_tokens": [area_poly]})
        junctions = world.crossings_of(road)
        for jc in junctions:  # junction squares: one road segment, owned by the axis-0 road
            key = (jc, road.offset) if road.axis == 0 else (road.offset, jc)
            if key in junction_segments:
                continue
            tok = b.token("road_segment", "junction", *key)
            junction_segments[key] = tok
            poly = b.polygon(f"junction{key}", _rect(road, jc - half, jc + half, -half, half))
            b.add(
                "road_segment",
                {
                    "token": tok,
                    "polygon_token": poly,
                    "is_intersection": True,
                    "drivable_area_token": area_tok,
                },
            )
        ends = [0.0, *[jc for jc in junctions], length]
        for si, (lo, hi) in enumerate(zip(ends[:-1], ends[1:], strict=True)):
            a0 = lo + half if si > 0 else lo
            a1 = hi - half if si < len(ends) - 2 else hi
            seg = f"{name}/seg{si}"
            seg_tok = b.token("road_segment", seg)
            poly = b.polygon(seg, _rect(road, a0, a1, -half, half))
            b.add(
                "road_segment",
                {
                    "token": seg_tok,
                    "polygon_token": poly,
                    "is_intersection": False,
                    "drivable_area_token": area_tok,
                },
            )
            # walkways on both sides
            for side in (-1, 1):
                wpoly = b.polygon(
                    f"{seg}/walk{side}",
                    _rect(road, a0, a1, *sorted((side * half, side * world.walkway_outer))),
                )
                b.add("walkway", {"token": b.token("walkway", seg, side), "polygon_token": wpoly})
            # the centre road divider, where markings are painted
            m0 = a0 + (marks - half if si > 0 else 0.0)
            m1 = a1 - (marks - half if si < len(ends) - 2 else 0.0)
            if m1 > m0:
                line_tok, _ = b.line(f"{seg}/centre", _polyline(road, m0, m1, 0.0))
                b.add(
                    "road_divider",
                    {
                        "token": b.token("road_divider", seg),
                        "line_token": line_tok,
                        "road_segment_token": seg_tok,
                    },
                )
            for direction in (1, -1):
                sgn = world.side_of(direction)
                block = f"{seg}/block{direction}"
                edge_from, _ = b.line(
                    f"{block}/from", _edge(road, a0 if direction > 0 else a1, sgn, half)
                )
                edge_to, _ = b.line(
                    f"{block}/to", _edge(road, a1 if direction > 0 else a0, sgn, half)
                )
                block_tok = b.token("road_block", block)
                bpoly = b.polygon(block, _rect(road, a0, a1, *sorted((0.0, sgn * half))))
                b.add(
                    "road_block",
                    {
                        "token": block_tok,
                        "polygon_token": bpoly,
                        "from_edge_line_token": edge_from,
                        "to_edge_line_token": edge_to,
                        "road_segment_token": seg_tok,
                    },
                )
                for k in range(world.lanes_per_direction):
                    lat_in, lat_out = sgn * k * lw, sgn * (k + 1) * lw
                    lane = f"{block}/lane{k}"
                    lane_tok = b.token("lane", lane)
                    lpoly = b.polygon(lane, _rect(road, a0, a1, *sorted((lat_in, lat_out))))
                    # left/right relative to travel: the left boundary is the inner one when
                    # traffic keeps right, the outer one when it keeps left
                    inner_type = divider_type if k == 0 else "SINGLE_DASHED_WHITE"
                    outer_type = (
                        "SINGLE_SOLID_WHITE"
                        if k == world.lanes_per_direction - 1
                        else "SINGLE_DASHED_WHITE"
                    )
                    order = (a0, a1) if direction > 0 else (a1, a0)
                    inner = [
                        {"node_token": b.node(p), "segment_type": inner_type}
                        for p in _polyline(road, *order, lat_in)
                    ]
                    outer = [
                        {"node_token": b.node(p), "segment_type": outer_type}
                        for p in _polyline(road, *order, lat_out)
                    ]
                    left, right = (inner, outer) if world.right_hand else (outer, inner)
                    b.add(
                        "lane",
                        {
                            "token": lane_tok,
                            "polygon_token": lpoly,
                            "lane_type": "CAR",
                            "from_edge_line_token": edge_from,
                            "to_edge_line_token": edge_to,
                            "left_lane_divider_segments": left,
                            "right_lane_divider_segments": right,
                        },
                    )
                    centre = sgn * (k + 0.5) * lw
                    b.arcline_path_3[lane_tok] = [_straight_path(road, a0, a1, centre, direction)]
                    b.connectivity[lane_tok] = {"incoming": [], "outgoing": []}
                    lane_tokens[(ri, direction, k, si)] = lane_tok
                for k in range(1, world.lanes_per_direction):
                    if m1 <= m0:
                        continue
                    pts = _polyline(road, m0, m1, sgn * k * lw)
                    line_tok, nodes = b.line(f"{block}/divider{k}", pts)
                    b.add(
                        "lane_divider",
                        {
                            "token": b.token("lane_divider", block, k),
                            "line_token": line_tok,
                            "lane_divider_segments": [
                                {"node_token": n, "segment_type": "SINGLE_DASHED_WHITE"}
                                for n in nodes
                            ],
                        },
                    )
            # crossings, stop lines and traffic lights at this segment's junction ends
            for at_start, jc in ((True, lo), (False, hi)):
                if (at_start and si == 0) or (not at_start and si == len(ends) - 2):
                    continue
                out = 1.0 if at_start else -1.0  # along the arm, away from the junction
                arm = f"{seg}/{'start' if at_start else 'end'}"
                cpoly = b.polygon(
                    f"{arm}/crossing",
                    _rect(road, *sorted((jc + out * c0, jc + out * c1)), -half, half),
                )
                crossing_tok = b.token("ped_crossing", arm)
                b.add(
                    "ped_crossing",
                    {"token": crossing_tok, "polygon_token": cpoly, "road_segment_token": seg_tok},
                )
                inbound = -1 if at_start else 1  # travel direction towards the junction
                isgn = world.side_of(inbound)
                block_tok = b.token("road_block", f"{seg}/block{inbound}")
                light_pts = road.point([jc + out * s1] * 2, [0.0, isgn * lanes_half])
                light_line, _ = b.line(f"{arm}/light", light_pts)
                light_tok = b.token("traffic_light", arm)
                yaw = float(road.heading(-inbound))  # the light faces the arriving traffic
                pose = {
                    "tx": float(light_pts[1][0]),
                    "ty": float(light_pts[1][1]),
                    "tz": 5.0,
                    "rx": 0.0,
                    "ry": 0.0,
                    "rz": yaw,
                }
                b.add(
                    "traffic_light",
                    {
                        "token": light_tok,
                        "line_token": light_line,
                        "traffic_light_type": "VERTICAL",
                        "from_road_block_token": block_tok,
                        "items": [
                            {
                                "color": c,
                                "shape": "CIRCLE",
                                "rel_pos": {
                                    "tx": 0.0,
                                    "ty": 0.0,
                                    "tz": 0.3 * i,
                                    "rx": 0.0,
                                    "ry": 0.0,
                                    "rz": 0.0,
                                },
                                "to_road_block_tokens": [],
                            }
                            for i, c in enumerate(("GREEN", "YELLOW", "RED"))
                        ],
                        "pose": pose,
                    },
                )
                spoly = b.polygon(
                    f"{arm}/stop",
                    _rect(
                        road,
                        *sorted((jc + out * s0, jc + out * s1)),
                        *sorted((0.0, isgn * lanes_half)),
                    ),
                )
                b.add(
                    "stop_line",
                    {
                        "token": b.token("stop_line", arm),
                        "polygon_token": spoly,
                        "stop_line_type": "TRAFFIC_LIGHT",
                        "ped_crossing_tokens": [crossing_tok],
                        "traffic_light_tokens": [light_tok],
                        "road_block_token": block_tok,
                    },
                )
        # straight-through lane connectors across each junction of this road
        for si, jc in enumerate(junctions):
            for direction in (1, -1):
                sgn = world.side_of(direction)
                for k in range(world.lanes_per_direction):
                    before = lane_tokens[(ri, direction, k, si if direction > 0 else si + 1)]
                    after = lane_tokens[(ri, direction, k, si + 1 if direction > 0 else si)]
                    conn = f"{name}/j{si}/d{direction}/l{k}"
                    conn_tok = b.token("lane_connector", conn)
                    lat = sorted((sgn * k * lw, sgn * (k + 1) * lw))
                    cpoly = b.polygon(conn, _rect(road, jc - half, jc + half, *lat))
                    b.add("lane_connector", {"token": conn_tok, "polygon_token": cpoly})
                    b.arcline_path_3[conn_tok] = [
                        _straight_path(road, jc - half, jc + half, sgn * (k + 0.5) * lw, direction)
                    ]
                    b.connectivity[conn_tok] = {"incoming": [before], "outgoing": [after]}
                    b.connectivity[before]["outgoing"].append(conn_tok)
                    b.connectivity[after]["incoming"].append(conn_tok)

    for i, (x0, y0, x1, y1) in enumerate(world.carparks):
        corners = np.stack(
            world.to_global(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1])), -1
        )
        poly = b.polygon(f"carpark{i}", corners)
        b.add(
            "carpark_area",
            {
                "token": b.token("carpark_area", i),
                "polygon_token": poly,
                "orientation": world.angle + math.pi / 2,
                "road_block_token": "",
            },
        )
    return {
        "version": MAP_VERSION,
        "canvas_edge": [float(world.canvas_edge[0]), float(world.canvas_edge[1])],
        **b.layers,
        "arcline_path_3": b.arcline_path_3,
        "connectivity": b.connectivity,
    }


def _edge(road: Road, along: float, sgn: float, half: float) -> np.ndarray:
    """A road block's edge line across its half of the road at ``along``."""
    return road.point([along, along], [0.0, sgn * half])


def write_map_expansion(world: World, path: str) -> None:
    text = json.dumps(map_expansion(world), separators=(",", ":"))  # one C-encoder pass
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def semantic_prior(world: World) -> np.ndarray:
    """The semantic prior mask (uint8, 255 on roads and walkways), row 0 at the north edge."""
    res = PRIOR_RESOLUTION
    w, h = (int(round(e / res)) for e in world.canvas_edge)
    mask = np.zeros((h, w), np.uint8)
    reach = world.walkway_outer
    for road in world.roads:
        corners = _rect(road, 0.0, world.length[road.axis], -reach, reach)
        px = np.stack([corners[:, 0] / res, h - corners[:, 1] / res], -1)
        cv2.fillConvexPoly(mask, np.round(px * 16).astype(np.int32), 255, cv2.LINE_8, 4)
    return mask


def write_semantic_prior(world: World, path: str) -> None:
    params = [
        cv2.IMWRITE_PNG_COMPRESSION,
        1,
        cv2.IMWRITE_PNG_FILTER,
        cv2.IMWRITE_PNG_FILTER_NONE,
        cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_RLE,
    ]  # fast on a binary mask
    ok, data = cv2.imencode(".png", semantic_prior(world), params)
    if not ok:
        raise OSError(f"could not encode the semantic prior of {world.location}")
    with open(path, "wb") as f:
        f.write(data.tobytes())
