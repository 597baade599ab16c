"""3D box geometry for the nuScenes pictures: corners, edges, projection into a camera view.

Boxes are ``(N, 9)`` ``x, y, z, w, l, h, yaw, vx, vy`` in the ego frame (``z`` the centre, ``yaw``
about z with 0 = length along ego x), as the dataset gives them. A view's projection is
``img_aug @ K @ inv(sensor2ego)`` (see :mod:`hat.data.transforms.bev_views`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BOX_EDGES",
    "FRONT_FACE",
    "box_corners",
    "clip_and_project",
    "view_projection",
]

# Corner order of nuscenes-devkit's ``Box.corners``: 0-3 the front face (x = +l/2: top-left,
# top-right, bottom-right, bottom-left seen from the front), 4-7 the same at the rear.
FRONT_FACE = (0, 1, 2, 3)
BOX_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 0),  # front
    (4, 5), (5, 6), (6, 7), (7, 4),  # rear
    (0, 4), (1, 5), (2, 6), (3, 7),  # sides
)  # fmt: skip


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """``(N, 8, 3)`` ego-frame corners of ``(N, >=7)`` boxes, in the devkit's order."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, 8, 3))
    if boxes.ndim != 2 or boxes.shape[1] < 7:
        raise ValueError(f"boxes must be (N, 9) x, y, z, w, l, h, yaw, vx, vy, got {boxes.shape}")
    sx = np.array([1, 1, 1, 1, -1, -1, -1, -1]) / 2
    sy = np.array([1, -1, -1, 1, 1, -1, -1, 1]) / 2
    sz = np.array([1, 1, -1, -1, 1, 1, -1, -1]) / 2
    w, length, h, yaw = boxes[:, 3:4], boxes[:, 4:5], boxes[:, 5:6], boxes[:, 6:7]
    lx, ly, lz = length * sx, w * sy, h * sz  # (N, 8) in the box frame
    c, s = np.cos(yaw), np.sin(yaw)
    x = boxes[:, 0:1] + c * lx - s * ly
    y = boxes[:, 1:2] + s * lx + c * ly
    z = boxes[:, 2:3] + lz
    return np.stack([x, y, z], axis=-1)


def view_projection(
    intrinsics: np.ndarray, sensor2ego: np.ndarray, img_aug: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(cam_from_ego (4, 4), img_from_cam (3, 3))`` of one view."""
    img_from_cam = np.asarray(intrinsics, dtype=np.float64)
    if img_aug is not None:
        img_from_cam = np.asarray(img_aug, dtype=np.float64) @ img_from_cam
    return np.linalg.inv(np.asarray(sensor2ego, dtype=np.float64)), img_from_cam


def clip_and_project(
    p0: np.ndarray,
    p1: np.ndarray,
    cam_from_ego: np.ndarray,
    img_from_cam: np.ndarray,
    near: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Project ego-frame segments ``p0 -> p1`` (``(M, 3)`` each) into the image.

    Each segment is first clipped to the part in front of the camera (depth >= ``near``), so a
    box partly behind the camera keeps its visible edges and none wraps around. Returns the
    ``(M, 2, 2)`` pixel endpoints and the ``(M,)`` mask of segments with a visible part.
    """
    rot, trans = cam_from_ego[:3, :3], cam_from_ego[:3, 3]
    a = np.asarray(p0, dtype=np.float64).reshape(-1, 3) @ rot.T + trans
    b = np.asarray(p1, dtype=np.float64).reshape(-1, 3) @ rot.T + trans
    za, zb = a[:, 2], b[:, 2]
    visible = (za >= near) | (zb >= near)
    dz = np.where(zb == za, 1.0, zb - za)
    cross = a + ((near - za) / dz)[:, None] * (b - a)  # where the segment meets depth = near
    a = np.where((za < near)[:, None], cross, a)
    b = np.where((zb < near)[:, None], cross, b)
    uvw = np.stack([a, b], axis=1) @ np.asarray(img_from_cam, dtype=np.float64).T  # (M, 2, 3)
    depth = np.where(visible[:, None], uvw[..., 2], 1.0)
    return uvw[..., :2] / depth[..., None], visible
