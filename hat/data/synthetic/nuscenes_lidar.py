"""A 32-beam spinning lidar (as nuScenes' LIDAR_TOP) cast against the ground, objects and buildings.

Beams span -30.67 to +10.67 deg of elevation (the HDL-32E's), one ray per ``azimuth_step``
degrees; a return is the nearest hit within 1-80 m of the ground plane or an oriented box
(objects use their annotation box, buildings their footprint box), with 2 cm range noise and a
few dropouts. Rows of the ``.pcd.bin`` are float32 ``x, y, z, intensity, ring`` in the lidar
frame, as the real files. An object's ``num_lidar_pts`` is the number of returns inside its box
(:func:`count_in_boxes`, nuScenes' definition: a bicycle rack's box counts the bicycles in it).
"""

from __future__ import annotations

import numpy as np

from hat.data.synthetic.nuscenes_ground import GroundPainter

__all__ = ["LidarScan", "count_in_boxes", "scan_lidar"]

_ELEVATIONS = np.deg2rad(np.linspace(-30.67, 10.67, 32))
_MIN_RANGE, _MAX_RANGE = 1.0, 80.0


class LidarScan:
    """``points`` (N, 5) float32 in the lidar frame; ``world`` (N, 3) the same in global."""

    def __init__(self, points: np.ndarray, world: np.ndarray) -> None:
        self.points = points
        self.world = world


def count_in_boxes(
    world: np.ndarray, boxes: list[tuple[np.ndarray, float, np.ndarray]]
) -> list[int]:
    """Returns inside each (centre, yaw, half extents) box, ground returns excluded."""
    above = world[world[:, 2] > 0.06]
    counts = []
    for centre, yaw, half in boxes:
        rel = above - centre
        near = np.flatnonzero(np.abs(rel[:, 0]) + np.abs(rel[:, 1]) < 1.5 * (half[0] + half[1]))
        c, s = np.cos(yaw), np.sin(yaw)
        x = c * rel[near, 0] + s * rel[near, 1]
        y = -s * rel[near, 0] + c * rel[near, 1]
        tol = 0.03  # range noise
        inside = (np.abs(x) <= half[0] + tol) & (np.abs(y) <= half[1] + tol)
        inside &= np.abs(rel[near, 2]) <= half[2] + tol
        counts.append(int(inside.sum()))
    return counts


def _box_hits(o: np.ndarray, d: np.ndarray, centre, yaw, half) -> np.ndarray:
    """Ray parameters of the entry into an oriented box (inf where missed); d (n, 3)."""
    c, s = np.cos(yaw), np.sin(yaw)
    rel = o - centre
    ol = np.array([c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1], rel[2]])
    dl = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - ol) / dl
        t2 = (half - ol) / dl
    tmin = np.nanmax(np.minimum(t1, t2), axis=1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=1)
    hit = (tmax >= tmin) & (tmax > 0)
    return np.where(hit, np.maximum(tmin, 0.0), np.inf)


def scan_lidar(
    lidar_rotation: np.ndarray,
    lidar_position: np.ndarray,
    boxes: list[tuple[np.ndarray, float, np.ndarray, float]],
    ground: GroundPainter,
    rng: np.random.Generator,
    azimuth_step: float = 0.5,
) -> LidarScan:
    """Cast one sweep. ``boxes``: (centre (3,), yaw, half extents (l/2, w/2, h/2), intensity)
    in the global frame; ``lidar_rotation``/``lidar_position`` lidar -> global."""
    az = np.deg2rad(np.arange(0.0, 360.0, azimuth_step))
    el = _ELEVATIONS
    # directions in the global frame; azimuth measured in the ego-horizontal plane
    local = np.stack(
        np.broadcast_arrays(
            np.cos(el)[:, None] * np.cos(az)[None],
            np.cos(el)[:, None] * np.sin(az)[None],
            np.sin(el)[:, None] * np.ones_like(az)[None],
        ),
        -1,
    )
    dirs = local.reshape(-1, 3) @ lidar_rotation.T
    o = np.asarray(lidar_position, float)
    n_az = len(az)
    t = np.full(len(dirs), np.inf)
    owner = np.full(len(dirs), -1, np.int64)
    down = dirs[:, 2] < -1e-6
    t[down] = -o[2] / dirs[down, 2]
    owner[down] = -2
    # candidate rays per box: the azimuth window the box covers (in the lidar's own angles)
    world_az = np.arctan2(dirs[:n_az, 1], dirs[:n_az, 0])  # ring 0 azimuths, same for all rings
    for i, (centre, yaw, half, _) in enumerate(boxes):
        rel = centre - o
        dist = np.hypot(rel[0], rel[1])
        radius = np.hypot(half[0], half[1])
        if dist - radius > _MAX_RANGE:
            continue
        if dist <= radius + 0.1:
            cols = np.arange(n_az)
        else:
            span = np.arcsin(min(radius / dist, 1.0)) + np.deg2rad(azimuth_step)
            diff = np.angle(np.exp(1j * (world_az - np.arctan2(rel[1], rel[0]))))
            cols = np.flatnonzero(np.abs(diff) <= span)
        if not len(cols):
            continue
        rays = (np.arange(len(el))[:, None] * n_az + cols[None]).ravel()
        tb = _box_hits(o, dirs[rays], centre, yaw, half)
        closer = tb < t[rays]
        t[rays[closer]] = tb[closer]
        owner[rays[closer]] = i
    rng_t = np.linalg.norm(dirs, axis=1) * t
    keep = (rng_t >= _MIN_RANGE) & (rng_t <= _MAX_RANGE) & (rng.random(len(t)) > 0.02)
    idx = np.flatnonzero(keep)
    ranges = t[idx] + rng.normal(0.0, 0.02, len(idx))
    pts = o + dirs[idx] * ranges[:, None]
    intensity = np.empty(len(idx), np.float32)
    on_ground = owner[idx] == -2
    intensity[on_ground] = ground.intensity(
        pts[on_ground, 0].astype(np.float32), pts[on_ground, 1].astype(np.float32)
    )
    box_int = np.array([b[3] for b in boxes] + [0.0], np.float32)
    intensity[~on_ground] = box_int[owner[idx][~on_ground]] * rng.uniform(
        0.8, 1.2, (~on_ground).sum()
    )
    ring = (idx // n_az).astype(np.float32)
    local_pts = (pts - o) @ lidar_rotation  # global -> lidar frame
    points = np.concatenate(
        [local_pts.astype(np.float32), intensity[:, None], ring[:, None]], 1
    ).astype(np.float32)
    return LidarScan(points, pts)
