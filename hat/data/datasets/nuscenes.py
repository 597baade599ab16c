"""nuScenes multi-camera datasets for the BEV task: packed LMDB and raw files.

Item (before transforms), one key frame; V = 6 cameras in ``NUSCENES_CAMERAS`` order, N boxes::

    {"sample_token": str, "scene": str, "location": str, "timestamp": int,      # µs
     "ego2global": (4, 4) float64,          # LIDAR_TOP's ego pose (CAM_FRONT's without lidar)
     "cam_names": [str] * V,
     "img": [(H, W, 3) uint8 RGB] * V,      # the stored JPEGs as PIL decodes them
     "intrinsics": (V, 3, 3), "sensor2ego": (V, 4, 4), "cam_ego2global": (V, 4, 4),  # float64
     "gt_boxes": (N, 9) float64,            # ego frame: x y z(centre) w l h yaw vx vy
     "gt_boxes_global": (N, 9), "gt_rotation_global": (N, 4),   # global frame, quaternion wxyz
     "gt_labels": (N,) int64,               # index into DETECTION_CLASSES (HAT's order)
     "gt_attributes": [str] * N,            # "" when none
     "gt_num_lidar_pts", "gt_num_radar_pts", "gt_visibility": (N,) int64,
     "gt_instance_tokens": [str] * N,
     "gt_velocity_valid": (N,) bool,        # False: no velocity estimate (vx = vy = 0 then)
     "gt_seg_mask": (rows, cols) int64}     # only with map_path: 0 others / 1 divider /
                                            # 2 ped_crossing / 3 boundary (hat.data.nuscenes_map)

Multi-view transforms (``BevImg*``) add ``img_aug`` (V, 3, 3); ``collate_nuscenes`` batches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from hat.data.codecs.nuscenes import decode_record, encode_frame
from hat.data.datasets.base import LmdbRecordDataset, SampleDataset, Transforms
from hat.data.readers.nuscenes_constants import DETECTION_CLASSES
from hat.data.readers.nuscenes_layout import NuscenesLayout, read_file_bytes
from hat.registry import OBJECT_REGISTRY

__all__ = ["NuscenesDataset", "NuscenesFromImage"]


def _grid(value: Sequence[float] | None, name: str) -> tuple[float, float, float] | None:
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3 or min(out) <= 0:
        raise ValueError(
            f"{name} must be (range_m, range_m, resolution_m) with positive numbers, got {value!r}"
        )
    return out  # type: ignore[return-value]


class _MapTarget:
    """Adds ``gt_seg_mask`` to a sample when ``map_path`` is given."""

    def __init__(self, map_path: str | None, map_size: Sequence[float] | None) -> None:
        self.map_path = None if map_path is None else os.fspath(map_path)
        self.map_size = _grid(map_size, "map_size")
        if self.map_path is not None and self.map_size is None:
            raise ValueError("map_size is required with map_path (e.g. (15, 30, 0.15))")
        if self.map_path is not None and not os.path.isdir(self.map_path):
            raise FileNotFoundError(f"map_path not found: {self.map_path}")

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        if self.map_path is not None:
            from hat.data.nuscenes_map import map_target  # shapely: only for the map task

            sample["gt_seg_mask"] = map_target(sample, self.map_path, self.map_size)
        return sample


@OBJECT_REGISTRY.register
class NuscenesDataset(LmdbRecordDataset):
    """nuScenes key frames packed by :class:`~hat.data.packers.nuscenes.NuscenesPacker`.

    Args:
        data_path: the LMDB (e.g. ``tmp_data/nuscenes/v1.0-trainval/train_lmdb``).
        transforms: a callable, a list of callables (applied in order) or None.
        bev_size: the model's BEV grid ``(range_m, range_m, resolution_m)``, e.g.
            ``(51.2, 51.2, 0.8)``; kept for the recipe's transforms and decoders (boxes are
            not cut to it: evaluation needs every box).
        map_size: the map-segmentation grid ``(lateral_half_m, forward_half_m, resolution_m)``,
            e.g. ``(15, 30, 0.15)`` (:mod:`hat.data.nuscenes_map.raster`).
        map_path: the packer's ``metas`` (or a dataroot): with it every sample gets
            ``gt_seg_mask``.
    """

    CLASSES = DETECTION_CLASSES

    def __init__(
        self,
        data_path: str,
        transforms: Transforms = None,
        bev_size: Sequence[float] | None = None,
        map_size: Sequence[float] | None = None,
        map_path: str | None = None,
    ) -> None:
        super().__init__(data_path, transforms, to_rgb=True)
        self.bev_size = _grid(bev_size, "bev_size")
        self.map_target = _MapTarget(map_path, map_size)

    def _decode_record(self, value: Any, idx: int, where: str, copy: bool) -> dict:
        return self.map_target(decode_record(value, where))

    def _repr_source(self) -> str:
        return f"map_path={self.map_target.map_path!r}, "


@OBJECT_REGISTRY.register
class NuscenesFromImage(SampleDataset):
    """nuScenes key frames read from the raw dataroot (e.g. batch 1 for align_bpu): the same
    item as :class:`NuscenesDataset` gives for the packed split.

    Args:
        data_path: the nuScenes dataroot (``samples/``, ``maps/``, ``<version>/``).
        version: the table folder, e.g. ``"v1.0-mini"``.
        split_name: an official split of ``version`` or one of ``<version>/splits.json``.
        transforms, bev_size, map_size, map_path: as :class:`NuscenesDataset`.
        num_samples: use only the first N key frames.
    """

    CLASSES = DETECTION_CLASSES

    def __init__(
        self,
        data_path: str,
        version: str = "v1.0-trainval",
        split_name: str = "val",
        transforms: Transforms = None,
        bev_size: Sequence[float] | None = None,
        map_size: Sequence[float] | None = None,
        map_path: str | None = None,
        num_samples: int | None = None,
    ) -> None:
        super().__init__(data_path, transforms, to_rgb=True)
        self.version = version
        self.split_name = split_name
        self.bev_size = _grid(bev_size, "bev_size")
        self.map_target = _MapTarget(map_path, map_size)
        # the frames hold everything but the images: the tables are not kept
        self.frames = NuscenesLayout(self.data_path, version).frames(split_name)
        if num_samples is not None:
            self.frames = self.frames[: int(num_samples)]

    def __len__(self) -> int:
        return len(self.frames)

    def _load(self, idx: int) -> dict:
        frame = self.frames[idx]
        jpegs = [read_file_bytes(self.data_path, view.filename) for view in frame.cameras]
        where = f"{self.data_path} sample {frame.sample_token!r}"
        return self.map_target(decode_record(encode_frame(frame, jpegs), where))

    def _repr_source(self) -> str:
        return f"version={self.version!r}, split_name={self.split_name!r}, "
