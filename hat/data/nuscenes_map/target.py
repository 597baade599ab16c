"""``map_target``: the HDMapNet-style BEV map-segmentation target of a nuScenes sample.

``map_path`` is a folder holding the map expansion of each location, in any of the layouts
``<map_path>/maps/expansion/<location>.json`` (a nuScenes dataroot, or the packer's ``metas``
folder as HAT passes it to ``NuScenesMap``), ``<map_path>/expansion/<location>.json`` (the
dataroot's ``maps`` folder) or ``<map_path>/<location>.json``. Each location's file is parsed
once per process (a DataLoader worker keeps its parsed maps for the whole run); a changed file
(size or modification time) is parsed again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from hat.data.nuscenes_map.expansion import MapExpansion, load_map_expansion
from hat.data.nuscenes_map.local_vectors import local_map_vectors
from hat.data.nuscenes_map.raster import MapGrid, rasterize_vectors

__all__ = ["find_map_file", "load_location_map", "map_target"]

_LAYOUTS = (("maps", "expansion"), ("expansion",), ())
_CACHE: dict[tuple[str, int, int], MapExpansion] = {}
_LOCK = threading.Lock()


def find_map_file(map_path: str | os.PathLike, location: str) -> str:
    """The map expansion file of ``location`` under ``map_path`` (see the module doc)."""
    if not isinstance(location, str) or not location:
        raise ValueError(f"sample 'location' must be a location name, got {location!r}")
    candidates = [os.path.join(map_path, *parts, f"{location}.json") for parts in _LAYOUTS]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"no map expansion for location {location!r} under {os.fspath(map_path)}: looked for "
        + ", ".join(candidates)
    )


def load_location_map(map_path: str | os.PathLike, location: str) -> MapExpansion:
    """The parsed map of ``location``, from this process's cache when the file is unchanged."""
    path = os.path.realpath(find_map_file(map_path, location))
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        cached = load_map_expansion(path)
        with _LOCK:
            for old in [k for k in _CACHE if k[0] == path]:
                del _CACHE[old]
            _CACHE[key] = cached
    return cached


def map_target(
    sample: dict, map_path: str | os.PathLike, map_size: Sequence[float], thickness: int = 5
) -> np.ndarray:
    """``gt_seg_mask``: ``(rows, cols)`` int64, 0 others / 1 divider / 2 ped_crossing /
    3 boundary, around ``sample["ego2global"]`` in the map of ``sample["location"]``.

    ``map_size = (lateral_half_m, forward_half_m, resolution_m)``, e.g. ``(15, 30, 0.15)`` for
    the recipe's 200 x 400 grid (rows along ego y, columns along ego x: see
    :mod:`hat.data.nuscenes_map.raster`).
    """
    for key in ("location", "ego2global"):
        if key not in sample:
            raise KeyError(f"map_target: the sample has no {key!r} (keys: {sorted(sample)})")
    grid = MapGrid(map_size)
    expansion = load_location_map(map_path, sample["location"])
    vectors = local_map_vectors(expansion, sample["ego2global"], grid.patch_size)
    return rasterize_vectors(vectors, grid, thickness)
