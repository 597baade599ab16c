"""Sensor rig of the synthetic nuScenes ego vehicle: 6 cameras and the top lidar.

Mounting and intrinsics follow the real rig (nuScenes' calibrated_sensor records, rounded):
the front cameras ~1.5 m high near the windscreen (front-left/right turned +-55 deg), the
back-left/right ones turned +-110 deg, the back camera a wider lens (f ~ 800 px) at the rear;
1600x900 images with f ~ 1260 px. Each vehicle (log) gets its own small mounting deviations.
The lidar sits 1.84 m high, its x axis pointing to the ego's right (yaw -90 deg), as nuScenes'.
Rotations are stored as nuScenes quaternions (w, x, y, z); sensor -> ego.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CAMERA_RIG",
    "FULL_SIZE",
    "SensorCalibration",
    "camera_time_offsets",
    "matrix_from_quaternion",
    "quaternion_from_matrix",
    "rig_calibrations",
    "rotation_zyx",
]

FULL_SIZE = (1600, 900)  # width, height of nuScenes camera images
# channel: (x, y, z) m, yaw deg, focal px, cx, cy (at 1600x900)
CAMERA_RIG = {
    "CAM_FRONT": ((1.70, 0.016, 1.511), 0.0, 1266.4, 816.3, 491.5),
    "CAM_FRONT_RIGHT": ((1.550, -0.493, 1.496), -55.0, 1260.8, 807.9, 495.3),
    "CAM_FRONT_LEFT": ((1.522, 0.494, 1.509), 55.0, 1272.6, 826.6, 479.8),
    "CAM_BACK": ((0.033, 0.003, 1.541), 180.0, 809.2, 829.2, 481.8),
    "CAM_BACK_LEFT": ((1.036, 0.485, 1.591), 110.0, 1256.7, 817.8, 451.9),
    "CAM_BACK_RIGHT": ((1.048, -0.481, 1.588), -110.0, 1259.5, 807.3, 501.2),
}
LIDAR_MOUNT = ((0.943, 0.0, 1.840), -90.0)
# Camera shutter times relative to the lidar key frame (s): the sweep passes each camera in turn.
_TIME_OFFSETS = {
    "CAM_FRONT": 0.012,
    "CAM_FRONT_RIGHT": 0.020,
    "CAM_BACK_RIGHT": 0.037,
    "CAM_BACK": 0.045,
    "CAM_BACK_LEFT": -0.003,
    "CAM_FRONT_LEFT": 0.004,
}
# camera axes (x right, y down, z forward) expressed in a forward-looking ego frame
_CAM_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rotation_zyx(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll) (radians)."""
    cz, sz, cy, sy, cx, sx = (
        np.cos(yaw),
        np.sin(yaw),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(roll),
        np.sin(roll),
    )
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return rz @ ry @ rx


def quaternion_from_matrix(r: np.ndarray) -> list[float]:
    """Unit quaternion (w, x, y, z), w >= 0, of a rotation matrix."""
    m = np.asarray(r, float)
    t = np.trace(m)
    if t > 0:
        s = 2.0 * np.sqrt(t + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0] * 4
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + k] = (m[k, i] + m[i, k]) / s
    q = np.asarray(q) / np.linalg.norm(q)
    if q[0] < 0:
        q = -q
    return [float(v) for v in q]


def matrix_from_quaternion(q) -> np.ndarray:
    """Rotation matrix of a quaternion (w, x, y, z)."""
    w, x, y, z = np.asarray(q, float) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


@dataclass(frozen=True)
class SensorCalibration:
    """One sensor's mounting: ``rotation`` (3, 3) and ``translation`` (3,) sensor -> ego,
    ``intrinsic`` (3, 3) for cameras (scaled to the written image size), else None."""

    channel: str
    rotation: np.ndarray
    translation: np.ndarray
    intrinsic: np.ndarray | None = None

    def record(self) -> dict:
        """The calibrated_sensor fields (without tokens)."""
        return {
            "translation": [float(v) for v in self.translation],
            "rotation": quaternion_from_matrix(self.rotation),
            "camera_intrinsic": [] if self.intrinsic is None else self.intrinsic.tolist(),
        }


def rig_calibrations(
    rng: np.random.Generator, image_size: tuple[int, int] = FULL_SIZE
) -> dict[str, SensorCalibration]:
    """The 6 cameras and LIDAR_TOP of one vehicle, with small per-vehicle deviations.

    Rotations and intrinsics go through their stored forms (quaternion rounded as JSON keeps
    it; intrinsics as floats) so what the tables say is exactly what the renderer uses.
    """
    sx, sy = image_size[0] / FULL_SIZE[0], image_size[1] / FULL_SIZE[1]
    out = {}
    for channel, (t, yaw, f, cx, cy) in CAMERA_RIG.items():
        dyaw, pitch, roll = np.deg2rad(rng.normal(0.0, [0.4, 0.5, 0.3]))
        rot = rotation_zyx(np.deg2rad(yaw) + dyaw, pitch, roll) @ _CAM_AXES
        rot = matrix_from_quaternion(quaternion_from_matrix(rot))
        trans = np.asarray(t) + rng.normal(0.0, 0.005, 3)
        df = 1.0 + rng.normal(0.0, 0.004)
        k = np.array(
            [
                [f * df * sx, 0.0, (cx + rng.normal(0, 3)) * sx],
                [0.0, f * df * sy, (cy + rng.normal(0, 3)) * sy],
                [0.0, 0.0, 1.0],
            ]
        )
        out[channel] = SensorCalibration(channel, rot, np.round(trans, 6), k)
    t, yaw = LIDAR_MOUNT
    rot = rotation_zyx(np.deg2rad(yaw) + rng.normal(0.0, 0.003), *rng.normal(0.0, 0.004, 2))
    rot = matrix_from_quaternion(quaternion_from_matrix(rot))
    out["LIDAR_TOP"] = SensorCalibration("LIDAR_TOP", rot, np.round(np.asarray(t), 6))
    return out


def camera_time_offsets() -> dict[str, float]:
    """Seconds from the key frame's lidar time to each camera's shutter."""
    return dict(_TIME_OFFSETS)
