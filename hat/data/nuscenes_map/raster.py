"""HDMapNet's rasterisation of the local map vectors into the BEV map-segmentation target.

The grid (HDMapNet's and HAT's, ``map_size = (lateral_half_m, forward_half_m, resolution_m)``,
the recipe's ``(15, 30, 0.15)``): a canvas of ``(int(2 lateral / res), int(2 forward / res))``
= (200, 400) cells over the patch ``(2 lateral, 2 forward)`` = (30 m, 60 m). **Rows run along
ego y** (row 0 at y = -15 m, the ego's right; rows grow to its left) and **columns along ego x**
(column 0 at x = -30 m behind, columns grow forward). An ego point ``(x, y)`` falls in cell
``(int((y + 15) * 200 / 30), int((x + 30) * 400 / 60))``; the ego is at the canvas centre.
(Pictures turn it so that x points up: :mod:`hat.visualize.nuscenes_plot`.)

Each class's polylines are drawn with ``cv2.polylines`` at ``thickness`` (5) cells through their
points truncated to integer cells; where a later class is drawn (``thickness + 4`` wide) the earlier
classes are cleared (HDMapNet's ``overlap_filter``: boundary over ped_crossing over divider), so
every cell holds one class: 0 others, 1 divider, 2 ped_crossing, 3 boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from shapely import affinity
from shapely.geometry import LineString, box

from hat.data.nuscenes_map.local_vectors import MAP_CLASSES

__all__ = ["MapGrid", "draw_polylines", "rasterize_vectors"]


class MapGrid:
    """The target grid of ``map_size = (lateral_half_m, forward_half_m, resolution_m)``."""

    def __init__(self, map_size: Sequence[float]) -> None:
        values = tuple(float(v) for v in map_size)
        if len(values) != 3 or min(values) <= 0:
            raise ValueError(
                "map_size must be (lateral_half_m, forward_half_m, resolution_m) > 0, e.g. "
                f"(15, 30, 0.15), got {map_size!r}"
            )
        lateral, forward, res = values
        self.map_size = values
        self.patch_size = (lateral * 2, forward * 2)  # (metres along y, metres along x)
        self.canvas_size = (int(lateral * 2 / res), int(forward * 2 / res))  # (rows, cols)

    def __repr__(self) -> str:
        return f"MapGrid(map_size={self.map_size}, canvas={self.canvas_size})"


def draw_polylines(
    lines: Sequence[np.ndarray], grid: MapGrid, thickness: int, canvas: np.ndarray | None = None
) -> np.ndarray:
    """Draw ego-frame polylines (each ``(n, 2)`` x, y) into a uint8 ``grid.canvas_size`` mask
    (value 1), cut by the patch, as HDMapNet's ``line_geom_to_mask``."""
    patch_h, patch_w = grid.patch_size
    rows, cols = grid.canvas_size
    mask = np.zeros((rows, cols), np.uint8) if canvas is None else canvas
    patch = box(-patch_w / 2, -patch_h / 2, patch_w / 2, patch_h / 2)
    for pts in lines:
        cut = LineString(pts).intersection(patch)
        if cut.is_empty:
            continue
        cut = affinity.affine_transform(cut, [1.0, 0.0, 0.0, 1.0, patch_w / 2, patch_h / 2])
        cut = affinity.scale(cut, xfact=cols / patch_w, yfact=rows / patch_h, origin=(0, 0))
        for part in getattr(cut, "geoms", [cut]):
            if part.geom_type != "LineString":
                continue
            coords = np.asarray(part.coords, np.float64).astype(np.int32).reshape(-1, 2)
            if len(coords) >= 2:
                cv2.polylines(mask, [coords], False, color=1, thickness=thickness)
    return mask


def rasterize_vectors(
    vectors: dict[str, list[np.ndarray]], grid: MapGrid, thickness: int = 5
) -> np.ndarray:
    """``(rows, cols)`` int64 class ids (0 others, 1 divider, 2 ped_crossing, 3 boundary)."""
    masks = [draw_polylines(vectors.get(name, []), grid, thickness) for name in MAP_CLASSES]
    wide = [draw_polylines(vectors.get(name, []), grid, thickness + 4) for name in MAP_CLASSES]
    out = np.zeros(grid.canvas_size, np.int64)
    for c, mask in enumerate(masks):
        keep = mask.astype(bool)
        for later in wide[c + 1 :]:
            keep &= ~later.astype(bool)
        out[keep] = c + 1
    return out
