"""Rigid transforms of the nuScenes tables: quaternions (w, x, y, z) and 4x4 poses.

``calibrated_sensor`` gives sensor -> ego, ``ego_pose`` ego -> global, each as a translation and
a unit quaternion ``[w, x, y, z]``; quaternions are normalised first, as pyquaternion (the
devkit's) does. Yaw is the heading of the rotated x axis, ``atan2(R[1, 0], R[0, 0])``, as the
devkit's ``quaternion_yaw``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pose_matrix", "quaternion_matrix", "yaw_of"]


def quaternion_matrix(q: Sequence[float] | np.ndarray) -> np.ndarray:
    """The 3x3 rotation matrix (float64) of quaternion(s) ``[..., (w, x, y, z)]``."""
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("a zero quaternion is not a rotation")
    w, x, y, z = np.moveaxis(q / norm, -1, 0)
    rot = np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return rot.reshape(*q.shape[:-1], 3, 3)


def pose_matrix(translation: Sequence[float], rotation: Sequence[float]) -> np.ndarray:
    """The 4x4 float64 transform ``[R(rotation) | translation]`` (child -> parent frame)."""
    mat = np.eye(4)
    mat[:3, :3] = quaternion_matrix(rotation)
    mat[:3, 3] = np.asarray(translation, dtype=np.float64)
    return mat


def yaw_of(rot: np.ndarray) -> np.ndarray:
    """Heading (rad) of the x axis of rotation matrices ``[..., 3, 3]``."""
    return np.arctan2(rot[..., 1, 0], rot[..., 0, 0])
