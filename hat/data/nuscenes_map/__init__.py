"""nuScenes map expansion and the HDMapNet-style BEV map-segmentation target.

``map_target(sample, map_path, map_size)`` gives a sample's ``gt_seg_mask`` (0 others,
1 divider, 2 ped_crossing, 3 boundary); ``load_map_expansion`` parses a map expansion file;
``local_map_vectors`` and ``rasterize_vectors`` are the two steps in between.
"""

from hat.data.nuscenes_map.expansion import MapExpansion, load_map_expansion
from hat.data.nuscenes_map.local_vectors import (
    MAP_CLASSES,
    ego_pose_2d,
    layer_lines,
    local_map_vectors,
)
from hat.data.nuscenes_map.raster import MapGrid, draw_polylines, rasterize_vectors
from hat.data.nuscenes_map.target import find_map_file, load_location_map, map_target

__all__ = [
    "MAP_CLASSES",
    "MapExpansion",
    "MapGrid",
    "draw_polylines",
    "ego_pose_2d",
    "find_map_file",
    "layer_lines",
    "load_location_map",
    "load_map_expansion",
    "local_map_vectors",
    "map_target",
    "rasterize_vectors",
]
