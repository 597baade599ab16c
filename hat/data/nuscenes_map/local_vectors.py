"""The map around the ego as polylines in the ego frame, as HDMapNet's ``VectorizedLocalMap``
builds them (the vectors HAT's BEV map target is rasterised from).

The patch is ``patch_size = (lateral_m, forward_m)`` centred on the ego, turned by the ego's yaw
(only x, y and the yaw of ``ego2global`` are used, as HDMapNet's ``quaternion_yaw``). Each
geometry is cut by the patch in the global frame and moved into the ego frame (x forward,
y left), then:

- ``divider``: ``road_divider`` and ``lane_divider`` lines;
- ``ped_crossing``: the two longest edges of each crossing polygon's exterior ring (HDMapNet's
  ``get_ped_crossing_line``: the zebra's long sides, not the whole outline);
- ``boundary``: the union of ``road_segment`` and ``lane`` polygons (each valid one cut by the
  patch); its exterior rings (clockwise) and holes (counter-clockwise), cut by the patch shrunk
  by 0.2 m so that the cut along the patch edge is not a boundary, pieces merged.

Every polyline is resampled every ``sample_dist`` metres from its start (HDMapNet keeps
``arange(0, length, 1)``: the last partial metre is dropped), and kept when it has >= 2 points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from shapely import affinity, ops
from shapely.geometry import LinearRing, LineString, MultiLineString, box

from hat.data.nuscenes_map.expansion import MapExpansion

__all__ = ["MAP_CLASSES", "ego_pose_2d", "layer_lines", "local_map_vectors", "patch_polygon"]

MAP_CLASSES = ("divider", "ped_crossing", "boundary")  # label ids 1, 2, 3 (0: others)


def ego_pose_2d(ego2global: np.ndarray) -> tuple[float, float, float]:
    """``(x, y, yaw_deg)`` of a 4x4 ego pose: the yaw of the rotated x axis in the ground plane."""
    m = np.asarray(ego2global, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f"ego2global must be a 4x4 matrix, got shape {m.shape}")
    yaw = math.atan2(m[1, 0], m[0, 0])
    return float(m[0, 3]), float(m[1, 3]), yaw / math.pi * 180


def patch_polygon(x: float, y: float, patch_size: tuple[float, float], angle_deg: float) -> Any:
    """The ``(lateral_m, forward_m)`` rectangle centred at ``(x, y)``, turned by ``angle_deg``."""
    lateral, forward = patch_size
    patch = box(x - forward / 2, y - lateral / 2, x + forward / 2, y + lateral / 2)
    return affinity.rotate(patch, angle_deg, origin=(x, y), use_radians=False)


def _to_ego(geom: Any, x: float, y: float, angle_deg: float) -> Any:
    geom = affinity.rotate(geom, -angle_deg, origin=(x, y), use_radians=False)
    return affinity.affine_transform(geom, [1.0, 0.0, 0.0, 1.0, -x, -y])


def _lines(geom: Any) -> Iterable[LineString]:
    """The LineStrings of a geometry (points of a touching cut are dropped)."""
    if geom.is_empty:
        return []
    if geom.geom_type == "LineString":
        return [geom]
    if geom.geom_type in ("MultiLineString", "GeometryCollection"):
        return [g for part in geom.geoms for g in _lines(part)]
    return []


def _polygons(geom: Any) -> list[Any]:
    """The Polygons of a geometry (lines or points of a touching cut are dropped)."""
    if geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    if geom.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [g for part in geom.geoms for g in _polygons(part)]
    return []


def _resample(line: LineString, sample_dist: float) -> np.ndarray:
    distances = np.arange(0, line.length, sample_dist)
    return np.array([line.interpolate(d).coords[0] for d in distances]).reshape(-1, 2)


def _cut_lines(expansion: MapExpansion, layer: str, patch: Any, pose: tuple) -> list[Any]:
    out = []
    for line in expansion[layer].query(patch):
        cut = line.intersection(patch)
        if not cut.is_empty:
            out.append(_to_ego(cut, *pose))
    return out


def layer_lines(
    expansion: MapExpansion,
    layer: str,
    ego2global: np.ndarray,
    patch_size: tuple[float, float] = (30.0, 60.0),
) -> list[np.ndarray]:
    """The lines of a line layer (``road_divider``, ``lane_divider``) cut by the patch, in the
    ego frame, not resampled (what the devkit's ``get_map_mask`` draws for that layer)."""
    x, y, angle = ego_pose_2d(ego2global)
    patch = patch_polygon(x, y, patch_size, angle)
    cuts = _cut_lines(expansion, layer, patch, (x, y, angle))
    return [np.asarray(line.coords) for g in cuts for line in _lines(g)]


def _crossing_sides(expansion: MapExpansion, patch: Any, pose: tuple) -> list[Any]:
    out = []
    for polygon in expansion["ped_crossing"].query(patch):
        xy = np.array(polygon.exterior.xy)
        dist = np.square(xy[:, 1:] - xy[:, :-1]).sum(0)
        for i in np.argsort(dist)[-2:]:
            side = LineString(xy[:, i : i + 2].T).intersection(patch)
            if not side.is_empty:
                out.append(_to_ego(side, *pose))
    return out


def _boundaries(
    expansion: MapExpansion, patch: Any, pose: tuple, patch_size: tuple[float, float]
) -> list[Any]:
    parts = []
    for layer in ("road_segment", "lane"):
        for polygon in expansion[layer].query(patch):
            if polygon.is_valid:
                cut = polygon.intersection(patch)
                if not cut.is_empty:
                    parts.append(_to_ego(cut, *pose))
    polygons = _polygons(ops.unary_union(parts))
    lateral, forward = patch_size
    inner = box(-forward / 2 + 0.2, -lateral / 2 + 0.2, forward / 2 - 0.2, lateral / 2 - 0.2)
    out = []
    for poly in polygons:
        rings = [(poly.exterior, False)] + [(r, True) for r in poly.interiors]
        for ring, want_ccw in rings:
            if ring.is_ccw != want_ccw:
                ring = LinearRing(list(ring.coords)[::-1])
            cut = ring.intersection(inner)
            if isinstance(cut, MultiLineString):
                cut = ops.linemerge(cut)
            out.append(cut)
    return out


def local_map_vectors(
    expansion: MapExpansion,
    ego2global: np.ndarray,
    patch_size: tuple[float, float] = (30.0, 60.0),
    sample_dist: float = 1.0,
) -> dict[str, list[np.ndarray]]:
    """``{class: [(n, 2) ego-frame points, ...]}`` for the classes of :data:`MAP_CLASSES`."""
    x, y, angle = ego_pose_2d(ego2global)
    patch = patch_polygon(x, y, patch_size, angle)
    pose = (x, y, angle)
    geoms = {
        "divider": _cut_lines(expansion, "road_divider", patch, pose)
        + _cut_lines(expansion, "lane_divider", patch, pose),
        "ped_crossing": _crossing_sides(expansion, patch, pose),
        "boundary": _boundaries(expansion, patch, pose, patch_size),
    }
    out: dict[str, list[np.ndarray]] = {}
    for name, items in geoms.items():
        pts = [_resample(line, sample_dist) for g in items for line in _lines(g)]
        out[name] = [p for p in pts if len(p) >= 2]
    return out
