"""The ground of the synthetic nuScenes world, evaluated at any global (x, y): colour and kind.

Procedural (no raster): asphalt roads with their markings (double centre line, dashed lane
dividers, solid edge lines, zebra crossings, stop lines), curbs, paved walkways, parking lots
with bay stripes, grass elsewhere; tileable noise textures vary the surfaces. The same function
colours camera pixels (ray hits on the ground plane) and gives lidar intensities, so what the
images show always matches the map JSON written from the same :class:`World`.
"""

from __future__ import annotations

import cv2
import numpy as np

from hat.data.synthetic.nuscenes_world import World

__all__ = ["GROUND_KINDS", "GroundPainter"]

GROUND_KINDS = ("grass", "asphalt", "walkway", "curb", "carpark", "white", "yellow")
_K = {name: i for i, name in enumerate(GROUND_KINDS)}
_COLOURS = np.array(
    [
        (78, 104, 55),
        (80, 81, 84),
        (158, 155, 148),
        (188, 186, 180),
        (96, 96, 98),
        (226, 226, 220),
        (222, 178, 48),
    ],
    np.float32,
)
_TEXTURE = np.array([0.16, 0.07, 0.06, 0.04, 0.07, 0.03, 0.03], np.float32)
_INTENSITY = np.array([22, 6, 30, 40, 9, 95, 75], np.float32)
_TILE = 256
_FINE_TEXEL = 0.05  # m
_COARSE_TEXEL = 0.5  # m


class GroundPainter:
    """Colours (RGB float, 0-255) and kinds (index into :data:`GROUND_KINDS`) of ground points."""

    def __init__(self, world: World, seed: int) -> None:
        rng = np.random.default_rng([seed, 0x6E75])
        self.world = world
        self.fine = rng.normal(0.0, 1.0, (_TILE, _TILE)).astype(np.float32)
        coarse = rng.normal(0.0, 1.0, (24, 24)).astype(np.float32)
        coarse = np.tile(coarse, (2, 2))
        coarse = cv2.resize(coarse, (2 * _TILE, 2 * _TILE), interpolation=cv2.INTER_CUBIC)
        coarse = coarse[_TILE // 2 : _TILE // 2 + _TILE, _TILE // 2 : _TILE // 2 + _TILE]
        self.coarse = (coarse / max(float(coarse.std()), 1e-6)).astype(np.float32)
        self.roads_x = np.asarray(world.roads_x, np.float32)
        self.roads_y = np.asarray(world.roads_y, np.float32)

    # ------------------------------------------------------------------ kinds
    def kinds(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The ground kind at global points (uint8, index into :data:`GROUND_KINDS`)."""
        return self._kinds(*self._local(x, y))

    def _local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lx, ly = self.world.to_local(x, y)
        return lx.astype(np.float32), ly.astype(np.float32)

    def _kinds(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Kinds at grid-frame points; beyond the grid's extent all is grass."""
        w = self.world
        lat0, dj0, side0 = _nearest(y, self.roads_x, x, self.roads_y)
        lat1, dj1, side1 = _nearest(x, self.roads_y, y, self.roads_x)
        lat1 = -lat1  # left of +y travel is -x
        half = w.road_half_width
        a0, a1 = np.abs(lat0), np.abs(lat1)
        near = np.minimum(a0, a1)  # distance to the nearest centre line
        kind = np.full(x.shape, _K["grass"], np.uint8)
        kind[near < w.walkway_outer] = _K["walkway"]
        kind[np.abs(near - half - 0.15) < 0.15] = _K["curb"]
        kind[near < half] = _K["asphalt"]
        off = np.flatnonzero(near >= w.walkway_outer)
        for x0, y0, x1, y1 in w.carparks:
            px, py = x[off], y[off]
            inside = (px >= x0) & (px < x1) & (py >= y0) & (py < y1)
            if not inside.any():
                continue
            kind[off[inside]] = _K["carpark"]
            depth = y1 - y0
            bay = inside & (np.mod(px - x0, 2.6) < 0.12)
            bay &= (py - y0 < 0.3 * depth) | (y1 - py > 0.3 * depth)
            kind[off[bay]] = _K["white"]
        for lat, dj, side, along, arm in (
            (lat0, dj0, side0, x, (a0 < half) & (a1 >= half)),
            (lat1, dj1, side1, y, (a1 < half) & (a0 >= half)),
        ):
            idx = np.flatnonzero(arm)
            kind[idx] = self._arm_markings(kind[idx], lat[idx], dj[idx], side[idx], along[idx])
        outside = (x < 0) | (y < 0) | (x > w.extent[0]) | (y > w.extent[1])
        kind[outside] = _K["grass"]
        return kind

    def _arm_markings(
        self,
        kind: np.ndarray,
        lat: np.ndarray,
        dj: np.ndarray,
        side: np.ndarray,
        along: np.ndarray,
    ) -> np.ndarray:
        """Paint the markings on points of road arms (one road, outside junctions)."""
        w = self.world
        alat = np.abs(lat)
        c0, c1 = w.crossing_band()
        kind[(dj >= c0) & (dj < c1) & (np.mod(alat, 1.0) < 0.5)] = _K["white"]
        s0, s1 = w.stop_band()
        # inbound traffic moves towards the junction: direction -side along the road's axis
        inbound = (np.where(side > 0, -1.0, 1.0) * (-1.0 if w.right_hand else 1.0) * lat) > 0
        kind[(dj >= s0) & (dj < s1) & inbound & (alat < w.lanes_half_width)] = _K["white"]
        lined = dj >= w.markings_start()
        centre = lined & (alat >= 0.1) & (alat < 0.25)
        kind[centre] = _K["yellow"] if w.right_hand else _K["white"]
        dash = lined & (np.mod(along, 9.0) < 3.0)
        for k in range(1, w.lanes_per_direction):
            kind[dash & (np.abs(alat - k * w.lane_width) < 0.075)] = _K["white"]
        kind[lined & (np.abs(alat - w.lanes_half_width) < 0.1)] = _K["white"]
        return kind

    # ------------------------------------------------------------------ colours
    def colours(
        self, x: np.ndarray, y: np.ndarray, distance: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(rgb (N, 3) float32, kind (N,) uint8)`` of global ground points (1-D arrays)."""
        x, y = self._local(x, y)  # textures and paving joints follow the grid
        kind = self._kinds(x, y)
        fi = (
            np.floor(x / _FINE_TEXEL).astype(np.int64) & (_TILE - 1),
            np.floor(y / _FINE_TEXEL).astype(np.int64) & (_TILE - 1),
        )
        ci = (
            np.floor(x / _COARSE_TEXEL).astype(np.int64) & (_TILE - 1),
            np.floor(y / _COARSE_TEXEL).astype(np.int64) & (_TILE - 1),
        )
        fine = self.fine[fi[1], fi[0]]
        if distance is not None:  # far texels alias into noise: fade the fine texture with range
            fine = fine * np.clip(1.0 - distance / 90.0, 0.25, 1.0)
        amp = _TEXTURE[kind]
        gain = 1.0 + amp * (0.8 * fine + 0.8 * self.coarse[ci[1], ci[0]])
        walk = np.flatnonzero(kind == _K["walkway"])
        wx, wy = x[walk], y[walk]
        gain[walk[(np.mod(wx, 1.5) < 0.05) | (np.mod(wy, 1.5) < 0.05)]] *= 0.82
        rgb = _COLOURS[kind] * gain[:, None]
        return np.clip(rgb, 0, 255), kind

    def intensity(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Lidar return intensities (0-255) of ground points: markings bright, asphalt dark."""
        x, y = self._local(x, y)
        kind = self._kinds(x, y)
        fi = (
            np.floor(x / _FINE_TEXEL).astype(np.int64) & (_TILE - 1),
            np.floor(y / _FINE_TEXEL).astype(np.int64) & (_TILE - 1),
        )
        return np.clip(_INTENSITY[kind] * (1.0 + 0.2 * self.fine[fi[1], fi[0]]), 0, 255)


def _nearest(
    lateral_coord: np.ndarray, centres: np.ndarray, along: np.ndarray, junctions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offset from the nearest road centre line, distance to and side of the nearest junction."""
    lat = _closest(lateral_coord, centres)
    j = _closest(along, junctions)
    return lat, np.abs(j), np.sign(j)


def _closest(values: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``values - c`` for the centre ``c`` closest to each value."""
    best = values - centres[0]
    for c in centres[1:]:
        d = values - c
        best = np.where(np.abs(d) < np.abs(best), d, best)
    return best
