"""A nuScenes download as key frames: cameras, poses, calibrations and boxes per sample.

Layout (the real one)::

    <dataroot>/samples/<CHANNEL>/<logfile>__<CHANNEL>__<timestamp>.jpg   (and LIDAR_TOP .pcd.bin)
    <dataroot>/maps/expansion/<location>.json
    <dataroot>/<version>/<13 tables>.json

Only key frames are read (``sample_data.is_key_frame``); sweeps, radars and non-key camera
frames of the real download are ignored. A split's scenes (official or custom, see
:mod:`~hat.data.readers.nuscenes_splits`) are taken in the order of ``scene.json``, the samples
of a scene in time order (``first_sample_token`` then ``next``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hat.data.errors import CorruptFileError
from hat.data.readers.nuscenes_boxes import FrameBoxes, box_velocity
from hat.data.readers.nuscenes_constants import (
    CATEGORY_TO_DETECTION,
    DETECTION_CLASSES,
    NUSCENES_CAMERAS,
)
from hat.data.readers.nuscenes_geometry import pose_matrix
from hat.data.readers.nuscenes_splits import split_scene_names
from hat.data.readers.nuscenes_tables import NuscenesTables

__all__ = ["CameraView", "NuscenesFrame", "NuscenesLayout", "read_file_bytes"]

LIDAR_CHANNEL = "LIDAR_TOP"
_VISIBILITY_LEVELS = {"v0-40": 1, "v40-60": 2, "v60-80": 3, "v80-100": 4}


@dataclass
class CameraView:
    """One camera's key frame of a sample."""

    channel: str
    filename: str  # relative to the dataroot, as in sample_data.json
    width: int
    height: int
    timestamp: int  # µs
    intrinsic: np.ndarray  # (3, 3)
    sensor2ego: np.ndarray  # (4, 4)
    ego2global: np.ndarray  # (4, 4): the ego pose at this camera's timestamp


@dataclass
class NuscenesFrame:
    """One key frame (a ``sample``): everything the packer stores except the image bytes."""

    sample_token: str
    scene: str
    location: str
    timestamp: int  # µs
    cameras: list[CameraView]  # in NUSCENES_CAMERAS order
    ego2global: np.ndarray  # LIDAR_TOP's ego pose (CAM_FRONT's when there is no LIDAR_TOP)
    lidar_sensor2ego: np.ndarray | None = None
    lidar_timestamp: int | None = None
    boxes: FrameBoxes = field(default_factory=FrameBoxes)


def read_file_bytes(dataroot: str, filename: str) -> bytes:
    """The bytes of ``<dataroot>/<filename>``; a missing file is named by its path."""
    path = os.path.join(dataroot, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"nuScenes file not found: {path}")
    with open(path, "rb") as f:
        return f.read()


class NuscenesLayout:
    """The key frames of ``<dataroot>/<version>``.

    Args:
        dataroot: the nuScenes root directory.
        version: e.g. ``"v1.0-mini"``.
    """

    def __init__(self, dataroot: str | os.PathLike, version: str) -> None:
        self.dataroot = os.fspath(dataroot)
        self.version = version
        self.tables = NuscenesTables(self.dataroot, version)
        self._channels: dict[str, str] = {}
        self._key_data = self._index_key_frames()
        self._annotations = self._index_annotations()

    # --- splits and frames -------------------------------------------------------------------
    def scene_records(self, split: str) -> list[dict[str, Any]]:
        """The ``scene`` records of ``split`` present in this version, in ``scene.json`` order."""
        names = set(split_scene_names(split, self.dataroot, self.version))
        scenes = [s for s in self.tables.rows("scene") if s.get("name") in names]
        if not scenes:
            path = os.path.join(self.dataroot, self.tables.file("scene"))
            raise ValueError(f"no scene of split {split!r} is in {path}")
        return scenes

    def sample_tokens(self, split: str) -> list[str]:
        """The key frames of ``split``: scenes in table order, samples in time order."""
        tokens = []
        for scene in self.scene_records(split):
            tokens += self._scene_samples(scene)
        return tokens

    def frames(self, split: str) -> list[NuscenesFrame]:
        """Every key frame of ``split`` with its cameras, poses and boxes."""
        return [self.frame(token) for token in self.sample_tokens(split)]

    def frame(self, sample_token: str) -> NuscenesFrame:
        """The key frame ``sample_token``."""
        t = self.tables
        sample = t.get("sample", sample_token)
        scene = t.ref("sample", sample, "scene_token", "scene")
        log = t.ref("scene", scene, "log_token", "log")
        key_data = self._key_data.get(sample_token, {})
        cameras = []
        for channel in NUSCENES_CAMERAS:
            record = key_data.get(channel)
            if record is None:
                raise CorruptFileError(
                    f"{t.file('sample_data')}: sample {sample_token!r} has no key frame of "
                    f"{channel}"
                )
            cameras.append(self._camera(record, channel))
        lidar = key_data.get(LIDAR_CHANNEL)
        if lidar is not None:
            ego2global = self._ego_pose(lidar)
            lidar_sensor2ego = self._calibration(lidar)[0]
            lidar_timestamp = int(t.field("sample_data", lidar, "timestamp"))
        else:
            ego2global = cameras[NUSCENES_CAMERAS.index("CAM_FRONT")].ego2global
            lidar_sensor2ego = lidar_timestamp = None
        return NuscenesFrame(
            sample_token=sample_token,
            scene=str(t.field("scene", scene, "name")),
            location=str(t.field("log", log, "location")),
            timestamp=int(t.field("sample", sample, "timestamp")),
            cameras=cameras,
            ego2global=ego2global,
            lidar_sensor2ego=lidar_sensor2ego,
            lidar_timestamp=lidar_timestamp,
            boxes=self._boxes(sample_token),
        )

    def camera_path(self, view: CameraView) -> str:
        return os.path.join(self.dataroot, view.filename)

    def missing_images(self, frames: list[NuscenesFrame]) -> list[str]:
        """Paths of the frames' camera images that are not on disk."""
        return [
            self.camera_path(v)
            for f in frames
            for v in f.cameras
            if not os.path.isfile(self.camera_path(v))
        ]

    def locations(self) -> list[str]:
        """The locations of the logs, sorted."""
        return sorted(
            {str(self.tables.field("log", r, "location")) for r in self.tables.rows("log")}
        )

    # --- indices -----------------------------------------------------------------------------
    def _index_key_frames(self) -> dict[str, dict[str, dict[str, Any]]]:
        t = self.tables
        by_sample: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for record in t.rows("sample_data"):
            if not t.field("sample_data", record, "is_key_frame"):
                continue
            sample = t.ref("sample_data", record, "sample_token", "sample")
            channel = self._channel(record)
            if channel in by_sample[sample["token"]]:
                raise CorruptFileError(
                    f"{t.file('sample_data')}: sample {sample['token']!r} has two key frames of "
                    f"{channel} ({by_sample[sample['token']][channel]['token']!r} and "
                    f"{record['token']!r})"
                )
            by_sample[sample["token"]][channel] = record
        return dict(by_sample)

    def _index_annotations(self) -> dict[str, list[dict[str, Any]]]:
        by_sample: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in self.tables.rows("sample_annotation"):
            by_sample[self.tables.field("sample_annotation", record, "sample_token")].append(record)
        return dict(by_sample)

    def _scene_samples(self, scene: dict[str, Any]) -> list[str]:
        t = self.tables
        tokens: list[str] = []
        sample = t.ref("scene", scene, "first_sample_token", "sample")
        limit = len(t.rows("sample"))
        while True:
            tokens.append(sample["token"])
            if not t.field("sample", sample, "next"):
                return tokens
            if len(tokens) > limit:
                raise CorruptFileError(
                    f"{t.file('sample')}: the 'next' chain of scene {scene['name']!r} loops"
                )
            sample = t.ref("sample", sample, "next", "sample")

    # --- records -> arrays -------------------------------------------------------------------
    def _channel(self, sample_data: dict[str, Any]) -> str:
        t = self.tables
        calib_token = t.field("sample_data", sample_data, "calibrated_sensor_token")
        channel = self._channels.get(calib_token)
        if channel is None:
            calib = t.ref(
                "sample_data", sample_data, "calibrated_sensor_token", "calibrated_sensor"
            )
            sensor = t.ref("calibrated_sensor", calib, "sensor_token", "sensor")
            channel = self._channels[calib_token] = str(t.field("sensor", sensor, "channel"))
        return channel

    def _calibration(self, sample_data: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        t = self.tables
        calib = t.ref("sample_data", sample_data, "calibrated_sensor_token", "calibrated_sensor")
        where = ("calibrated_sensor", calib)
        mat = pose_matrix(t.field(*where, "translation"), t.field(*where, "rotation"))
        return mat, calib

    def _ego_pose(self, sample_data: dict[str, Any]) -> np.ndarray:
        t = self.tables
        pose = t.ref("sample_data", sample_data, "ego_pose_token", "ego_pose")
        return pose_matrix(
            t.field("ego_pose", pose, "translation"), t.field("ego_pose", pose, "rotation")
        )

    def _camera(self, record: dict[str, Any], channel: str) -> CameraView:
        t = self.tables
        sensor2ego, calib = self._calibration(record)
        intrinsic = np.asarray(t.field("calibrated_sensor", calib, "camera_intrinsic"), np.float64)
        if intrinsic.shape != (3, 3):
            raise CorruptFileError(
                f"{t.file('calibrated_sensor')}: record {calib['token']!r} of {channel} has "
                f"camera_intrinsic of shape {intrinsic.shape}, expected (3, 3)"
            )
        return CameraView(
            channel=channel,
            filename=str(t.field("sample_data", record, "filename")),
            width=int(t.field("sample_data", record, "width")),
            height=int(t.field("sample_data", record, "height")),
            timestamp=int(t.field("sample_data", record, "timestamp")),
            intrinsic=intrinsic,
            sensor2ego=sensor2ego,
            ego2global=self._ego_pose(record),
        )

    def _boxes(self, sample_token: str) -> FrameBoxes:
        t = self.tables
        boxes = FrameBoxes()
        rows: dict[str, list[Any]] = defaultdict(list)
        for ann in self._annotations.get(sample_token, []):
            instance = t.ref("sample_annotation", ann, "instance_token", "instance")
            category = t.ref("instance", instance, "category_token", "category")
            detection = CATEGORY_TO_DETECTION.get(t.field("category", category, "name"))
            if detection is None:
                continue
            boxes.tokens.append(ann["token"])
            boxes.instance_tokens.append(instance["token"])
            boxes.attributes.append(self._attribute(ann))
            rows["label"].append(DETECTION_CLASSES.index(detection))
            for name in ("translation", "size", "rotation", "num_lidar_pts", "num_radar_pts"):
                rows[name].append(t.field("sample_annotation", ann, name))
            rows["visibility"].append(self._visibility(ann))
            rows["velocity"].append(self._velocity(ann))
        if boxes.tokens:
            boxes.translation = np.asarray(rows["translation"], np.float64).reshape(-1, 3)
            boxes.size = np.asarray(rows["size"], np.float64).reshape(-1, 3)
            boxes.rotation = np.asarray(rows["rotation"], np.float64).reshape(-1, 4)
            boxes.velocity = np.asarray(rows["velocity"], np.float64).reshape(-1, 3)
            boxes.labels = np.asarray(rows["label"], np.int64)
            boxes.num_lidar_pts = np.asarray(rows["num_lidar_pts"], np.int64)
            boxes.num_radar_pts = np.asarray(rows["num_radar_pts"], np.int64)
            boxes.visibility = np.asarray(rows["visibility"], np.int64)
        return boxes

    def _attribute(self, ann: dict[str, Any]) -> str:
        t = self.tables
        tokens = t.field("sample_annotation", ann, "attribute_tokens")
        if not tokens:
            return ""
        if len(tokens) > 1:  # the devkit's load_gt refuses these too
            raise CorruptFileError(
                f"{t.file('sample_annotation')}: record {ann['token']!r} has {len(tokens)} "
                "attributes, expected at most one"
            )
        attribute = t.resolve("sample_annotation", ann["token"], "attribute", tokens[0])
        return str(t.field("attribute", attribute, "name"))

    def _visibility(self, ann: dict[str, Any]) -> int:
        t = self.tables
        token = t.field("sample_annotation", ann, "visibility_token")
        if not token:
            return 0
        record = t.ref("sample_annotation", ann, "visibility_token", "visibility")
        level = record.get("level")
        if level in _VISIBILITY_LEVELS:
            return _VISIBILITY_LEVELS[level]
        if str(token).isdigit():
            return int(token)
        raise CorruptFileError(
            f"{t.file('visibility')}: record {token!r} has level {level!r}, expected one of "
            f"{sorted(_VISIBILITY_LEVELS)}"
        )

    def _velocity(self, ann: dict[str, Any]) -> np.ndarray:
        t = self.tables
        has_prev = bool(t.field("sample_annotation", ann, "prev"))
        has_next = bool(t.field("sample_annotation", ann, "next"))
        first = t.ref("sample_annotation", ann, "prev", "sample_annotation") if has_prev else ann
        last = t.ref("sample_annotation", ann, "next", "sample_annotation") if has_next else ann
        if not has_prev and not has_next:
            return np.full(3, np.nan)
        first_sample = t.ref("sample_annotation", first, "sample_token", "sample")
        last_sample = t.ref("sample_annotation", last, "sample_token", "sample")
        return box_velocity(
            np.asarray(t.field("sample_annotation", first, "translation"), np.float64),
            np.asarray(t.field("sample_annotation", last, "translation"), np.float64),
            int(t.field("sample", first_sample, "timestamp")),
            int(t.field("sample", last_sample, "timestamp")),
            has_prev,
            has_next,
        )
