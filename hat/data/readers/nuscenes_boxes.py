"""The annotated boxes of one nuScenes key frame, as arrays, and their change of frame.

A box is ``x, y, z`` (centre), ``w, l, h`` (the table's ``size``), ``yaw`` (heading of its length
axis) and ``vx, vy``. Velocity is the devkit's ``box_velocity``: the centred difference of the
previous and next annotation of the instance (one-sided at the ends), NaN when the instance has
a single annotation or the neighbours are too far apart in time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hat.data.readers.nuscenes_geometry import quaternion_matrix, yaw_of

__all__ = ["BOX_DIM", "FrameBoxes", "box_velocity", "boxes_in_frame"]

#: Columns of a box row: x, y, z, w, l, h, yaw, vx, vy.
BOX_DIM = 9


@dataclass
class FrameBoxes:
    """The detection-class annotations of a key frame in the global frame (table order)."""

    tokens: list[str] = field(default_factory=list)
    instance_tokens: list[str] = field(default_factory=list)
    translation: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    size: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # w, l, h
    rotation: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # w, x, y, z
    velocity: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # NaN when unknown
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    attributes: list[str] = field(default_factory=list)
    num_lidar_pts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    num_radar_pts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    visibility: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.tokens)

    def global_boxes(self) -> np.ndarray:
        """``(N, 9)`` float64 boxes in the global frame."""
        out = np.zeros((len(self), BOX_DIM))
        out[:, :3] = self.translation
        out[:, 3:6] = self.size
        if len(self):
            out[:, 6] = yaw_of(quaternion_matrix(self.rotation))
        out[:, 7:9] = self.velocity[:, :2]
        return out


def boxes_in_frame(boxes: FrameBoxes, frame2global: np.ndarray) -> np.ndarray:
    """``(N, 9)`` boxes in the frame whose pose in the global frame is ``frame2global`` (4x4).

    Centre: ``R^T (c - t)``; heading of ``R^T R_box``; velocity ``R^T v`` (a NaN velocity stays
    NaN), as the devkit moves a ``Box`` by ``translate(-t)`` then ``rotate(q.inverse)``.
    """
    rot, trans = frame2global[:3, :3], frame2global[:3, 3]
    out = np.zeros((len(boxes), BOX_DIM))
    if not len(boxes):
        return out
    out[:, :3] = (boxes.translation - trans) @ rot
    out[:, 3:6] = boxes.size
    out[:, 6] = yaw_of(rot.T @ quaternion_matrix(boxes.rotation))
    out[:, 7:9] = (boxes.velocity @ rot)[:, :2]
    return out


def box_velocity(
    first_translation: np.ndarray,
    last_translation: np.ndarray,
    first_timestamp: int,
    last_timestamp: int,
    has_prev: bool,
    has_next: bool,
    max_time_diff: float = 1.5,
) -> np.ndarray:
    """The devkit's ``NuScenes.box_velocity`` (m/s, 3 components) from the neighbours.

    ``first``/``last`` are the previous/next annotation of the instance, or the current one
    when there is none; timestamps are their samples' (µs).
    """
    if not has_prev and not has_next:
        return np.full(3, np.nan)
    pos_diff = np.asarray(last_translation, np.float64) - np.asarray(first_translation, np.float64)
    time_diff = 1e-6 * last_timestamp - 1e-6 * first_timestamp
    if has_prev and has_next:
        max_time_diff *= 2  # a centred difference spans two intervals
    if time_diff > max_time_diff:
        return np.full(3, np.nan)
    return pos_diff / time_diff
