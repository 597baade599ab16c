"""Box geometry of the nuScenes evaluation, vectorised over boxes (quaternions are w, x, y, z)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "angle_diff",
    "matrix_to_quaternion",
    "points_in_box",
    "quaternion_yaw",
    "rotation_matrices",
]


def rotation_matrices(q: np.ndarray) -> np.ndarray:
    """``(N, 3, 3)`` rotation matrices of ``(N, 4)`` quaternions (normalised first)."""
    q = np.asarray(q, dtype=np.float64).reshape(-1, 4)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z], -1),
        ],
        axis=1,
    )


def quaternion_yaw(q: np.ndarray) -> np.ndarray:
    """Heading (rad, in (-pi, pi]) of the box x axis projected on the xy plane, per quaternion
    (the devkit's ``quaternion_yaw``; valid for boxes in the ego or global frame)."""
    q = np.asarray(q, dtype=np.float64).reshape(-1, 4)
    w, x, y, z = q.T
    return np.arctan2(2 * (x * y + w * z), w * w + x * x - y * y - z * z)


def angle_diff(x: np.ndarray, y: np.ndarray, period: float | np.ndarray) -> np.ndarray:
    """Signed smallest difference from angle ``y`` to angle ``x`` for the given period, in
    (-pi, pi] (the devkit's ``angle_diff``)."""
    diff = (x - y + period / 2) % period - period / 2
    return np.where(diff > np.pi, diff - 2 * np.pi, diff)


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    """``(N, 4)`` unit quaternions (w >= 0) of ``(N, 3, 3)`` rotation matrices."""
    r = np.asarray(r, dtype=np.float64).reshape(-1, 3, 3)
    t = np.trace(r, axis1=1, axis2=2)
    # Shepperd's method: take the largest of 4w^2, 4x^2, 4y^2, 4z^2 for accuracy.
    cand = np.stack([t, r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]], axis=1)
    pick = np.argmax(cand, axis=1)
    q = np.empty((len(r), 4))
    for k in range(4):
        m = pick == k
        if not m.any():
            continue
        rm = r[m]
        if k == 0:
            s = np.sqrt(1.0 + t[m]) * 2
            q[m] = np.stack(
                [
                    0.25 * s,
                    (rm[:, 2, 1] - rm[:, 1, 2]) / s,
                    (rm[:, 0, 2] - rm[:, 2, 0]) / s,
                    (rm[:, 1, 0] - rm[:, 0, 1]) / s,
                ],
                axis=1,
            )
        else:
            i, j, kk = (k - 1), k % 3, (k + 1) % 3
            s = np.sqrt(1.0 + rm[:, i, i] - rm[:, j, j] - rm[:, kk, kk]) * 2
            v = np.empty((m.sum(), 4))
            v[:, 0] = (rm[:, kk, j] - rm[:, j, kk]) / s
            v[:, 1 + i] = 0.25 * s
            v[:, 1 + j] = (rm[:, j, i] + rm[:, i, j]) / s
            v[:, 1 + kk] = (rm[:, kk, i] + rm[:, i, kk]) / s
            q[m] = v
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def points_in_box(
    center: np.ndarray, wlh: np.ndarray, rotation: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """``(N,)`` bool: which of the ``(N, 3)`` points lie in the box (borders included), tested
    as the devkit's ``points_in_box`` does (projections on the edges from one corner)."""
    w, length, h = np.asarray(wlh, dtype=np.float64)
    x_corners = length / 2 * np.array([1, 1, 1, 1, -1, -1, -1, -1])
    y_corners = w / 2 * np.array([1, -1, -1, 1, 1, -1, -1, 1])
    z_corners = h / 2 * np.array([1, 1, -1, -1, 1, 1, -1, -1])
    corners = rotation_matrices(rotation)[0] @ np.vstack((x_corners, y_corners, z_corners))
    corners = corners + np.asarray(center, dtype=np.float64).reshape(3, 1)
    p1 = corners[:, 0]
    i, j, k = corners[:, 4] - p1, corners[:, 1] - p1, corners[:, 3] - p1
    v = np.asarray(points, dtype=np.float64).reshape(-1, 3) - p1
    iv, jv, kv = v @ i, v @ j, v @ k
    return (iv >= 0) & (iv <= i @ i) & (jv >= 0) & (jv <= j @ j) & (kv >= 0) & (kv <= k @ k)
