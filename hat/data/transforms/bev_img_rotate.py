"""``BevImgRotate``: rotate camera views in the image plane and update their post-matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from hat.data.transforms.bev_views import apply_post_matrices, check_views
from hat.registry import OBJECT_REGISTRY

__all__ = ["BevImgRotate", "rotation_matrix"]


def rotation_matrix(degrees: float, h: int, w: int) -> np.ndarray:
    """The 3x3 pixel map turning an ``h x w`` picture by ``degrees`` about its centre
    ``((w - 1) / 2, (h - 1) / 2)``; positive is counter-clockwise as displayed (PIL's
    ``Image.rotate`` and HAT's convention)."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    lin = np.array([[c, s], [-s, c]])
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    m = np.eye(3)
    m[:2, :2] = lin
    m[:2, 2] = centre - lin @ centre
    return m


@OBJECT_REGISTRY.register
class BevImgRotate:
    """Rotate each view by an angle ``~ U(rot)`` degrees drawn per view (same size; corners
    that come from outside the picture are black; bilinear)."""

    def __init__(self, rot: Sequence[float]) -> None:
        lo, hi = (float(v) for v in rot)
        if lo > hi:
            raise ValueError(f"BevImgRotate: rot range {rot!r} has lo > hi")
        self.rot = (lo, hi)

    def __call__(self, sample: dict) -> dict:
        imgs = check_views(sample, "BevImgRotate")
        out_imgs, mats = [], []
        for img in imgs:
            h, w = img.shape[:2]
            m = rotation_matrix(float(np.random.uniform(*self.rot)), h, w)
            warped = cv2.warpAffine(img, m[:2], (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
            out_imgs.append(warped.reshape(img.shape))
            mats.append(m)
        return apply_post_matrices(sample, out_imgs, mats)

    def __repr__(self) -> str:
        return f"BevImgRotate(rot={self.rot})"
